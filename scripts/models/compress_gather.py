"""Weight-only int8 for embedding tables (Gather over a large float initializer).

`quantize_dynamic` speeds up MatMuls but leaves token-embedding tables in float32 (quantizing
their Gather inserts a DequantizeLinear of the whole table per run, which is slow). Those
tables dominate small text encoders' memory (MiniLM: 30522x384, 47 MB; CLIP text: 49408x512,
101 MB). This rewrites each such Gather as

    Gather(int8 table, ids) -> Cast(float) -> Mul(Unsqueeze(Gather(row scales, ids), -1))

with one scale per row (max |w| / 127): a quarter of the memory, the same lookups, and an
error far below what the int8 MatMuls already introduce.
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def compress(model, min_elements=1 << 20):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    new_nodes, done = [], []
    for node in g.node:
        table = inits.get(node.input[0]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if (table is None or axis != 0 or table.data_type != TensorProto.FLOAT
                or len(table.dims) != 2 or np.prod(table.dims) < min_elements
                or len(consumers.get(table.name, [])) != 1):
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(table)
        scale = np.abs(w).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
        base = table.name
        ids = node.input[1]
        q_name, s_name, ax_name = base + "_int8", base + "_scale", base + "_axes"
        g.initializer.remove(table)
        g.initializer.extend([numpy_helper.from_array(q, q_name),
                              numpy_helper.from_array(scale.astype(np.float32), s_name),
                              numpy_helper.from_array(np.array([-1], np.int64), ax_name)])
        out = node.output[0]
        new_nodes += [
            helper.make_node("Gather", [q_name, ids], [out + "_q"], axis=0),
            helper.make_node("Cast", [out + "_q"], [out + "_f"], to=TensorProto.FLOAT),
            helper.make_node("Gather", [s_name, ids], [out + "_s"], axis=0),
            helper.make_node("Unsqueeze", [out + "_s", ax_name], [out + "_s1"]),
            helper.make_node("Mul", [out + "_f", out + "_s1"], [out]),
        ]
        done.append((base, tuple(table.dims)))
    del g.node[:]
    g.node.extend(new_nodes)
    return done
