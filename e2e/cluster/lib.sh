# Shared by kind.sh and k3d.sh (sourced, not run): images, chart install, example checks and
# the test run against the cluster in $KUBECONFIG_FILE.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_DIR="$ROOT/e2e/cluster"
: "${TAG:=e2e}"
: "${OPERATOR_NAMESPACE:=switchyard-system}"
: "${RELEASE:=switchyard}"
OPERATOR_IMAGE="ghcr.io/switchyard-dev/switchyard-operator:$TAG"
ROUTER_IMAGE="ghcr.io/switchyard-dev/switchyard-router:$TAG"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is needed ($2)"; }

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# Builds both images from the working tree (docker/README.md describes them).
build_images() {
  need docker "https://docs.docker.com/engine/install/"
  log "building $OPERATOR_IMAGE and $ROUTER_IMAGE"
  docker build -f "$ROOT/docker/operator.Dockerfile" -t "$OPERATOR_IMAGE" "$ROOT"
  docker build -f "$ROOT/docker/router.Dockerfile" -t "$ROUTER_IMAGE" "$ROOT"
}

# Installs (or upgrades) the chart with the e2e values: two operator replicas (leader
# election on) and the images just built. HELM_ARGS (space-separated) go to helm as well.
install_chart() {
  local extra=()
  # shellcheck disable=SC2206 # HELM_ARGS is a space-separated list of flags on purpose
  [ -n "${HELM_ARGS:-}" ] && extra=(${HELM_ARGS})
  need helm "https://helm.sh/docs/intro/install/"
  log "installing charts/switchyard as $RELEASE in $OPERATOR_NAMESPACE"
  helm --kubeconfig "$KUBECONFIG_FILE" upgrade --install "$RELEASE" "$ROOT/charts/switchyard" \
    --namespace "$OPERATOR_NAMESPACE" --create-namespace \
    --values "$CLUSTER_DIR/values-e2e.yaml" \
    --set "operator.image.tag=$TAG" --set "router.image.tag=$TAG" \
    --wait --timeout 5m "${extra[@]}"
  kc -n "$OPERATOR_NAMESPACE" rollout status "deployment/$RELEASE-operator" --timeout=5m
}

# Applies every example manifest into its own namespace (with placeholder API-key Secrets)
# and checks that the API server accepts it and the operator resolves every policy in it
# (the examples call hosted APIs, so their routers are not expected to get answers here).
check_examples() {
  local failures=0 file ns policy
  for file in "$ROOT"/manifests/examples/*.yaml "$ROOT"/manifests/examples/*/generated.yaml; do
    ns="sy-example-$(basename "$(dirname "$file")" | tr -c 'a-z0-9\n' '-' | cut -c1-20)-$(basename "$file" .yaml | tr -c 'a-z0-9\n' '-' | cut -c1-30)"
    ns="${ns%-}"
    log "example $file in namespace $ns"
    kc create namespace "$ns" --dry-run=client -o yaml | kc apply -f - >/dev/null
    for secret in nvidia-api-key:NVIDIA_API_KEY openai-api-key:OPENAI_API_KEY azure-openai:AZURE_OPENAI_API_KEY; do
      kc -n "$ns" create secret generic "${secret%%:*}" --from-literal="${secret##*:}=placeholder" \
        --dry-run=client -o yaml | kc apply -f - >/dev/null
    done
    if ! kc -n "$ns" apply --server-side -f "$file"; then
      log "FAIL: the API server refused $file"; failures=$((failures + 1)); continue
    fi
    for policy in $(kc -n "$ns" get routingpolicies -o name); do
      if ! kc -n "$ns" wait "$policy" --for=condition=Resolved --timeout=2m >/dev/null 2>&1; then
        # Resolved=False is fine when it is only a missing in-cluster dependency (a PVC, an
        # in-cluster model server); an invalid spec is not.
        if kc -n "$ns" get "$policy" -o jsonpath='{.status.conditions[?(@.type=="Resolved")].reason}' \
          | grep -q InvalidPolicy; then
          log "FAIL: $policy in $file is invalid:"
          kc -n "$ns" get "$policy" -o jsonpath='{.status.conditions}'; echo
          failures=$((failures + 1))
        fi
      fi
      kc -n "$ns" get "$policy" \
        -o jsonpath='{.metadata.name}{": "}{range .status.conditions[*]}{.type}={.status}/{.reason} {end}{"\n"}'
    done
  done
  [ "$failures" = 0 ] || die "$failures example(s) failed"
  log "all examples accepted and resolved"
}

# Runs the real-cluster scenarios (the #[ignore]d tests of e2e/tests/scenarios.rs).
run_tests() {
  need cargo "https://rustup.rs"
  export SWITCHYARD_E2E_KUBECONFIG="$KUBECONFIG_FILE"
  export SWITCHYARD_E2E_HOST="${SWITCHYARD_E2E_HOST:-$(host_address)}"
  export SWITCHYARD_E2E_OPERATOR_NAMESPACE="$OPERATOR_NAMESPACE"
  log "running the real-cluster scenarios (pods reach this machine at $SWITCHYARD_E2E_HOST)"
  cd "$ROOT" || return 1
  cargo test -p switchyard-e2e --test scenarios -- --ignored --test-threads=1 "$@"
}

# Prints the environment the tests need, for running them by hand.
print_env() {
  printf 'export SWITCHYARD_E2E_KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export SWITCHYARD_E2E_HOST=%q\n' "$(host_address)"
  printf 'export SWITCHYARD_E2E_OPERATOR_NAMESPACE=%q\n' "$OPERATOR_NAMESPACE"
}

# Deletes what the tests and the example check left behind (namespaces by label or prefix).
clean_namespaces() {
  kc delete namespace -l e2e.switchyard.dev/run --wait=false || true
  kc get namespaces -o name | grep '^namespace/sy-example-' | xargs -r kubectl --kubeconfig "$KUBECONFIG_FILE" delete --wait=false || true
}

# Runs the commands given on the command line, in order. Each script defines up() and down()
# for its cluster kind; `main SCRIPT HELP_LAST_LINE ARGS...` prints the script's header comment
# (lines 2..HELP_LAST_LINE) when no command is given.
main() {
  local script="$1" help_end="$2"
  shift 2
  [ $# -gt 0 ] || { sed -n "2,${help_end}p" "$script" | sed 's/^# \{0,1\}//'; exit 2; }
  while [ $# -gt 0 ]; do
    case "$1" in
      --gpu) GPU=1 ;;
      up) up ;;
      examples) check_examples ;;
      test)
        shift
        [ "${1:-}" = -- ] && shift
        [ "$GPU" = 1 ] && export SWITCHYARD_E2E_GPU=1
        run_tests "$@"
        exit $? ;;
      env) print_env ;;
      clean) clean_namespaces ;;
      down) down ;;
      all)
        up
        check_examples
        [ "$GPU" = 1 ] && export SWITCHYARD_E2E_GPU=1
        run_tests ;;
      *) die "unknown command $1 (see $script without arguments)" ;;
    esac
    shift
  done
}
