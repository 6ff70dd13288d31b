#!/usr/bin/env bash
# The Switchyard end-to-end suite on a k3d (k3s in Docker) cluster; the same steps as kind.sh.
# See e2e/README.md ("Real-cluster suite").
#
# Usage: e2e/cluster/k3d.sh [--gpu] <command>...
#   up        create the cluster (if missing), build + import the images, install the chart
#   examples  apply manifests/examples; each must be accepted and resolve
#   test      run the real-cluster scenarios (arguments after -- go to the test binary)
#   env       print the variables to run the tests by hand
#   clean     delete the namespaces the tests and examples left behind
#   down      delete the cluster
#   all       up, examples, test
#   --gpu     `k3d cluster create --gpus all` with $K3S_IMAGE, a k3s image that carries the
#             NVIDIA Container Toolkit (k3d's "Running CUDA workloads" guide builds one);
#             installs NVIDIA's device plugin and runs the GPU scenario too
# Environment: CLUSTER (switchyard-e2e), TAG (e2e), SKIP_BUILD=1, K3S_IMAGE,
#              KUBECONFIG_FILE (default <repo>/target/e2e/k3d-$CLUSTER.kubeconfig)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${CLUSTER:=switchyard-e2e}"
: "${KUBECONFIG_FILE:=$ROOT/target/e2e/k3d-$CLUSTER.kubeconfig}"
GPU=0

# k3d resolves this name to the host in every cluster it creates.
host_address() { echo host.k3d.internal; }

up() {
  need k3d "https://k3d.io/#installation"
  need kubectl "https://kubernetes.io/docs/tasks/tools/"
  mkdir -p "$(dirname "$KUBECONFIG_FILE")"
  if ! k3d cluster list -o json | grep -q "\"name\":\"$CLUSTER\""; then
    local args=(--agents 1 --wait --kubeconfig-update-default=false)
    if [ "$GPU" = 1 ]; then
      [ -n "${K3S_IMAGE:-}" ] || die "--gpu needs K3S_IMAGE: a k3s image with the NVIDIA Container Toolkit"
      args+=(--gpus all --image "$K3S_IMAGE")
    fi
    log "creating k3d cluster $CLUSTER"
    k3d cluster create "$CLUSTER" "${args[@]}"
  fi
  k3d kubeconfig get "$CLUSTER" > "$KUBECONFIG_FILE"
  if [ "$GPU" = 1 ]; then
    helm --kubeconfig "$KUBECONFIG_FILE" repo add nvdp https://nvidia.github.io/k8s-device-plugin >/dev/null
    helm --kubeconfig "$KUBECONFIG_FILE" repo update nvdp >/dev/null
    helm --kubeconfig "$KUBECONFIG_FILE" upgrade --install nvdp nvdp/nvidia-device-plugin \
      --namespace nvidia-device-plugin --create-namespace --set gfd.enabled=true --wait
  fi
  [ "${SKIP_BUILD:-0}" = 1 ] || build_images
  log "importing the images into $CLUSTER"
  k3d image import --cluster "$CLUSTER" "$OPERATOR_IMAGE" "$ROUTER_IMAGE"
  install_chart
}

down() {
  need k3d "https://k3d.io/#installation"
  k3d cluster delete "$CLUSTER"
  rm -f "$KUBECONFIG_FILE"
}

# The commands (up, examples, test, env, clean, down, all; --gpu) are dispatched by lib.sh.
main "$0" 20 "$@"
