#!/usr/bin/env bash
# The Switchyard end-to-end suite on a kind cluster: creates the cluster, builds the images
# from the working tree and loads them, installs charts/switchyard, checks the examples and
# runs the real-cluster scenarios. See e2e/README.md ("Real-cluster suite").
#
# Usage: e2e/cluster/kind.sh [--gpu] <command>...
#   up        create the cluster (if missing), build + load the images, install the chart
#   examples  apply manifests/examples; each must be accepted and resolve
#   test      run the real-cluster scenarios (arguments after -- go to the test binary)
#   env       print the variables to run the tests by hand
#   clean     delete the namespaces the tests and examples left behind
#   down      delete the cluster
#   all       up, examples, test
#   --gpu     a cluster with the host's NVIDIA GPUs (kind-gpu-config.yaml; needs the NVIDIA
#             driver and Container Toolkit on the host); also runs the GPU scenario
# Environment: CLUSTER (switchyard-e2e), TAG (e2e), SKIP_BUILD=1 (use existing images),
#              KUBECONFIG_FILE (default <repo>/target/e2e/kind-$CLUSTER.kubeconfig)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${CLUSTER:=switchyard-e2e}"
: "${KUBECONFIG_FILE:=$ROOT/target/e2e/kind-$CLUSTER.kubeconfig}"
GPU=0

# The address pods reach this machine at: the gateway of kind's Docker network.
host_address() {
  docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' \
    | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | head -n1
}

# Inside the GPU worker: the NVIDIA Container Toolkit as containerd's default runtime (kind's
# node image does not ship it), then NVIDIA's device plugin with GPU feature discovery.
setup_gpu() {
  local node
  for node in $(kind get nodes --name "$CLUSTER" | grep worker); do
    log "NVIDIA Container Toolkit in $node"
    docker exec "$node" bash -c '
      set -euo pipefail
      apt-get update -qq && apt-get install -y -qq gpg curl >/dev/null
      curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey \
        | gpg --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
      curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
        | sed "s#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g" \
        > /etc/apt/sources.list.d/nvidia-container-toolkit.list
      apt-get update -qq && apt-get install -y -qq nvidia-container-toolkit >/dev/null
      nvidia-ctk runtime configure --runtime=containerd --set-as-default
      systemctl restart containerd'
  done
  log "NVIDIA device plugin"
  helm --kubeconfig "$KUBECONFIG_FILE" repo add nvdp https://nvidia.github.io/k8s-device-plugin >/dev/null
  helm --kubeconfig "$KUBECONFIG_FILE" repo update nvdp >/dev/null
  helm --kubeconfig "$KUBECONFIG_FILE" upgrade --install nvdp nvdp/nvidia-device-plugin \
    --namespace nvidia-device-plugin --create-namespace --set gfd.enabled=true --wait
  log "waiting for a node with allocatable nvidia.com/gpu"
  for _ in $(seq 60); do
    if kc get nodes -o jsonpath='{.items[*].status.allocatable.nvidia\.com/gpu}' | grep -q '[1-9]'; then
      return 0
    fi
    sleep 5
  done
  die "no node reports nvidia.com/gpu"
}

up() {
  need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
  need kubectl "https://kubernetes.io/docs/tasks/tools/"
  mkdir -p "$(dirname "$KUBECONFIG_FILE")"
  local config="$CLUSTER_DIR/kind-config.yaml"
  [ "$GPU" = 1 ] && config="$CLUSTER_DIR/kind-gpu-config.yaml"
  if ! kind get clusters | grep -qx "$CLUSTER"; then
    log "creating kind cluster $CLUSTER ($config)"
    kind create cluster --name "$CLUSTER" --config "$config" --kubeconfig "$KUBECONFIG_FILE" --wait 5m
  fi
  kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG_FILE"
  [ "$GPU" = 1 ] && setup_gpu
  [ "${SKIP_BUILD:-0}" = 1 ] || build_images
  log "loading the images into $CLUSTER"
  kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$ROUTER_IMAGE"
  install_chart
}

down() {
  need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
  kind delete cluster --name "$CLUSTER"
  rm -f "$KUBECONFIG_FILE"
}

# The commands (up, examples, test, env, clean, down, all; --gpu) are dispatched by lib.sh.
main "$0" 22 "$@"
