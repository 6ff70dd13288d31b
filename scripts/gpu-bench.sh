#!/usr/bin/env bash
# Runs the inference benchmarks on the CUDA execution provider, on a machine with an NVIDIA GPU
# and driver (not in CI: there is no GPU there). Installs, in .cache/gpu-venv, the GPU build of
# ONNX Runtime and NVIDIA's pip CUDA/cuDNN libraries, points ORT_DYLIB_PATH and
# LD_LIBRARY_PATH at them, and runs `cargo bench` with SWITCHYARD_BENCH_DEVICE=cuda (the
# benches fail if the engine falls back to CPU, so the numbers are GPU numbers).
#
# Usage: scripts/gpu-bench.sh [text|image|all]   (default all)
# Needs: scripts/setup.sh done (models, CLIP vocabulary), nvidia-smi working, a Rust toolchain.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHICH="${1:-all}"
ORT_GPU="onnxruntime-gpu==1.31.1"
VENV="$ROOT/.cache/gpu-venv"

log() { printf 'gpu-bench: %s\n' "$*" >&2; }

command -v nvidia-smi >/dev/null && nvidia-smi -L >&2 || { log "no NVIDIA GPU visible (nvidia-smi)"; exit 1; }
[ -f .tools/env.sh ] || scripts/setup.sh --no-tools
# shellcheck disable=SC1091
source .tools/env.sh

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $ORT_GPU"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$ORT_GPU" "numpy<3"
fi
CAPI="$(ls -d "$VENV"/lib/python3*/site-packages/onnxruntime/capi)"
ORT_LIB="$(ls "$CAPI"/libonnxruntime.so.* | head -n1)"

# Which CUDA major the provider was built for: read it from the libraries it links.
CUDA_MAJOR="$(ldd "$CAPI/libonnxruntime_providers_cuda.so" 2>/dev/null \
  | sed -n 's/.*libcublas\.so\.\([0-9]*\).*/\1/p' | head -n1)"
CUDA_MAJOR="${CUDA_MAJOR:-12}"
PKGS=(nvidia-cuda-runtime-cu$CUDA_MAJOR nvidia-cublas-cu$CUDA_MAJOR nvidia-cufft-cu$CUDA_MAJOR
      nvidia-curand-cu$CUDA_MAJOR nvidia-cuda-nvrtc-cu$CUDA_MAJOR nvidia-cudnn-cu$CUDA_MAJOR)
STAMP="$VENV/.cuda-stamp"
if [ "$(cat "$STAMP" 2>/dev/null)" != "${PKGS[*]}" ]; then
  log "installing CUDA $CUDA_MAJOR libraries from PyPI: ${PKGS[*]}"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PKGS[@]}"
  echo "${PKGS[*]}" > "$STAMP"
fi
NV_LIBS="$(find "$VENV"/lib/python3*/site-packages/nvidia -maxdepth 2 -type d -name lib | tr '\n' ':')"
export LD_LIBRARY_PATH="${NV_LIBS}${CAPI}:${LD_LIBRARY_PATH:-}"
export ORT_DYLIB_PATH="$ORT_LIB"
export SWITCHYARD_BENCH_DEVICE=cuda

missing="$(ldd "$CAPI/libonnxruntime_providers_cuda.so" | grep 'not found' || true)"
[ -z "$missing" ] || { log "CUDA provider libraries still missing:"; echo "$missing" >&2; exit 1; }

log "ORT_DYLIB_PATH=$ORT_DYLIB_PATH"
case "$WHICH" in
  text|image) benches=("$WHICH") ;;
  all) benches=(text image) ;;
  *) log "unknown bench: $WHICH"; exit 2 ;;
esac
mkdir -p "$ROOT/target"
for b in "${benches[@]}"; do
  log "cargo bench --bench $b (CUDA)"
  cargo bench -p switchyard-inference --bench "$b" 2>&1 | tee "$ROOT/target/gpu-bench-$b.log" \
    | grep -E '^(RESULT|engine:)' || true
done
log "full logs: target/gpu-bench-*.log"
