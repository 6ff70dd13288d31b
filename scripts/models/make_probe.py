#!/usr/bin/env python3
"""Writes inference/src/probe.onnx: y = 2 * x for x of shape [batch, 4] (float32).

The engine runs it once at start on the requested execution provider: it proves the runtime
works, tells whether CUDA really is usable, and warms up the provider. Committed (a few hundred
bytes); rerun only to change it.
"""
import sys

import onnx
from onnx import TensorProto, helper

out = sys.argv[1] if len(sys.argv) > 1 else "inference/src/probe.onnx"
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "probe", [x], [y], [two])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                          producer_name="switchyard")
onnx.checker.check_model(model)
onnx.save(model, out)
