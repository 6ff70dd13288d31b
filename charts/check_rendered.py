#!/usr/bin/env python3
"""Checks manifests rendered from the Switchyard chart (called by charts/test.sh).

Usage: check_rendered.py [--namespaced NS] [--leader] FILE...
       check_rendered.py --objects-only PATH...   (schema checks only; directories recursed)

For every object in the files:
- built-in kinds are validated with kubernetes-validate (strict: unknown fields are errors)
  against each Kubernetes minor version from 1.30 to 1.35;
- switchyard.dev custom resources against the openAPIV3Schema of the chart's CRDs;
- ServiceMonitors against a structural schema of the fields the chart sets;
- RBAC is least privilege: no '*' anywhere, Secrets only get/list/watch, no escalate/bind/
  impersonate, every permission the operator needs present and none it does not, and the
  operator holds every permission the routers' Roles grant (so RBAC escalation prevention lets
  it create them);
- the operator pods run restricted (non-root, fixed UID, read-only root, no privilege
  escalation, all capabilities dropped, RuntimeDefault seccomp).
Prints one line per file and exits non-zero with every problem listed.
"""

import argparse
import glob
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

VERSIONS = ["1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0"]
HERE = os.path.dirname(os.path.abspath(__file__))
CRD_DIR = os.path.join(HERE, "switchyard", "crds")

# What the operator does (see charts/switchyard/templates/rbac.yaml): (group, resource, verbs).
# operator/tests/reliability.rs derives the same set from the API calls the operator makes.
APPLY = ["list", "watch", "create", "patch"]  # watched children, server-side applied
REQUIRED = [
    ("switchyard.dev", "routingpolicies", ["list", "watch"]),
    ("switchyard.dev", "modelendpoints", ["list", "watch"]),
    ("switchyard.dev", "routingpolicies/status", ["patch"]),
    ("switchyard.dev", "modelendpoints/status", ["patch"]),
    ("", "configmaps", APPLY),
    ("", "services", APPLY),
    ("", "serviceaccounts", APPLY),
    ("apps", "deployments", APPLY),
    ("rbac.authorization.k8s.io", "roles", APPLY),
    ("rbac.authorization.k8s.io", "rolebindings", APPLY),
    ("policy", "poddisruptionbudgets", APPLY + ["delete"]),
    ("autoscaling", "horizontalpodautoscalers", APPLY + ["delete"]),
    ("", "secrets", ["get", "list", "watch"]),
    ("events.k8s.io", "events", ["create", "patch"]),
]
# What the Roles the operator creates for routers grant (operator/src/build/rbac.rs).
GRANTED_TO_ROUTERS = [
    ("", "configmaps", ["get", "list", "watch", "patch"]),
    ("", "secrets", ["get", "list", "watch"]),
]
LEASE = [("coordination.k8s.io", "leases", ["get", "create", "update"])]
FORBIDDEN_VERBS = {"escalate", "bind", "impersonate", "*"}

SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object",
                                                   "additionalProperties": {"type": "string"}}},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                            "scrapeTimeout": {"type": "string",
                                              "pattern": "^([0-9]+(ms|s|m|h))+$"},
                        },
                    },
                },
            },
        },
    },
}


def crd_schemas():
    """(group, kind) -> JSON schema of the CRDs' served version."""
    out = {}
    for path in sorted(glob.glob(os.path.join(CRD_DIR, "*.yaml"))):
        with open(path) as f:
            crd = yaml.safe_load(f)
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            schema = dict(v["schema"]["openAPIV3Schema"])
            out[(f"{group}/{v['name']}", kind)] = schema
    return out


def rules_allow(rules, group, resource, verb):
    for r in rules:
        if r.get("resourceNames"):
            continue
        if group in r.get("apiGroups", []) and resource in r.get("resources", []) \
                and verb in r.get("verbs", []):
            return True
    return False


def check_rbac(objs, problems, namespaced, leader):
    roles = [o for o in objs if o["kind"] in ("ClusterRole", "Role")]
    if not roles:
        problems.append("no ClusterRole or Role rendered")
        return
    for role in roles:
        name = f"{role['kind']} {role['metadata']['name']}"
        for i, rule in enumerate(role.get("rules", [])):
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                if any("*" in v for v in rule.get(field, [])):
                    problems.append(f"{name}: rules[{i}].{field} holds a wildcard")
            if FORBIDDEN_VERBS & set(rule.get("verbs", [])):
                problems.append(f"{name}: rules[{i}] grants {sorted(FORBIDDEN_VERBS & set(rule['verbs']))}")
            if "secrets" in rule.get("resources", []) and \
                    not set(rule.get("verbs", [])) <= {"get", "list", "watch"}:
                problems.append(f"{name}: rules[{i}] grants {rule['verbs']} on secrets; "
                                "only get/list/watch are allowed")
            if rule.get("nonResourceURLs"):
                problems.append(f"{name}: rules[{i}] grants nonResourceURLs")
    operator_roles = [r for r in roles if not r["metadata"]["name"].endswith("-leader-election")]
    kinds = {r["kind"] for r in operator_roles}
    if namespaced:
        if kinds != {"Role"} or any(r["metadata"].get("namespace") != namespaced
                                    for r in operator_roles):
            problems.append(f"with watchNamespace the operator needs a Role in {namespaced}, "
                            f"got {sorted(kinds)}")
        if any(o["kind"] == "ClusterRoleBinding" for o in objs):
            problems.append("with watchNamespace no ClusterRoleBinding may be rendered")
    elif kinds != {"ClusterRole"}:
        problems.append(f"the operator needs a ClusterRole, got {sorted(kinds)}")
    rules = [rule for r in operator_roles for rule in r.get("rules", [])]
    needed = set()
    for group, resource, verbs in REQUIRED + GRANTED_TO_ROUTERS:
        for verb in verbs:
            needed.add((group, resource, verb))
            if not rules_allow(rules, group, resource, verb):
                problems.append(f"operator lacks {verb} on {resource or '?'}"
                                f" (apiGroup {group!r})")
    # ... and nothing more.
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    if (group, resource, verb) not in needed:
                        problems.append(f"operator is granted {verb} on {resource}"
                                        f" (apiGroup {group!r}), which it does not need")
    lease_roles = [r for r in roles if r["metadata"]["name"].endswith("-leader-election")]
    if leader:
        lease_rules = [rule for r in lease_roles for rule in r.get("rules", [])]
        for group, resource, verbs in LEASE:
            for verb in verbs:
                ok = any(group in r.get("apiGroups", []) and resource in r.get("resources", [])
                         and verb in r.get("verbs", []) for r in lease_rules)
                if not ok:
                    problems.append(f"leader election lacks {verb} on leases")
    elif lease_roles:
        problems.append("leader-election Role rendered without leader election")


