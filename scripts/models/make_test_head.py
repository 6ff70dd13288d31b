#!/usr/bin/env python3
"""Builds small ONNX fixtures in Switchyard's formats (onnx + numpy only, opset 17, IR 8).

  head        an auto-routing head in the format of crds/src/head.rs: input `embedding`
              [batch, D] -> Gemm/Relu/Gemm/Sigmoid -> output `probabilities` [batch, C], and
              under metadata_props key `switchyard.head` the JSON {version, candidates,
              thresholds, embedder, inputDim, training}.
  classifier  a supervised intent classifier over a BERT-style tokenizer: input_ids and
              attention_mask [batch, seq] -> token embedding -> mean -> Gemm -> logits
              [batch, L], metadata `labels`. `--keyword label=word` makes `word` (a whole word
              of the tokenizer's vocabulary) push strongly towards `label`, so tests can check
              the label → route mapping end to end.

Examples:
  make_test_head.py head --out h.onnx --embedder text:0123456789abcdef \\
      --input-dim 384 --candidates small,large --thresholds 0.6,0.4
  make_test_head.py classifier --out c.onnx --tokenizer models/minilm-l6-v2-int8/tokenizer.json \\
      --labels code,chat,other --keyword code=python --keyword chat=hello
"""

import argparse
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(graph, out, props):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="switchyard make_test_head.py")
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, out)


def head(args):
    rng = np.random.default_rng(args.seed)
    cands = [c for c in args.candidates.split(",") if c]
    d, h, c = args.input_dim, args.hidden, len(cands)
    w1 = numpy_helper.from_array(rng.normal(0, 1 / np.sqrt(d), (h, d)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros(h, np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 1 / np.sqrt(h), (c, h)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(np.linspace(-0.5, 0.5, c).astype(np.float32), "b2")
    nodes = [
        helper.make_node("Gemm", ["embedding", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"], transB=1),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes, "switchyard_head",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", d])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", c])],
        [w1, b1, w2, b2])
    thresholds = ([float(t) for t in args.thresholds.split(",")] if args.thresholds
                  else [0.5] * c)
    meta = {"version": args.version, "candidates": cands, "thresholds": thresholds,
            "embedder": args.embedder, "inputDim": d,
            "training": {"note": "random weights (test fixture)"}}
    save(graph, args.out, {"switchyard.head": json.dumps(meta)})


def classifier(args):
    rng = np.random.default_rng(args.seed)
    labels = [l for l in args.labels.split(",") if l]
    with open(args.tokenizer, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    n, width = len(vocab), len(labels)
    table = rng.normal(0, 0.01, (n, width)).astype(np.float32)
    for kw in args.keyword:
        label, word = kw.split("=", 1)
        table[vocab[word]] = 0
        table[vocab[word], labels.index(label)] = 50.0
    emb = numpy_helper.from_array(table, "embedding")
    eye = numpy_helper.from_array(np.eye(width, dtype=np.float32), "w")
    zero = numpy_helper.from_array(np.zeros(width, np.float32), "b")
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["tok"], axis=0),
        helper.make_node("ReduceMean", ["tok"], ["pooled"], axes=[1], keepdims=0),
        helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"]),
    ]
    # attention_mask is accepted (so the engine feeds it) and deliberately unused.
    graph = helper.make_graph(
        nodes, "switchyard_test_classifier",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", width])],
        [emb, eye, zero])
    props = {} if args.no_metadata_labels else {"labels": json.dumps(labels)}
    save(graph, args.out, props)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("head")
    h.add_argument("--out", required=True)
    h.add_argument("--embedder", required=True, help="embedder fingerprint")
    h.add_argument("--input-dim", type=int, required=True)
    h.add_argument("--candidates", required=True, help="comma-separated names")
    h.add_argument("--thresholds", default="", help="comma-separated, same order")
    h.add_argument("--version", type=int, default=1, help="format version to write")
    h.add_argument("--hidden", type=int, default=16)
    h.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("classifier")
    c.add_argument("--out", required=True)
    c.add_argument("--tokenizer", required=True)
    c.add_argument("--labels", required=True)
    c.add_argument("--keyword", action="append", default=[])
    c.add_argument("--no-metadata-labels", action="store_true")
    c.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    head(args) if args.cmd == "head" else classifier(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
