#!/usr/bin/env bash
# Checks of the Helm chart, the plain install manifest, the example manifests' built-in
# objects and the Dockerfiles. Offline, about half a minute. scripts/test.sh calls it.
#
# Usage: charts/test.sh            run every check; non-zero exit on any failure
#        charts/test.sh --update   regenerate what the checks compare against (the chart's CRD
#                                  and quickstart copies, manifests/install.yaml), then check
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
source .tools/env.sh

CHART=charts/switchyard
INSTALL=manifests/install.yaml
INSTALL_NS=switchyard-system
PY="${SWITCHYARD_PYTHON:-python3}"
UPDATE=0
for arg in "$@"; do
  case "$arg" in
    --update) UPDATE=1 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
FAILURES=0
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILURES=$((FAILURES + 1)); }

render_install() { # the plain install manifest: a Namespace, then the chart with defaults
  local version
  version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")"
  cat <<EOF
# Switchyard ${version}: CRDs, operator, RBAC and metrics Service in namespace ${INSTALL_NS}.
# Rendered from charts/switchyard with default values by \`charts/test.sh --update\`; do not edit.
# Install:   kubectl apply --server-side -f install.yaml
# Configure: use the Helm chart instead (charts/switchyard, values.yaml documents every option).
apiVersion: v1
kind: Namespace
metadata:
  name: ${INSTALL_NS}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
EOF
  helm template switchyard "$CHART" --namespace "$INSTALL_NS" --include-crds
}