def check_pod_security(objs, problems, leader):
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    if len(deployments) != 1:
        problems.append(f"expected one operator Deployment, got {len(deployments)}")
        return
    pod = deployments[0]["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or not isinstance(psc.get("runAsUser"), int) \
            or psc.get("runAsUser") == 0:
        problems.append("operator pod must run as a fixed non-root UID")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("operator pod needs seccompProfile RuntimeDefault")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        expect = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                  "runAsNonRoot": True}
        for k, v in expect.items():
            if sc.get(k) is not v:
                problems.append(f"container {c['name']}: securityContext.{k} must be {v}")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"container {c['name']}: must drop ALL capabilities")
        if sc.get("capabilities", {}).get("add"):
            problems.append(f"container {c['name']}: must add no capabilities")
        args = c.get("args", [])
        if leader != ("--leader-elect" in args):
            problems.append(f"container {c['name']}: --leader-elect must be "
                            f"{'set' if leader else 'unset'} (args {args})")
        if not any(a.startswith("--router-image=") for a in args):
            problems.append(f"container {c['name']}: no --router-image")


def check_file(path, namespaced, leader, objects_only=False):
    problems = []
    with open(path) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    crds = crd_schemas()
    counts = {"builtin": 0, "custom": 0, "monitor": 0}
    for o in objs:
        name = f"{o.get('kind')} {o.get('metadata', {}).get('name')}"
        key = (o.get("apiVersion"), o.get("kind"))
        if key in crds:
            counts["custom"] += 1
            for err in jsonschema.Draft7Validator(crds[key]).iter_errors(o):
                problems.append(f"{name}: {'.'.join(map(str, err.path))}: {err.message}")
        elif key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
            counts["monitor"] += 1
            for err in jsonschema.Draft7Validator(SERVICE_MONITOR).iter_errors(o):
                problems.append(f"{name}: {'.'.join(map(str, err.path))}: {err.message}")
        else:
            counts["builtin"] += 1
            for v in VERSIONS:
                try:
                    kubernetes_validate.validate(o, v, strict=True)
                except Exception as e:  # noqa: BLE001 - every kind of failure is reported
                    msg = getattr(e, "message", str(e))
                    problems.append(f"{name}: Kubernetes {v}: {msg}")
    if objects_only:
        return (f"{os.path.basename(path)}: {counts['builtin']} built-in and "
                f"{counts['custom']} switchyard.dev objects", problems, counts)
    check_rbac(objs, problems, namespaced, leader)
    check_pod_security(objs, problems, leader)
    summary = (f"{os.path.basename(path)}: {counts['builtin']} built-in objects valid for "
               f"Kubernetes {VERSIONS[0][:4]}-{VERSIONS[-1][:4]} (strict), "
               f"{counts['custom']} switchyard.dev objects, {counts['monitor']} ServiceMonitors; "
               f"RBAC least privilege; restricted pod security")
    return summary, problems, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--namespaced", default="")
    ap.add_argument("--leader", action="store_true")
    ap.add_argument("--objects-only", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    files = []
    for path in args.files:
        if os.path.isdir(path):
            files += sorted(glob.glob(os.path.join(path, "**", "*.yaml"), recursive=True))
        else:
            files.append(path)
    failed = False
    total = {"builtin": 0, "custom": 0}
    for path in files:
        summary, problems, counts = check_file(path, args.namespaced, args.leader,
                                               args.objects_only)
        total["builtin"] += counts["builtin"]
        total["custom"] += counts["custom"]
        if problems:
            failed = True
            print(f"FAIL {path}:")
            for p in problems:
                print(f"  - {p}")
        elif not args.objects_only:
            print(f"ok   {summary}")
    if args.objects_only and not failed:
        print(f"{len(files)} files: {total['builtin']} built-in objects valid for Kubernetes "
              f"{VERSIONS[0][:4]}-{VERSIONS[-1][:4]} (strict), {total['custom']} switchyard.dev "
              "objects match the CRD schemas")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
