#!/usr/bin/env python3
"""Builds a CLIP-SHAPED stand-in (random weights) for tests and benchmarks.

No registry ships CLIP weights, so the image path is exercised with a model pair that has
CLIP ViT-B/32's interface and, with `--size b32`, its architecture and size:

  vision.onnx  pixel_values float32 [batch, 3, 224, 224] -> image_embeds float32 [batch, 512]
               32x32 patch Conv, class token, position embeddings, pre-LN transformer
               (12 layers, width 768, 12 heads, QuickGELU MLP), LN, projection
  text.onnx    input_ids int64 [batch, seq <= 77] -> text_embeds float32 [batch, 512]
               token + position embeddings, causal pre-LN transformer (12 layers, width 512,
               8 heads), LN, features at the end-of-text token (argmax of the ids), projection
  tokenizer.json  CLIP BPE (from models/clip-vocab/bpe_simple_vocab_16e6.txt.gz)
  model.json   the layout the router's loader expects (same as export_clip.py writes)

Both towers are then quantized like the real export: onnxruntime's quantize_dynamic (MatMul
weights, int8) and int8 rows for the token embedding (compress_gather.py). `--size tiny` keeps the interface with 2 narrow layers (fast, for tests).
The embeddings mean nothing; only shapes, op mix and cost are realistic.
Only onnx + numpy + onnxruntime are needed (no torch).

Usage: make_test_clip.py --out DIR [--size tiny|b32] [--vocab PATH] [--seed N]
"""

import argparse
import json
import logging
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_tokenizer  # noqa: E402
import compress_gather  # noqa: E402

SIZES = {
    # vision width, layers, heads; text width, layers, heads
    "tiny": dict(vw=64, vl=2, vh=2, tw=32, tl=2, th=2),
    "b32": dict(vw=768, vl=12, vh=12, tw=512, tl=12, th=8),
}
EMBED = 512
CTX = 77
VOCAB = 49408
PATCH = 32
IMAGE = 224


class Graph:
    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, value, base="c", dtype=np.float32):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, shape, base="w", std=0.02):
        return self.const(self.rng.normal(0, std, shape).astype(np.float32), base)

    def op(self, op_type, inputs, base=None, **attrs):
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def linear(self, x, d_in, d_out, bias=True):
        y = self.op("MatMul", [x, self.weight([d_in, d_out])])
        return self.op("Add", [y, self.const(np.zeros(d_out))]) if bias else y

    def layernorm(self, x, d):
        return self.op("LayerNormalization",
                       [x, self.const(np.ones(d)), self.const(np.zeros(d))], axis=-1,
                       epsilon=1e-5)

    def attention(self, x, d, heads, mask=None):
        hd = d // heads
        qkv = self.linear(x, d, 3 * d)
        qkv = self.op("Reshape", [qkv, self.const([0, -1, 3, heads, hd], dtype=np.int64)])
        qkv = self.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])
        q, k, v = (self.op("Gather", [qkv, self.const(i, dtype=np.int64)], axis=0)
                   for i in range(3))
        kt = self.op("Transpose", [k], perm=[0, 1, 3, 2])
        s = self.op("MatMul", [q, kt])
        s = self.op("Mul", [s, self.const(1.0 / np.sqrt(hd))])
        if mask is not None:
            s = self.op("Add", [s, mask])
        p = self.op("Softmax", [s], axis=-1)
        o = self.op("MatMul", [p, v])
        o = self.op("Transpose", [o], perm=[0, 2, 1, 3])
        o = self.op("Reshape", [o, self.const([0, -1, d], dtype=np.int64)])
        return self.linear(o, d, d)

    def quick_gelu(self, x):
        s = self.op("Sigmoid", [self.op("Mul", [x, self.const(1.702)])])
        return self.op("Mul", [x, s])

    def block(self, x, d, heads, mask=None):
        x = self.op("Add", [x, self.attention(self.layernorm(x, d), d, heads, mask)])
        h = self.linear(self.quick_gelu(self.linear(self.layernorm(x, d), d, 4 * d)), 4 * d, d)
        return self.op("Add", [x, h])

    def model(self, name, inputs, outputs):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="switchyard make_test_clip.py")
        onnx.checker.check_model(m, full_check=False)
        return m


