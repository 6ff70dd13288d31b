"""Builds a Hugging Face `tokenizer.json` for CLIP from OpenAI's BPE merges file
(`bpe_simple_vocab_16e6.txt.gz`), equivalent to `CLIPTokenizerFast`: NFC + whitespace
collapsing + lowercasing, CLIP's split regex, byte-level mapping, BPE with the `</w>`
end-of-word suffix, `<|startoftext|>` ... `<|endoftext|>` around every text.

Writing a tokenizer.json (instead of a CLIP tokenizer in Rust) lets the router tokenize CLIP
text with the same `tokenizers` code path as every other model, and a real export
(`export_clip.py`) simply saves Hugging Face's own tokenizer.json in the same place.
"""

import gzip
import json

SOT = "<|startoftext|>"
EOT = "<|endoftext|>"
SPLIT = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
         r"|[^\s\p{L}\p{N}]+")


def bytes_to_unicode():
    """OpenAI's reversible byte → printable character map (as in GPT-2)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build(bpe_gz_path, max_length=77):
    merges_text = gzip.open(bpe_gz_path).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in merges_text[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += [SOT, EOT]
    ids = {tok: i for i, tok in enumerate(vocab)}
    special = lambda tok: {"id": ids[tok], "content": tok, "single_word": False,
                           "lstrip": False, "rstrip": False, "normalized": False,
                           "special": True}
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": max_length,
                       "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": [special(SOT), special(EOT)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Lowercase"},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Removed",
             "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False},
        ]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOT, ids[EOT]],
                           "cls": [SOT, ids[SOT]], "trim_offsets": False,
                           "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": EOT,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": ids, "merges": [f"{a} {b}" for a, b in merges]},
    }


def write(bpe_gz_path, out_path, max_length=77):
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(build(bpe_gz_path, max_length), f, ensure_ascii=False)