if [ "$UPDATE" = 1 ]; then
  rm -f "$CHART"/crds/*.yaml
  cp crds/switchyard.dev_*.yaml "$CHART/crds/"
  cp manifests/examples/quickstart.yaml "$CHART/files/quickstart.yaml"
  render_install > "$INSTALL"
  echo "updated $CHART/crds, $CHART/files/quickstart.yaml and $INSTALL"
fi

# 1. Copies inside the chart are identical to their sources (copies, not symlinks: Helm
#    packages do not carry links).
crd_ok=1
for src in crds/switchyard.dev_*.yaml; do
  copy="$CHART/crds/$(basename "$src")"
  if [ -L "$copy" ] || ! cmp -s "$src" "$copy"; then
    fail "$copy differs from $src (run charts/test.sh --update)"; crd_ok=0
  fi
done
for copy in "$CHART"/crds/*; do
  [ -f "crds/$(basename "$copy")" ] || { fail "$copy has no source in crds/"; crd_ok=0; }
done
[ "$crd_ok" = 1 ] && ok "chart CRDs are copies of crds/*.yaml"
if [ -L "$CHART/files/quickstart.yaml" ] \
    || ! cmp -s manifests/examples/quickstart.yaml "$CHART/files/quickstart.yaml"; then
  fail "$CHART/files/quickstart.yaml differs from manifests/examples/quickstart.yaml"
else
  ok "chart quickstart example is a copy of manifests/examples/quickstart.yaml"
fi

# 2. helm lint --strict with the defaults and every ci/*-values.yaml.
for values in "$CHART"/ci/*-values.yaml; do
  if out="$(helm lint --strict "$CHART" -f "$values" 2>&1)"; then
    ok "helm lint --strict ($(basename "$values"))"
  else
    fail "helm lint --strict ($(basename "$values"))"; echo "$out"
  fi
done

# 3. Rendered output: Kubernetes 1.30-1.35 schemas (strict), CRD schemas, least-privilege RBAC,
#    restricted pod security.
helm template switchyard "$CHART" -n "$INSTALL_NS" --include-crds > "$TMP/default.yaml"
helm template sy "$CHART" -n "$INSTALL_NS" --include-crds \
  -f "$CHART/ci/all-values.yaml" > "$TMP/all-values.yaml"
helm template sy "$CHART" -n "$INSTALL_NS" \
  -f "$CHART/ci/namespaced-values.yaml" > "$TMP/namespaced-values.yaml"
if "$PY" charts/check_rendered.py "$TMP/default.yaml" \
    && "$PY" charts/check_rendered.py --leader "$TMP/all-values.yaml" \
    && "$PY" charts/check_rendered.py --namespaced ai "$TMP/namespaced-values.yaml"; then
  :
else
  fail "rendered chart (see above)"
fi
# The checks above must be able to fail: an unknown field, a wildcard verb, a write on
# Secrets and a permission the operator does not use are each caught.
sed 's/^  replicas: 1$/  replicas: 1\n  replicaCount: 1/' "$TMP/default.yaml" > "$TMP/unknown-field.yaml"
sed '0,/verbs: \["list", "watch"\]/s//verbs: ["*"]/' "$TMP/default.yaml" > "$TMP/wildcard.yaml"
sed '0,/verbs: \["get", "list", "watch"\]$/s//verbs: ["get", "list", "watch", "update"]/' \
  "$TMP/default.yaml" > "$TMP/secret-write.yaml"
sed '0,/verbs: \["list", "watch", "create", "patch"\]/s//verbs: ["get", "list", "watch", "create", "patch", "delete"]/' \
  "$TMP/default.yaml" > "$TMP/extra-verbs.yaml"
unknown_out="$("$PY" charts/check_rendered.py "$TMP/unknown-field.yaml" || true)"
wildcard_out="$("$PY" charts/check_rendered.py "$TMP/wildcard.yaml" || true)"
secret_out="$("$PY" charts/check_rendered.py "$TMP/secret-write.yaml" || true)"
extra_out="$("$PY" charts/check_rendered.py "$TMP/extra-verbs.yaml" || true)"
if grep -q "'replicaCount' was unexpected" <<< "$unknown_out" \
    && grep -q "holds a wildcard" <<< "$wildcard_out" \
    && grep -q "on secrets; only get/list/watch are allowed" <<< "$secret_out" \
    && grep -q "granted delete on services.*does not need" <<< "$extra_out"; then
  ok "the render checks reject an unknown field, a wildcard, a Secret write and an unused verb"
else
  fail "the render checks accepted an unknown field, a wildcard, a Secret write or an unused verb"
  printf '%s\n' "$unknown_out" "$wildcard_out" "$secret_out" "$extra_out" | head -40
fi

# 4. manifests/install.yaml is the current rendering.
render_install > "$TMP/install.yaml"
if diff -u "$INSTALL" "$TMP/install.yaml" > "$TMP/install.diff"; then
  ok "$INSTALL is current"
else
  fail "$INSTALL is stale (run charts/test.sh --update):"; head -40 "$TMP/install.diff"
fi
if "$PY" charts/check_rendered.py "$INSTALL" > "$TMP/install.out"; then
  ok "$INSTALL validates (Kubernetes 1.30-1.35, strict)"
else
  fail "$INSTALL"; cat "$TMP/install.out"
fi

# 5. Bad values are refused with the schema's (or the template's) message.
n=0
for bad in "$CHART"/tests/bad-values/*.yaml; do
  n=$((n + 1))
  expect="$(sed -n 's/^# expect: //p' "$bad")"
  if [ -z "$expect" ]; then fail "$bad has no '# expect:' line"; continue; fi
  if out="$(helm template x "$CHART" -f "$bad" 2>&1)"; then
    fail "helm template accepted $bad"
  elif ! grep -qF -- "$expect" <<< "$out"; then
    fail "$bad: expected \"$expect\" in: $out"
  elif helm lint --strict "$CHART" -f "$bad" > /dev/null 2>&1; then
    fail "helm lint --strict accepted $bad"
  else
    ok "refused $(basename "$bad"): $expect"
  fi
done
[ "$n" -ge 10 ] || fail "expected at least 10 bad-values fixtures, found $n"

# 6. Built-in objects in the examples (Secrets, PersistentVolumeClaims) are valid Kubernetes.
if out="$("$PY" charts/check_rendered.py --objects-only manifests/examples 2>&1)"; then
  ok "example manifests' built-in objects validate (${out##*: })"
else
  fail "example manifests"; echo "$out"
fi

# 7. The Grafana dashboard queries metrics the router and operator really register.
if out="$("$PY" charts/check_dashboard.py 2>&1)"; then
  ok "Grafana dashboard: $out"
else
  fail "Grafana dashboard:"; echo "$out"
fi

# 8. Dockerfiles lint clean (hadolint from PyPI, installed into .venv by scripts/setup.sh).
if command -v hadolint > /dev/null; then
  if out="$(hadolint --config docker/.hadolint.yaml docker/*.Dockerfile 2>&1)"; then
    ok "hadolint docker/*.Dockerfile"
  else
    fail "hadolint docker/*.Dockerfile"; echo "$out"
  fi
else
  echo "skip hadolint not installed (scripts/setup.sh installs it): Dockerfiles not linted"
fi

echo
if [ "$FAILURES" -gt 0 ]; then
  echo "charts/test.sh: $FAILURES check(s) failed"
  exit 1
fi
echo "charts/test.sh: all chart checks passed"
