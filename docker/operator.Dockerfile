# syntax=docker/dockerfile:1.7
# The Switchyard operator: a static (musl) switchyard-operator on distroless/static, non-root.
# Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t ghcr.io/switchyard-dev/switchyard-operator:0.1.0 .
# See docker/README.md.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# --- Rust toolchain for static musl binaries, with cargo-chef ---------------------------------
FROM ${RUST_IMAGE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$(uname -m)-unknown-linux-musl" \
 && cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# --- Dependency recipe: changes only when a Cargo.toml or Cargo.lock does -----------------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- Build: dependencies first (cached layer), then the operator ------------------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p switchyard-operator \
      --target "$(uname -m)-unknown-linux-musl" --recipe-path recipe.json
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && cargo build --release --locked -p switchyard-operator --bin switchyard-operator \
      --target "${target}" \
 && install -D -m 0755 "target/${target}/release/switchyard-operator" /out/switchyard-operator

# --- Runtime: no shell, no package manager; CA certificates and the nonroot user (65532) --------
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="switchyard-operator" \
      org.opencontainers.image.description="Switchyard operator: RoutingPolicy and ModelEndpoint into router Deployments" \
      org.opencontainers.image.source="https://github.com/switchyard-dev/switchyard" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/switchyard-operator /usr/local/bin/switchyard-operator
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/switchyard-operator"]
