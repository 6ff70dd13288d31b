#!/usr/bin/env python3
"""Exports CLIP's text and vision towers to ONNX for Switchyard's `clip` embedder.

Run where a model hub is reachable, with torch and transformers installed (not needed by the
router or CI):

    python -m venv /tmp/clip-export && /tmp/clip-export/bin/pip install \\
        torch transformers onnx onnxruntime numpy
    /tmp/clip-export/bin/python scripts/models/export_clip.py --out models/clip-vit-b32

Writes, in the layout the router loads as `builtin: clip-vit-b32` (both towers) or by path:

  text.onnx       input_ids int64 [batch, seq <= 77] -> text_embeds float32 [batch, 512]
  vision.onnx     pixel_values float32 [batch, 3, 224, 224] -> image_embeds [batch, 512]
  tokenizer.json  Hugging Face's CLIP tokenizer
  model.json      name, dims, max length (77, padded), normalisation (L2, done by the router)

Both towers are quantized for CPU like the built-in text encoder: quantize_dynamic on MatMul
weights (per-channel int8) and int8 rows for the token embedding (compress_gather.py). Pass
--fp32 to keep float32 (for GPUs). The script checks the exported embeddings against PyTorch
(cosine > 0.98) and fails otherwise.

Heads trained on one export stay valid for the same model name (`name` in model.json is the
identity written into heads); use a new --name when you change the model or its quantization.
"""

import argparse
import json
import logging
import os
import sys
import tempfile

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compress_gather  # noqa: E402

CTX = 77


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="openai/clip-vit-base-patch32")
    ap.add_argument("--out", default="models/clip-vit-b32")
    ap.add_argument("--name", default="clip-vit-b32")
    ap.add_argument("--fp32", action="store_true", help="skip int8 quantization")
    args = ap.parse_args()

    import torch
    from transformers import (CLIPTextModelWithProjection, CLIPTokenizerFast,
                              CLIPVisionModelWithProjection)

    os.makedirs(args.out, exist_ok=True)
    text = CLIPTextModelWithProjection.from_pretrained(args.model).eval()
    vision = CLIPVisionModelWithProjection.from_pretrained(args.model).eval()
    tok = CLIPTokenizerFast.from_pretrained(args.model)
    size = vision.config.image_size
    dim = text.config.projection_dim

    class Text(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            # Padding follows the end-of-text token and the mask is causal, so the pooled
            # (end-of-text) features do not depend on the padding: no attention_mask is needed,
            # and the sequence axis is dynamic so the router runs only the batch's longest
            # sequence instead of all 77 positions (the same features, a fraction of the work).
            return self.m(input_ids=input_ids).text_embeds

    class Vision(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).image_embeds

    ids = tok(["a photo of a cat", "a diagram of a neural network"], padding="max_length",
              max_length=CTX, truncation=True, return_tensors="pt")["input_ids"]
    pixels = torch.randn(2, 3, size, size)
    with tempfile.TemporaryDirectory() as tmp:
        for name, module, example, inp, out, axes in [
            ("text", Text(text), ids, "input_ids", "text_embeds", {0: "batch", 1: "seq"}),
            ("vision", Vision(vision), pixels, "pixel_values", "image_embeds", {0: "batch"}),
        ]:
            fp32 = os.path.join(tmp, f"{name}.onnx")
            torch.onnx.export(module, (example,), fp32, input_names=[inp], output_names=[out],
                              dynamic_axes={inp: axes, out: {0: "batch"}},
                              opset_version=17, do_constant_folding=True, dynamo=False)
            final = os.path.join(args.out, f"{name}.onnx")
            if args.fp32:
                onnx.save(onnx.load(fp32), final)
            else:
                from onnxruntime.quantization import QuantType, quantize_dynamic
                logging.getLogger().setLevel(logging.ERROR)
                quantize_dynamic(fp32, final, weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=["MatMul"])
                m = onnx.load(final)
                compress_gather.compress(m)
                onnx.save(m, final)
            check(final, inp, example.numpy(), module(example).detach().numpy(), name)
    tok.backend_tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    meta = {
        "name": args.name,
        "kind": "clip",
        "normalize": True,
        "pooling": "none",
        "text": {"file": "text.onnx", "tokenizer": "tokenizer.json", "maxLength": CTX,
                 "padToMaxLength": False, "dim": dim},
        "vision": {"file": "vision.onnx", "imageSize": size, "dim": dim},
        "source": f"Hugging Face {args.model}, exported by scripts/models/export_clip.py",
        "quantization": "none (fp32)" if args.fp32 else
        "onnxruntime quantize_dynamic, MatMul weights per-channel QInt8; token embedding "
        "int8 per row (compress_gather.py)",
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"export_clip: wrote {args.out}", file=sys.stderr)
    return 0


def check(path, inp, x, want, name):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = s.run(None, {inp: x})[0]
    norm = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    cos = (norm(got) * norm(want)).sum(axis=1).min()
    print(f"export_clip: {name} tower cosine vs PyTorch {cos:.4f}", file=sys.stderr)
    if cos < 0.98:
        raise SystemExit(f"export_clip: {name} tower drifted (cosine {cos:.4f} < 0.98)")


if __name__ == "__main__":
    sys.exit(main())