def vision(rng, w, layers, heads):
    g = Graph(rng)
    grid = IMAGE // PATCH
    t = grid * grid + 1
    x = g.op("Conv", ["pixel_values", g.weight([w, 3, PATCH, PATCH])], strides=[PATCH, PATCH])
    x = g.op("Reshape", [x, g.const([0, w, grid * grid], dtype=np.int64)])
    x = g.op("Transpose", [x], perm=[0, 2, 1])
    shape = g.op("Shape", ["pixel_values"])
    batch = g.op("Slice", [shape, g.const([0], dtype=np.int64), g.const([1], dtype=np.int64)])
    cls_shape = g.op("Concat", [batch, g.const([1, w], dtype=np.int64)], axis=0)
    cls = g.op("Expand", [g.weight([1, 1, w]), cls_shape])
    x = g.op("Concat", [cls, x], axis=1)
    x = g.op("Add", [x, g.weight([t, w])])
    x = g.layernorm(x, w)
    for _ in range(layers):
        x = g.block(x, w, heads)
    x = g.op("Gather", [x, g.const(0, dtype=np.int64)], axis=1)
    x = g.layernorm(x, w)
    out = g.op("MatMul", [x, g.weight([w, EMBED])], base="image_embeds")
    g.nodes.append(helper.make_node("Identity", [out], ["image_embeds"]))
    return g.model(
        "clip_vision_standin",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                       ["batch", 3, IMAGE, IMAGE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", EMBED])])


def text(rng, w, layers, heads):
    """Sequence length is dynamic (at most 77): the mask is causal, so the features at the
    end-of-text token do not depend on padding after it, and the router feeds only the batch's
    longest sequence instead of 77 positions."""
    g = Graph(rng)
    shape = g.op("Shape", ["input_ids"])
    seq = g.op("Slice", [shape, g.const([1], dtype=np.int64), g.const([2], dtype=np.int64)])
    x = g.op("Gather", [g.weight([VOCAB, w]), "input_ids"], axis=0)
    pos = g.op("Slice", [g.weight([CTX, w]), g.const([0], dtype=np.int64), seq,
                         g.const([0], dtype=np.int64)])
    x = g.op("Add", [x, pos])
    causal = np.triu(np.full((CTX, CTX), -1e9, dtype=np.float32), k=1)
    seq2 = g.op("Concat", [seq, seq], axis=0)
    mask = g.op("Slice", [g.const(causal), g.const([0, 0], dtype=np.int64), seq2,
                          g.const([0, 1], dtype=np.int64)])
    for _ in range(layers):
        x = g.block(x, w, heads, mask)
    x = g.layernorm(x, w)
    # Features at the end-of-text token, which has the largest id (as CLIP does).
    eot = g.op("ArgMax", [g.op("Cast", ["input_ids"], to=TensorProto.FLOAT)], axis=1,
               keepdims=0)
    onehot = g.op("OneHot", [eot, seq, g.const([0.0, 1.0])], axis=-1)
    onehot = g.op("Unsqueeze", [onehot, g.const([1], dtype=np.int64)])
    x = g.op("MatMul", [onehot, x])
    x = g.op("Squeeze", [x, g.const([1], dtype=np.int64)])
    out = g.op("MatMul", [x, g.weight([w, EMBED])])
    g.nodes.append(helper.make_node("Identity", [out], ["text_embeds"]))
    return g.model(
        "clip_text_standin",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", EMBED])])


def quantize(model, out_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "fp32.onnx")
        onnx.save(model, src)
        quantize_dynamic(src, out_path, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        quantized = onnx.load(out_path)
        compress_gather.compress(quantized)
        onnx.save(quantized, out_path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_vocab = os.path.join(os.environ.get("SWITCHYARD_MODELS",
                                                os.path.join(here, "..", "..", "models")),
                                 "clip-vocab", "bpe_simple_vocab_16e6.txt.gz")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--vocab", default=default_vocab)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not os.path.isfile(args.vocab):
        print(f"make_test_clip: {args.vocab} not found; run scripts/setup.sh", file=sys.stderr)
        return 1
    s = SIZES[args.size]
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    quantize(vision(rng, s["vw"], s["vl"], s["vh"]), os.path.join(args.out, "vision.onnx"))
    quantize(text(rng, s["tw"], s["tl"], s["th"]), os.path.join(args.out, "text.onnx"))
    clip_tokenizer.write(args.vocab, os.path.join(args.out, "tokenizer.json"), CTX)
    meta = {
        "name": f"clip-standin-{args.size}-seed{args.seed}",
        "kind": "clip",
        "normalize": True,
        "pooling": "none",
        "text": {"file": "text.onnx", "tokenizer": "tokenizer.json", "maxLength": CTX,
                 "padToMaxLength": False, "dim": EMBED},
        "vision": {"file": "vision.onnx", "imageSize": IMAGE, "dim": EMBED},
        "source": f"scripts/models/make_test_clip.py --size {args.size} --seed {args.seed} "
                  "(random weights: a CLIP-shaped stand-in, NOT a real model)",
        "quantization": "onnxruntime quantize_dynamic, MatMul weights per-channel QInt8; "
                        "token embedding int8 per row (compress_gather.py)",
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"make_test_clip: wrote {args.out} ({args.size})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
