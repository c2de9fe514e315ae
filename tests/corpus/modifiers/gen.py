#!/usr/bin/env python3
"""Generate tests/corpus/modifiers/cases.json: resource-modifier configs x objects x groupResource.

The corpus holds inputs only. Expected results come from the Go oracle (tests/oracle/modifiers),
which runs the libraries Velero links; our Rust engine must produce the same.

Sources: every example of Velero's site/content/docs/main/restore-resource-modifiers.md, the
configuration of Velero issue 8578 (its visible part verbatim; the truncated tail reconstructed
with the same shape: affinity and tolerations added through trailing-slash paths), and
hand-written edge cases for the JSON-patch library, the value quoting heuristic, merge and
strategic patches, conditions and invalid documents.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- objects

def meta(name, ns=None, labels=None, **extra):
    m = {"name": name}
    if ns is not None:
        m["namespace"] = ns
    if labels is not None:
        m["labels"] = labels
    m.update(extra)
    return m

def container(name, image, **extra):
    c = {"name": name, "image": image}
    c.update(extra)
    return c

def pod_spec():
    return {
        "containers": [
            container("app", "nginx:1.25", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "two"}],
                      ports=[{"containerPort": 80, "protocol": "TCP"}],
                      resources={"limits": {"cpu": "500m", "memory": "128Mi"}}),
            container("sidecar", "busybox:1.36", args=["sleep", "3600"]),
        ],
        "initContainers": [container("restore-wait", "velero/velero-restore-helper:v1.15.2")],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "cache", "emptyDir": {}}],
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}],
        "nodeSelector": {"disk": "ssd"},
    }

def deployment(name="web", ns="prod", labels=None):
    lb = labels if labels is not None else {"app": name, "tier": "frontend"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta(name, ns, lb, annotations={"foo": "bar", "keep": "yes"}),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec()}},
    }

def pod(name="my-pod", ns="ns1", labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": meta(name, ns, labels if labels is not None else {"app": "web", "pod-template-hash": "5dcfb75c59"},
                             annotations={"foo": "bar"}),
            "spec": pod_spec()}

def pvc(name="mysql-data", ns="foo", sc="premium", labels=None):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta(name, ns, labels if labels is not None else {"foo": "bar", "test": "x"},
                             annotations={"foo": "1", "other": "2"}),
            "spec": {"storageClassName": sc, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "10Gi"}}}}

def pv(name="pv-1"):
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": meta(name, None, {"type": "local"}),
            "spec": {"capacity": {"storage": "5Gi"}, "storageClassName": "premium",
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}]}]}}}}

def statefulset(name="db", ns="prod"):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": meta(name, ns, {"app": name}),
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec()}}}

def job(name="migrate", ns="prod"):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": meta(name, ns, {"job": name}),
            "spec": {"backoffLimit": 2, "template": {"spec": pod_spec()}}}

def ingress(name="web", ns="prod"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta(name, ns, {"app": name}),
            "spec": {"rules": [{"host": "example.com"}]}}

def configmap_obj(name="settings", ns="prod"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, ns, {"app": "web"}),
            "data": {"a": "1", "b": "x"}}

def numbers_obj():
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("nums", "prod", {"app": "n"}),
            "data": {"s": "str"},
            "x": {"int": 5, "float": 1.5, "big": 123456789012, "neg": -3, "zero": 0, "t": True, "f": False,
                  "n": None, "list": [1, "two", None, {"k": "v"}], "obj": {"a": {"b": [1, 2, 3]}},
                  "unicode": "日本語 ✓", "quote": "say \"hi\"", "empty": "", "sci": 1e-7}}

DEP = deployment()
OBJS = {
    "deploy": (DEP, "deployments.apps"),
    "deploy-test": (deployment("test-app", "bar"), "deployments.apps"),
    "deploy-growi": (deployment("growi-mongodb", "growi-prod"), "deployments.apps"),
    "deploy-other-ns": (deployment("growi", "staging"), "deployments.apps"),
    "pod": (pod(), "pods"),
    "pod-other": (pod("other-pod", "ns2"), "pods"),
    "pvc": (pvc(), "persistentvolumeclaims"),
    "pvc-std": (pvc("mysql-logs", "bar", "standard"), "persistentvolumeclaims"),
    "pvc-nomatch": (pvc("pg-data", "baz"), "persistentvolumeclaims"),
    "pv": (pv(), "persistentvolumes"),
    "sts": (statefulset(), "statefulsets.apps"),
    "job": (job(), "jobs.batch"),
    "ingress": (ingress(), "ingresses.networking.k8s.io"),
    "cm": (configmap_obj(), "configmaps"),
    "nums": (numbers_obj(), "configmaps"),
}

cases = []

def add(name, config, objs, configmap=None):
    for o in objs:
        obj, gr = OBJS[o] if isinstance(o, str) else o
        label = o if isinstance(o, str) else gr
        c = {"name": f"{name} @ {label}", "object": copy.deepcopy(obj), "groupResource": gr}
        if configmap is not None:
            c["configmap"] = configmap
        else:
            c["config"] = config
        cases.append(c)

def rule(gr, body, conds=""):
    return f"""version: v1
resourceModifierRules:
- conditions:
    groupResource: {gr}
{conds}{body}"""

def jp(gr, ops, conds=""):
    """ops: list of (operation, path, value or None, from or None)."""
    lines = ["  patches:"]
    for op in ops:
        operation, path, value = op[0], op[1], op[2] if len(op) > 2 else None
        frm = op[3] if len(op) > 3 else None
        lines.append(f"  - operation: {operation}")
        lines.append(f"    path: {json.dumps(path)}")
        if frm is not None:
            lines.append(f"    from: {json.dumps(frm)}")
        if value is not None:
            lines.append(f"    value: {value}")
    return rule(gr, "\n".join(lines) + "\n", conds)

ALL_WORKLOADS = ["deploy", "pod", "sts", "job"]

# ------------------------------------------------ Velero documentation examples (verbatim YAML)

DOC_TEMPLATE = """version: v1
resourceModifierRules:
- conditions:
     groupResource: persistentvolumeclaims
     resourceNameRegex: "^mysql.*$"
     namespaces:
     - bar
     - foo
     labelSelector:
        matchLabels:
           foo: bar
  patches:
  - operation: replace
    path: "/spec/storageClassName"
    value: "premium"
  - operation: remove
    path: "/metadata/labels/test"
"""
add("docs: yaml template", DOC_TEMPLATE, ["pvc", "pvc-std", "pvc-nomatch", "pv", "deploy",
    (pvc("mysql-x", "foo", "standard", {"foo": "bar"}), "persistentvolumeclaims")])

DOC_TEST = """version: v1
resourceModifierRules:
- conditions:
    groupResource: persistentvolumeclaims
    resourceNameRegex: ".*"
    namespaces:
    - bar
    - foo
  patches:
  - operation: test
    path: "/spec/storageClassName"
    value: "premium"
  - operation: replace
    path: "/spec/storageClassName"
    value: "standard"
"""
add("docs: conditional test op", DOC_TEST, ["pvc", "pvc-std", "pvc-nomatch"])

DOC_OTHER = r"""version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^test-.*$"
    namespaces:
    - bar
    - foo
  patches:
    # Dealing with complex values by escaping the yaml
  - operation: add
    path: "/spec/template/spec/containers/0"
    value: "{\"name\": \"nginx\", \"image\": \"nginx:1.14.2\", \"ports\": [{\"containerPort\": 80}]}"
    # Copy Operator
  - operation: copy
    from: "/spec/template/spec/containers/0"
    path: "/spec/template/spec/containers/1"
"""
add("docs: other examples (escaped JSON value, copy)", DOC_OTHER, ["deploy-test", "deploy", "pod"])

DOC_MERGE = """version: v1
resourceModifierRules:
- conditions:
    groupResource: pods
    namespaces:
    - ns1
  mergePatches:
  - patchData: |
      {
        "metadata": {
          "annotations": {
            "foo": null
          }
        }
      }
"""
add("docs: merge patch", DOC_MERGE, ["pod", "pod-other", "deploy"])

DOC_SMP = """version: v1
resourceModifierRules:
- conditions:
    groupResource: pods
    resourceNameRegex: "^my-pod$"
    namespaces:
    - ns1
  strategicPatches:
  - patchData: |
      {
        "spec": {
          "containers": [
            {
              "name": "nginx",
              "image": "repo2/nginx"
            }
          ]
        }
      }
"""
add("docs: strategic patch", DOC_SMP, ["pod", "pod-other", (pod("my-pod-2", "ns1"), "pods")])

DOC_MATCHES = """version: v1
resourceModifierRules:
- conditions:
    groupResource: persistentvolumeclaims.storage.k8s.io
    matches:
    - path: "/spec/storageClassName"
      value: "premium"
  mergePatches:
  - patchData: |
      {
        "metadata": {
          "annotations": {
            "foo": null
          }
        }
      }
"""
add("docs: matches", DOC_MATCHES, ["pvc", "pvc-std",
    (pvc(), "persistentvolumeclaims.storage.k8s.io"), (pvc("x", "foo", "standard"), "persistentvolumeclaims.storage.k8s.io")])

for gr in ["*.apps", "*", "*.*"]:
    add(f"docs: wildcard groupResource {gr}", jp(gr, [("add", "/metadata/labels/touched", '"yes"')],
        "    namespaces:\n    - prod\n"), ["deploy", "pod", "pvc", "pv", "sts", "job", "ingress", "cm"])

# ------------------------------------------------ Velero issue 8578

ISSUE_8578 = """version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^(elasticsearch|growi|gitea-apps-k8s-deployment2|growi-mongodb)$"
    namespaces:
    - gitea-prod
    - growi-prod
  patches:
  - operation: add
    path: "/spec/template/"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity/nodeAffinity"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
    value: '{"nodeSelectorTerms":[{"matchExpressions":[{"key":"node-role","operator":"In","values":["restore"]}]}]}'
  - operation: add
    path: "/spec/template/spec/tolerations"
    value: '[{"key":"restore","operator":"Exists","effect":"NoSchedule"}]'
"""
add("issue 8578 config", ISSUE_8578, ["deploy-growi", "deploy-other-ns", (deployment("growi", "gitea-prod"), "deployments.apps"),
    (pod("growi-mongodb-5dcfb75c59-qvdmt", "growi-prod"), "pods")])
add("issue 8578 pod-scoped workaround", ISSUE_8578.replace("deployments.apps", "pods").replace(
    "^(elasticsearch|growi|gitea-apps-k8s-deployment2|growi-mongodb)$", "^(growi-mongodb)-").replace("/spec/template/spec/", "/spec/").replace("/spec/template/", "/spec/"),
    [(pod("growi-mongodb-5dcfb75c59-qvdmt", "growi-prod"), "pods"), "deploy-growi"])
for p in ["/spec/template/", "/spec/template/spec/", "/spec/", "/metadata/labels/", "/spec/template//x", "//kind", "/"]:
    for op, val in [("add", '"{}"'), ("replace", '"{}"'), ("remove", None), ("test", "null"), ("test", '"{}"')]:
        add(f"trailing slash {op} {p} {val}", jp("deployments.apps", [(op, p, val)]), ["deploy"])

# ------------------------------------------------ JSON patch: indices, appends, tests

IDX = [
    ("replace image by index", [("replace", "/spec/template/spec/containers/0/image", "nginx:1.27")]),
    ("replace image index 1", [("replace", "/spec/template/spec/containers/1/image", "busybox:latest")]),
    ("replace image index out of range", [("replace", "/spec/template/spec/containers/2/image", "x")]),
    ("replace image negative index", [("replace", "/spec/template/spec/containers/-1/image", "x")]),
    ("replace image negative -2", [("replace", "/spec/template/spec/containers/-2/image", "x")]),
    ("replace image negative -3", [("replace", "/spec/template/spec/containers/-3/image", "x")]),
    ("leading zero index", [("replace", "/spec/template/spec/containers/00/image", "x")]),
    ("plus sign index", [("replace", "/spec/template/spec/containers/+1/image", "x")]),
    ("dash in replace", [("replace", "/spec/template/spec/containers/-", '{"name":"x"}')]),
    ("append container with -", [("add", "/spec/template/spec/containers/-", '{"name":"extra","image":"busybox"}')]),
    ("append env with -", [("add", "/spec/template/spec/containers/0/env/-", '{"name":"C","value":"3"}')]),
    ("add at index = len", [("add", "/spec/template/spec/containers/2", '{"name":"x","image":"y"}')]),
    ("add at index > len", [("add", "/spec/template/spec/containers/3", '{"name":"x","image":"y"}')]),
    ("add at -1", [("add", "/spec/template/spec/containers/-1", '{"name":"x","image":"y"}')]),
    ("add at -3", [("add", "/spec/template/spec/containers/-3", '{"name":"x","image":"y"}')]),
    ("add at -4", [("add", "/spec/template/spec/containers/-4", '{"name":"x","image":"y"}')]),
    ("add at 01", [("add", "/spec/template/spec/containers/01", '{"name":"x","image":"y"}')]),
    ("remove container 0", [("remove", "/spec/template/spec/containers/0")]),
    ("remove container -1", [("remove", "/spec/template/spec/containers/-1")]),
    ("remove container 5", [("remove", "/spec/template/spec/containers/5")]),
    ("remove container -", [("remove", "/spec/template/spec/containers/-")]),
    ("remove env by index 1", [("remove", "/spec/template/spec/containers/0/env/1")]),
    ("intermediate index out of range", [("replace", "/spec/template/spec/containers/9/image", "x")]),
    ("intermediate negative", [("replace", "/spec/template/spec/containers/-1/args/0", "x")]),
    ("add missing parent", [("add", "/spec/template/spec/affinity/nodeAffinity", "{}")]),
    ("add missing key", [("add", "/spec/template/spec/affinity", "{}")]),
    ("replace missing key", [("replace", "/spec/template/spec/affinity", "{}")]),
    ("remove missing key", [("remove", "/spec/paused")]),
    ("add replaces existing", [("add", "/spec/replicas", "1")]),
    ("test then replace ok", [("test", "/spec/replicas", "3"), ("replace", "/spec/replicas", "1")]),
    ("test then replace fails", [("test", "/spec/replicas", "2"), ("replace", "/spec/replicas", "1")]),
    ("test float vs int", [("test", "/spec/replicas", "3.0"), ("replace", "/spec/replicas", "1")]),
    ("test quoted number", [("test", "/spec/replicas", '"\\"3\\""'), ("replace", "/spec/replicas", "1")]),
    ("test on other path", [("test", "/metadata/labels/tier", "frontend"), ("add", "/spec/paused", "true")]),
    ("test on other path fails", [("test", "/metadata/labels/tier", "backend"), ("add", "/spec/paused", "true")]),
    ("test missing key null", [("test", "/spec/paused", "null"), ("add", "/spec/paused", "true")]),
    ("test missing key value", [("test", "/spec/paused", "false"), ("add", "/spec/paused", "true")]),
    ("test missing parent", [("test", "/spec/nothing/here", "null"), ("add", "/spec/paused", "true")]),
    ("test after failing op order", [("add", "/spec/paused", "true"), ("test", "/spec/replicas", "9")]),
    ("test whole object", [("test", "/spec/selector", '{"matchLabels":{"app":"web"}}'), ("add", "/spec/paused", "true")]),
    ("test object mismatch", [("test", "/spec/selector", '{"matchLabels":{"app":"x"}}'), ("add", "/spec/paused", "true")]),
    ("test array", [("test", "/spec/template/spec/containers/1/args", '["sleep","3600"]'), ("add", "/spec/paused", "true")]),
    ("test array index out of range", [("test", "/spec/template/spec/containers/7", '{}'), ("add", "/spec/paused", "true")]),
    ("test index non numeric", [("test", "/spec/template/spec/containers/x", '{}'), ("add", "/spec/paused", "true")]),
    ("test null added in same patch", [("add", "/spec/paused", "null"), ("test", "/spec/paused", "null")]),
    ("move label", [("move", "/metadata/labels/moved", None, "/metadata/labels/tier")]),
    ("move missing from", [("move", "/metadata/labels/moved", None, "/metadata/labels/nothing")]),
    ("move into itself", [("move", "/spec/template/x", None, "/spec/template")]),
    ("move container order", [("move", "/spec/template/spec/containers/0", None, "/spec/template/spec/containers/1")]),
    ("copy container to end", [("copy", "/spec/template/spec/containers/-", None, "/spec/template/spec/containers/0")]),
    ("copy from root empty token", [("copy", "/metadata/annotations/snap", None, "/")]),
    ("copy missing from", [("copy", "/metadata/x", None, "/metadata/nothing")]),
    ("escaped tokens", [("add", "/metadata/annotations/example.com~1team", "a"), ("add", "/metadata/annotations/t~0x", "b")]),
    ("atomic rule: second op fails", [("replace", "/spec/replicas", "1"), ("remove", "/spec/nothing")]),
    ("remove kind", [("remove", "/kind")]),
    ("replace kind with number", [("replace", "/kind", "5")]),
    ("replace apiVersion bad", [("replace", "/apiVersion", "a/b/c")]),
    ("replace metadata with array", [("replace", "/metadata", "[]")]),
    ("remove metadata labels", [("remove", "/metadata/labels")]),
    ("uppercase op", [("Add", "/spec/paused", "true")]),
    ("mixed case op", [("rePlace", "/spec/replicas", "1")]),
    ("remove with value ignored", [("remove", "/metadata/annotations/foo", "x")]),
]
for name, ops in IDX:
    add(f"jsonpatch: {name}", jp("deployments.apps", ops), ["deploy"])

# Paths and froms are formatted into the operation JSON unescaped, like values.
for name, ops in [
    ("path with quote", [("add", '/metadata/annotations/a"b', "x")]),
    ("path with escaped backslash", [("add", "/metadata/annotations/a\\\\b", "x")]),
    ("path with backslash n", [("add", "/metadata/annotations/a\\nb", "x")]),
    ("path with unicode", [("add", "/metadata/annotations/ключ", "x")]),
    ("path with ~2", [("add", "/metadata/annotations/a~2", "x")]),
    ("path with ~01", [("add", "/metadata/annotations/a~01", "x")]),
    ("path injects op", [("add", '/metadata/annotations/foo", "op": "remove', "x")]),
    ("from injects op", [("add", "/metadata/annotations/z", "x", '", "op": "remove", "path": "/metadata/annotations/foo')]),
    ("path without leading slash", [("add", "metadata/annotations/x", "x")]),
    ("path //", [("add", "//", "x")]),
    ("huge integer value", [("add", "/metadata/annotations/n", "12345678901234567890")]),
    ("huge integer replicas", [("replace", "/spec/replicas", "12345678901234567890")]),
    ("negative zero float", [("replace", "/spec/replicas", "-0.0")]),
    ("exponent value", [("replace", "/spec/replicas", "1E2")]),
    ("value dash", [("add", "/metadata/annotations/d", "-")]),
]:
    add(f"jsonpatch: {name}", jp("deployments.apps", ops), ["deploy"])

# Same ops on pods and statefulsets paths
for name, ops in [
    ("pod image by index", [("replace", "/spec/containers/0/image", "nginx:1.27")]),
    ("pod append toleration", [("add", "/spec/tolerations/-", '{"key":"k","operator":"Exists"}')]),
    ("pod add tolerations -1", [("add", "/spec/tolerations/-1", '{"key":"k","operator":"Exists"}')]),
    ("pod remove init container", [("remove", "/spec/initContainers/0")]),
    ("pod replace nodeSelector", [("replace", "/spec/nodeSelector", '{"disk":"hdd"}')]),
]:
    add(f"jsonpatch: {name}", jp("pods", ops), ["pod"])

# ------------------------------------------------ value conversion heuristic

VALUES = [
    '"plain"', "plain", "'3'", "3", "3.0", "1.5", "1e3", "1e400", "-0", "0.1", "1_000", "0x1F", "010", "08",
    "yes", "no", "on", "off", "true", "false", "True", "FALSE", "'True'", "'NaN'", "'inf'", "'+1'", "'.5'",
    "'1.'", "'01'", "'0x10'", "'0x1p3'", "null", "~", "''", "'null'", "'\"null\"'", "'\"true\"'",
    "'\"3\"'", "'\"'", "'\"\"'", "'\"a'", "'{}'", "'[]'", "'[1, 2]'", "'{\"a\": 1}'", "'{abc'", "'[a-z]'",
    "'{\"a\":1}}'", "'a\"b'", "'a\\\\b'", "'C:\\\\new'", "'C:\\new'", "'tab\\there'", "\"line\\nbreak\"",
    "\"tab\\tinside\"", "'日本語'", "'emoji 😀'", "'ünïcödé'", "'\\u00e9'", "\"\\u00e9\"", "'a\\\\\"b'",
    "'x\", \"op\": \"remove'", "'  spaced  '", "' 3'", "'3 '", "2001-12-14", "'@home'", "'#hash'",
    "'100Mi'", "'500m'", "1.0e+2", ".inf", "-.inf", ".nan", "0o17", "+12", "!!str 12", "!!int '12'",
    "|\n      multi\n      line", ">\n      folded text", "'\\u0041'",
]
for i, v in enumerate(VALUES):
    add(f"value[{i}] {v!r}", jp("deployments.apps", [("add", "/metadata/annotations/v", v)]), ["deploy"])
    if i % 3 == 0:
        add(f"test value[{i}] {v!r}", jp("configmaps", [("test", "/data/a", v), ("add", "/data/ok", "yes")]), ["cm"])

for path, val in [("/x/int", "5"), ("/x/int", "5.0"), ("/x/float", "1.5"), ("/x/float", "1.50"), ("/x/big", "123456789012"),
                  ("/x/neg", "-3"), ("/x/zero", "0"), ("/x/zero", "-0"), ("/x/t", "true"), ("/x/t", "True"), ("/x/n", "null"),
                  ("/x/n", "0"), ("/x/obj/a/b", "'[1,2,3]'"), ("/x/obj/a/b", "'[1, 2, 3.0]'"), ("/x/obj", "'{\"a\": {\"b\": [1, 2, 3]}}'"),
                  # Comparing an array that holds null panics inside evanphx (nil lazyNode): not in the corpus.
                  ("/x/list/3", "'{\"k\":\"v\"}'"), ("/x/list/2", "null"), ("/x/list/-1", "'{\"k\":\"v\"}'"),
                  ("/x/obj/a/b/1", "2"), ("/x/unicode", "'日本語 ✓'"), ("/x/unicode", "'\"日本語 ✓\"'"),
                  ("/x/quote", "'say \"hi\"'"), ("/x/quote", "'\"say \\\"hi\\\"\"'"), ("/x/empty", "''"), ("/x/sci", "1e-7"),
                  ("/x/sci", "1e-07"), ("/x/sci", "0.0000001"), ("/x/missing", "null"), ("/data/s", "str"), ("/data/s", "'\"str\"'")]:
    add(f"matches {path}={val}", rule("configmaps", "  patches:\n  - operation: add\n    path: /data/hit\n    value: yes\n",
        f"    matches:\n    - path: {path}\n      value: {val}\n"), ["nums"])
    add(f"test-op {path}={val}", jp("configmaps", [("test", path, val), ("add", "/data/hit", "yes")]), ["nums"])

# ------------------------------------------------ merge patches

MERGES = [
    ("remove annotation", "metadata:\n        annotations:\n          foo: null\n"),
    ("add labels yaml", "metadata:\n        labels:\n          new: label\n          app: null\n"),
    ("json with nulls in new object", '{"spec": {"template": {"metadata": {"annotations": {"a": "1", "b": null}}}}}'),
    ("null inside array of new key", '{"spec": {"extra": [{"a": null, "b": 1}, null]}}'),
    ("replace containers list", '{"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x", "env": null}]}}}}'),
    ("scalar over object", '{"spec": {"strategy": "Recreate"}}'),
    ("object over scalar pruned", '{"spec": {"replicas": {"a": null, "b": 2}}}'),
    ("delete missing key", '{"metadata": {"nothing": null}}'),
    ("set replicas number", "spec:\n        replicas: 010\n"),
    ("yaml booleans", "spec:\n        paused: yes\n"),
    ("float value", "spec:\n        x: 1.0\n        y: 2.5\n        z: 1e3\n"),
    ("remove kind", "kind: null\n"),
    ("patch is array", "- a\n- b\n"),
    ("patch is scalar", "hello\n"),
    ("patch is null", "null\n"),
    ("patch empty", ""),
    ("patch invalid yaml", "{a: [\n"),
    ("patch with inf", "spec:\n        x: .inf\n"),
    ("unicode keys", '{"metadata": {"annotations": {"ключ": "значение", "emoji": "😀"}}}'),
    ("int keys", "metadata:\n        annotations:\n          1: one\n          true: yes\n"),
]
for name, data in MERGES:
    body = "  mergePatches:\n  - patchData: |\n      " + data.replace("\n", "\n      ").rstrip() + "\n" if data else "  mergePatches:\n  - patchData: ''\n"
    add(f"merge: {name}", rule("deployments.apps", body), ["deploy"])
add("merge: two patches sequential", rule("*", "  mergePatches:\n  - patchData: '{\"metadata\":{\"labels\":{\"a\":\"1\"}}}'\n  - patchData: '{\"metadata\":{\"labels\":{\"a\":null,\"b\":\"2\"}}}'\n"), ["pod", "cm", "pv"])
add("merge: array then object", rule("*", "  mergePatches:\n  - patchData: '[1]'\n  - patchData: '{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"z\"}}'\n"), ["cm"])

# ------------------------------------------------ strategic patches

SMPS = [
    ("container image by name", '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}}}'),
    ("new container appended", '{"spec":{"template":{"spec":{"containers":[{"name":"new","image":"x"}]}}}}'),
    ("env merge by name", '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"2"},{"name":"C","value":"3"}]}]}}}}'),
    ("env delete directive", '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"A","$patch":"delete"}]}]}}}}'),
    ("volume add", '{"spec":{"template":{"spec":{"volumes":[{"name":"extra","emptyDir":{}}]}}}}'),
    ("volume replace by name", '{"spec":{"template":{"spec":{"volumes":[{"name":"cache","emptyDir":{"medium":"Memory"}}]}}}}'),
    ("tolerations replaced (atomic list)", '{"spec":{"template":{"spec":{"tolerations":[{"key":"restore","operator":"Exists"}]}}}}'),
    ("affinity added", '{"spec":{"template":{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"In","values":["b"]}]}]}}}}}}'),
    ("nodeSelector null deletes", '{"spec":{"template":{"spec":{"nodeSelector":null}}}}'),
    ("args replaced", '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","args":["sleep","10"]}]}}}}'),
    ("ports merge by containerPort", '{"spec":{"template":{"spec":{"containers":[{"name":"app","ports":[{"containerPort":8080}]}]}}}}'),
    ("labels merge", "metadata:\n        labels:\n          extra: x\n"),
    ("replicas yaml", "spec:\n        replicas: 1\n"),
    ("containers $patch replace", '{"spec":{"template":{"spec":{"containers":[{"name":"solo","image":"x"},{"$patch":"replace"}]}}}}'),
    ("retainKeys strategy", '{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}'),
    ("unknown field list", '{"spec":{"bogus":[{"a":1}]}}'),
    ("unknown scalar field", '{"spec":{"bogus":1}}'),
    ("patch is array", "[1, 2]"),
    ("empty patch", "{}"),
]
for name, data in SMPS:
    add(f"smp: {name}", rule("*.apps", "  strategicPatches:\n  - patchData: |\n      " + data.replace("\n", "\n      ").rstrip() + "\n"), ["deploy", "sts"])
for name, data in [
    ("pod container image", '{"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}'),
    ("pod toleration", '{"spec":{"tolerations":[{"key":"x","operator":"Exists"}]}}'),
    ("pod env", '{"spec":{"containers":[{"name":"sidecar","env":[{"name":"S","value":"1"}]}]}}'),
    ("pod volumes", '{"spec":{"volumes":[{"name":"data","$patch":"delete"}]}}'),
    ("pod initContainers", '{"spec":{"initContainers":[{"name":"restore-wait","image":"other"}]}}'),
]:
    add(f"smp: {name}", rule("pods", "  strategicPatches:\n  - patchData: '" + data + "'\n"), ["pod"])
add("smp: job", rule("jobs.batch", "  strategicPatches:\n  - patchData: '{\"spec\":{\"backoffLimit\":5,\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"y\"}]}}}}'\n"), ["job"])
add("smp: ingress unsupported kind", rule("*.networking.k8s.io", "  strategicPatches:\n  - patchData: '{\"metadata\":{\"labels\":{\"a\":\"b\"}}}'\n"), ["ingress"])
add("smp: two sequential", rule("deployments.apps", "  strategicPatches:\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"new\",\"image\":\"x\"}]}}}}'\n  - patchData: '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"new\",\"image\":\"y\"}]}}}}'\n"), ["deploy"])

# ------------------------------------------------ conditions

for gr in ["deployments", "deployments.apps", "*.apps", "*", "*.*", "**", "deploy*", "{deployments,pods}.apps", "{pods,deployments.apps}",
           "deployments.app?", "[a-z]*.apps", "[!p]*.apps", "[", "deployments.[", "{deployments.apps", "\\*.apps", "*s.apps", "?*.apps",
           "deployments.apps.", "DEPLOYMENTS.APPS"]:
    add(f"groupResource {gr}", jp(json.dumps(gr), [("add", "/metadata/labels/hit", "yes")]), ["deploy", "pod"])
for nss in [["prod"], ["pr*"], ["*"], ["other"], ["[bad"], ["[bad", "prod"], ["prod", "[bad"], ["a[", "zzz", "prod"],
            ["p?od"], ["{prod,dev}"], [""], ["*", "nothing"], ["PROD"]]:
    conds = "    namespaces:\n" + "".join(f"    - {json.dumps(n)}\n" for n in nss)
    add(f"namespaces {nss}", jp("'*'", [("add", "/metadata/labels/hit", "yes")], conds), ["cm", "pv", (configmap_obj("x", "dev"), "configmaps")])
for rx in ["^web$", "web", "^w", "eb$", "^WEB$", "(?i)^WEB$", "^\\w+$", "\\d", "^[a-z]+$", "[", "(", "a**", "\\Qweb\\E",
           "^\\Qw.b\\E$", "\\<web", "web{", "x{1001}", "(?P<n>web)", "(?<n>web)", "\\bweb\\b", "[[:alpha:]]+", "\\pL+", "\\p{Greek}",
           "[\\d]", "\\u0077", "(?x) w e b", "^(web|api)$", "^$", ".", "[^a-z]", "\\101", "a{,3}", "(?)web", "(?i-s:WEB)",
           "[a-\\d]", "\\z", "^web\\z", "[[]", "[a&&b]", "é", "^.{3}$", "^.{1,2}$", "w(?=e)"]:
    add(f"regex {rx}", jp("'*'", [("add", "/metadata/labels/hit", "yes")], f"    resourceNameRegex: {json.dumps(rx)}\n"),
        [(configmap_obj("web", "prod"), "configmaps")] + ([(configmap_obj("é-web-42", "prod"), "configmaps")] if rx in ("\\d", "^\\w+$", "é", "^.{3}$", "\\bweb\\b", "\\pL+") else []))
SELECTORS = [
    "matchLabels:\n        app: web",
    "matchLabels:\n        app: other",
    "matchLabels: {}",
    "{}",
    "null",
    "matchExpressions:\n      - {key: app, operator: In, values: [web, api]}",
    "matchExpressions:\n      - {key: app, operator: NotIn, values: [web]}",
    "matchExpressions:\n      - {key: missing, operator: NotIn, values: [web]}",
    "matchExpressions:\n      - {key: app, operator: Exists}",
    "matchExpressions:\n      - {key: app, operator: DoesNotExist}",
    "matchExpressions:\n      - {key: app, operator: in, values: [web]}",
    "matchExpressions:\n      - {key: app, operator: In, values: []}",
    "matchExpressions:\n      - {key: app, operator: Exists, values: [x]}",
    "matchExpressions:\n      - {key: '-bad', operator: Exists}",
    "matchExpressions:\n      - {key: app, operator: In, values: ['bad value']}",
    "matchExpressions:\n      - {key: app, operator: Gt, values: ['1']}",
    "matchLabels:\n        app: web\n      matchExpressions:\n      - {key: tier, operator: DoesNotExist}",
    "matchLabels:\n        n: 1",
    "matchLabels:\n        b: yes",
]
for s in SELECTORS:
    add(f"labelSelector {s!r}", jp("'*'", [("add", "/metadata/annotations/hit", "yes")], f"    labelSelector:\n      {s}\n"),
        ["cm", (configmap_obj("lbl", "prod") | {"metadata": meta("lbl", "prod", {"app": "web", "n": "1", "b": "true"})}, "configmaps"),
         ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd", "namespace": "prod", "labels": {"app": "web", "n": 1}}}, "configmaps")])

# ------------------------------------------------ more pattern edge cases (glob x groupResource, regex x name)

# Not here: "{*,x}.apps", "*{", "deployments.apps{" — gobwas' optimising compiler deviates from the
# pattern's meaning (or panics); fsb-modifiers flags such globs via Glob::is_exact / inexact_rules.
GLOBS = ["{a,b}*", "*{s,}.apps", "**.apps", "*.{apps,batch}", "[!.]*", "?", "?????", "*.?pps", "[a-d]*.[a-z]*",
         "{deployments,pods}", "{}", "{,}", "a,b", "}", "\\", "[\\]]*", "**s", "*s*", "[--z]*", "[!-]*", "{de{ploy,x}ments}.apps",
         "*.*.*", "*.k8s.io", "**.k8s.io", "*.networking.k8s.io"]
GRS = ["deployments.apps", "pods", "ingresses.networking.k8s.io", "jobs.batch", "a", "b.apps"]
for g in GLOBS:
    for gr in GRS:
        add(f"glob {g!r} vs {gr}", rule(json.dumps(g), "  patches:\n  - operation: add\n    path: /metadata/labels/hit\n    value: yes\n"),
            [(configmap_obj("g", "prod"), gr)])
REGEXES = ["^*", "a{0}", "(?i)É", "\\x{41}", "[\\x41-\\x43]", "\\.", "\\-", "a|*", "^.{1001}", "x{2}{3}", "(?U)a+", "(?m)^b",
           "(?s).", "\\C", "\\Z", "\\e", "\\pN", "\\p{^L}", "\\PL", "[^\\n]", "[[:^digit:]]", "[[:word:]]", "[[:foo:]]",
           "\\0", "\\08", "\\177", "[\\b]", "\\Q", "\\Qa\\", "(a)(?P<x>b)", "(?P<x-y>a)", "(?<1a>a)", "\\k<a>", "$^", "(?i:A)B",
           "[a-]", "[]a]", "[^]a]", "[a-b-c]", "\\123", "\\x4", "\\x{110000}", "\\v", "\\a", "(?-i)a", "(?i-)a", "(?--i)a", "((a)",
           "a{2,1}", "a{1000}", "a{1,1000}", "a{,}", "\\{", "}", "]", "a]",
           "(a{1000}){1000}", "((a{100}){100}){100}", "(?:a{2}){500}", "[a-z]{1000}", "\\pL{1000}", "((((((((((a))))))))))",
           "(?i)[k]", "(?i)ſ", "(?i)K", "\\W", "\\S+", "[\\s\\S]", "[^\\x00-\\x{10FFFF}]", "x*?", "x+?y", "(|a)b", "a||b",
           "(a{10}){100}", "(a{10}){101}", "(a{2,}){600}", "(a{0}){1000}", "((a{10})*){101}", "(a{1,}){1000}", "(?:a{10}|b{200}){5}",
           "(?i:a{10}){100}", "(?i)(a{10}){101}", "a{0,0}{3}", "[{]{2}(x{3}){400}",
           "\\p{Alphabetic}", "\\p{White_Space}", "\\p{Lu}", "\\p{Latin}", "\\p{Any}", "\\p{L&}", "\\p{greek}", "\\pZ",
           "\\p{Uppercase_Letter}", "\\p{ascii}", "\\p{Old_Italic}", "\\p{Assigned}", "\\p{^Lu}", "\\P{^Lu}", "\\p{Cntrl}",
           "[\\p{Lu}\\d]+", "\\p{Han}"]
NAMES = ["web", "AB", "a1b", "x\ny", "É"]
for rx in REGEXES:
    add(f"regex2 {rx!r}", rule("'*'", "  patches:\n  - operation: add\n    path: /metadata/labels/hit\n    value: yes\n",
        f"    resourceNameRegex: {json.dumps(rx)}\n"), [(configmap_obj(n, "prod"), "configmaps") for n in NAMES])

# ------------------------------------------------ multiple rules

MULTI = """version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    matches:
    - path: /spec/replicas
      value: "3"
  patches:
  - operation: replace
    path: /spec/replicas
    value: "1"
- conditions:
    groupResource: deployments.apps
    matches:
    - path: /spec/replicas
      value: "1"
  patches:
  - operation: add
    path: /metadata/labels/second
    value: "ran"
- conditions:
    groupResource: deployments.apps
    labelSelector:
      matchLabels:
        tier: frontend
  patches:
  - operation: remove
    path: /metadata/labels/tier
- conditions:
    groupResource: deployments.apps
    labelSelector:
      matchLabels:
        tier: frontend
  patches:
  - operation: remove
    path: /metadata/labels/tier
- conditions:
    groupResource: deployments.apps
  patches:
  - operation: test
    path: /spec/replicas
    value: "3"
  - operation: add
    path: /metadata/labels/sees-patched
    value: "no"
- conditions:
    groupResource: "["
  patches:
  - operation: add
    path: /metadata/labels/never
    value: "x"
- conditions:
    groupResource: deployments.apps
  mergePatches:
  - patchData: '{"metadata":{"labels":{"merged":"yes"}}}'
- conditions:
    groupResource: deployments.apps
- conditions:
    groupResource: deployments.apps
  strategicPatches:
  - patchData: '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"final"}]}}}}'
"""
add("multi-rule: origin conditions, cumulative patches", MULTI, ["deploy", "pod", (deployment("web", "prod", {"app": "web"}), "deployments.apps")])
add("single rule sees itself", jp("deployments.apps", [("replace", "/spec/replicas", "1")],
    "    matches:\n    - path: /spec/replicas\n      value: \"3\"\n"), ["deploy"])

# ------------------------------------------------ parsing: valid variants and invalid configs

BASE_OPS = "  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: \"1\"\n"
PARSE = [
    ("version V1", "version: V1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("version v2", "version: v2\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("version missing", "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("version number 1", "version: 1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("empty rules", "version: v1\nresourceModifierRules: []\n"),
    ("null rules", "version: v1\nresourceModifierRules:\n"),
    ("no rules key", "version: v1\n"),
    ("empty document", ""),
    ("comment only", "# nothing\n"),
    ("unknown top field", "version: v1\nextra: 1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("unknown condition field", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n    namespace: x\n" + BASE_OPS),
    ("unknown patch field", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /a\n    value: x\n    op: add\n"),
    ("duplicate key", "version: v1\nversion: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("duplicate nested key", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n    groupResource: pods\n" + BASE_OPS),
    ("case-insensitive fields", "Version: v1\nResourceModifierRules:\n- Conditions:\n    GroupResource: '*'\n  Patches:\n  - Operation: add\n    PATH: /metadata/labels/ok\n    Value: \"1\"\n"),
    ("case variants both present", "version: v1\nVersion: v2\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("two patch kinds", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS + "  mergePatches:\n  - patchData: '{}'\n"),
    ("bad operation", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: upsert\n    path: /a\n"),
    ("empty operation", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - path: /a\n"),
    ("empty path", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    value: x\n"),
    ("empty groupResource", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: ''\n" + BASE_OPS),
    ("no conditions", "version: v1\nresourceModifierRules:\n- patches:\n  - operation: add\n    path: /a\n    value: x\n"),
    ("value is a map", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: {a: 1}\n"),
    ("value is a list", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: [1]\n"),
    ("namespaces is a string", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n    namespaces: prod\n" + BASE_OPS),
    ("namespaces numbers", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n    namespaces: [1, yes]\n" + BASE_OPS),
    ("rules is a map", "version: v1\nresourceModifierRules: {a: 1}\n"),
    ("document is a list", "- version: v1\n"),
    ("yaml syntax error", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*\n"),
    ("tab indentation", "version: v1\nresourceModifierRules:\n-\tconditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("tab after colon", "version:\tv1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("tab after colon and space", "version: \tv1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("tab after value", "version: v1\t\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\t# c\n" + BASE_OPS),
    ("tab-only blank line", "version: v1\n\t\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("tab inside quoted value", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: \"a\\tb\"\n"),
    ("tabs in flow", "version: v1\nresourceModifierRules: [\t{conditions: {groupResource:\t'*'}, mergePatches: [{patchData: '{}'}]}]\n"),
    ("tabs in block scalar", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  mergePatches:\n  - patchData: |\n      {\n      \t\"metadata\": {\"labels\": {\"t\": \"x\"}}\n      }\n"),
    ("tab in plain scalar", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: a\tb\n"),
    ("tab after dash and space", "version: v1\nresourceModifierRules:\n- \tconditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("tab in indentation after spaces", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  \tpatches:\n"),
    ("tab after sequence dash in value", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n    namespaces:\n    -\tprod\n" + BASE_OPS),
    ("tab after nested colon", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource:\t'*'\n" + BASE_OPS),
    ("nested mapping on one line", "version: v1: x\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("no space after colon", "version:v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("yaml 1.1 directive", "%YAML 1.1\n---\nversion: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("yaml 1.2 directive", "%YAML 1.2\n---\nversion: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("yaml 2.0 directive", "%YAML 2.0\n---\nversion: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("binary tag", "version: !!binary djE=\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("bom", "\ufeffversion: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("crlf", ("version: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS).replace("\n", "\r\n")),
    ("explicit start and end", "---\nversion: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS + "...\n"),
    ("complex key", "? version\n: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("bad indentation", "version: v1\n  extra: x\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("map tag", "!!map\nversion: v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("multi-line plain value", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: first\n      second\n"),
    ("single-quoted multi-line", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: 'a\n      b'\n"),
    ("anchor merge duplicate", "version: v1\nresourceModifierRules:\n- conditions:\n    <<: {groupResource: pods}\n    groupResource: '*'\n" + BASE_OPS),
    ("alias to scalar", "version: &v v1\nresourceModifierRules:\n- conditions:\n    groupResource: *v\n" + BASE_OPS),
    ("undefined alias", "version: *nope\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("int tag on string", "version: !!int v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("float tag on int", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - operation: add\n    path: /metadata/labels/ok\n    value: !!float 3\n"),
    ("custom tag", "version: !foo v1\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("null key", "version: v1\n~: x\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("flow seq key", "version: v1\n[a]: x\n" + "resourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("json document", '{"version":"v1","resourceModifierRules":[{"conditions":{"groupResource":"*"},"patches":[{"operation":"add","path":"/metadata/labels/ok","value":"1"}]}]}'),
    ("anchors and aliases", "version: v1\nresourceModifierRules:\n- conditions: &c\n    groupResource: '*'\n" + BASE_OPS + "- conditions: *c\n" + BASE_OPS.replace("ok", "ok2")),
    ("merge key", "version: v1\nresourceModifierRules:\n- conditions:\n    <<: {groupResource: '*'}\n" + BASE_OPS),
    ("second document ignored", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS + "---\nversion: v2\n"),
    ("explicit str tag", "version: !!str v1\nresourceModifierRules:\n- conditions:\n    groupResource: !!str '*'\n" + BASE_OPS),
    ("null entries", "version: v1\nresourceModifierRules:\n- null\n"),
    ("null patch entry", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches:\n  - null\n"),
    ("patches null", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  patches: null\n"),
    ("matches empty path", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n    matches:\n    - value: x\n" + BASE_OPS),
    ("int key at top", "version: v1\n1: x\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("bool-ish version yes", "version: yes\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS),
    ("groupResource number", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: 5\n" + BASE_OPS),
    ("flow style", "{version: v1, resourceModifierRules: [{conditions: {groupResource: '*'}, patches: [{operation: add, path: /metadata/labels/ok, value: '1'}]}]}"),
    ("literal block patchData", "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n  mergePatches:\n  - patchData: >\n      {\"metadata\": {\"labels\": {\"folded\": \"yes\"}}}\n"),
]
for name, text in PARSE:
    add(f"parse: {name}", text, ["cm", "pv"])

# ------------------------------------------------ rule sequences
# Several rules on one item. Each applied patch makes Velero re-decode the item (an integral
# float64 becomes an int64, which a strategic merge key then matches; a uint64 beyond int64 a
# float64); a rule that fails or is skipped leaves the item exactly as before it (not re-decoded);
# a test after an add in one JSON patch compares the added bytes; a number a patch inserts keeps
# its own value (`80.0` a float64) until the next patch re-decodes the item.

def float_pod():
    p = pod("float-pod", "ns1", {"app": "web"})
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80.0, "protocol": "TCP"}]
    p["spec"]["x"] = {"two": 2.0, "huge": 18446744073709551615, "negzero": -0.0}
    return p

OBJS["float-pod"] = (float_pod(), "pods")

def seq(*rules_):
    """rules_: (groupResource, body) pairs, body as for rule()."""
    return "version: v1\nresourceModifierRules:\n" + "".join(
        f"- conditions:\n    groupResource: {gr}\n{body}" for gr, body in rules_)

def jp_body(ops):
    return jp("x", ops).split("groupResource: x\n", 1)[1]

PORT_SMP = ("pods", "  strategicPatches:\n  - patchData: '{\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":[{\"containerPort\":80,\"name\":\"http\"}]}]}}'\n")
LABEL_JP = ("pods", jp_body([("add", "/metadata/labels/seq", "one")]))
FAIL_AFTER_WRITE = ("pods", jp_body([("replace", "/metadata/name", "renamed"), ("remove", "/metadata/nothing")]))
SKIP_FIRST = ("pods", jp_body([("test", "/metadata/name", "other"), ("add", "/metadata/labels/no", "x")]))
LABEL_MERGE = ("pods", "  mergePatches:\n  - patchData: '{\"metadata\":{\"labels\":{\"merged\":\"yes\"}}}'\n")
SEQUENCES = [
    ("smp alone keeps float merge key apart", [PORT_SMP]),
    ("json patch re-decodes float merge key", [LABEL_JP, PORT_SMP]),
    ("merge patch re-decodes float merge key", [LABEL_MERGE, PORT_SMP]),
    ("failed rule after write does not re-decode", [FAIL_AFTER_WRITE, PORT_SMP]),
    ("skipped rule does not re-decode", [SKIP_FIRST, PORT_SMP]),
    ("failed rule between applied ones", [LABEL_JP, FAIL_AFTER_WRITE, LABEL_MERGE, PORT_SMP]),
    ("move then failure leaves item", [("pods", jp_body([("move", "/spec/x/moved", None, "/spec/x/two"), ("remove", "/spec/x/nothing")])), LABEL_JP]),
    ("merged float then json test", [("pods", "  mergePatches:\n  - patchData: '{\"spec\":{\"x\":{\"three\":3.0}}}'\n"),
                                     ("pods", jp_body([("test", "/spec/x/three", "3"), ("add", "/metadata/labels/tested", "yes")]))]),
    ("test after add sees added bytes", [("pods", jp_body([("add", "/spec/x/new", "'1.0'"), ("test", "/spec/x/new", "1")]))]),
    ("test after add of null", [("pods", jp_body([("add", "/spec/x/nothing", "null"), ("test", "/spec/x/nothing", "null")]))]),
    ("merge patch uint64 beyond int64", [("pods", "  mergePatches:\n  - patchData: '{\"spec\":{\"x\":{\"u\":18446744073709551615}}}'\n"), LABEL_JP]),
    ("json patch inserts float merge key", [("pods", jp_body([("replace", "/spec/containers/0/ports/0/containerPort", "'80.0'")])), PORT_SMP]),
    ("smp error after json patch", [LABEL_JP, ("pods", "  strategicPatches:\n  - patchData: '{\"spec\":{\"containers\":[{\"image\":\"no-name\"}]}}'\n"), LABEL_MERGE]),
    ("second smp patch fails", [("pods", "  strategicPatches:\n  - patchData: '{\"metadata\":{\"labels\":{\"first\":\"yes\"}}}'\n  - patchData: '{\"spec\":{\"containers\":[{\"image\":\"no-name\"}]}}'\n"), PORT_SMP]),
    ("kind removed by merge then json patch", [("pods", "  mergePatches:\n  - patchData: '{\"kind\":null}'\n"), LABEL_JP]),
]
for name, rs in SEQUENCES:
    add(f"sequence: {name}", seq(*rs), ["float-pod", "pod"])

GOOD = "version: v1\nresourceModifierRules:\n- conditions:\n    groupResource: '*'\n" + BASE_OPS
for name, cm in [
    ("configmap one key", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rm", "namespace": "velero"}, "data": {"rules.yaml": GOOD}}),
    ("configmap any key name", {"data": {"whatever": GOOD}}),
    ("configmap two keys", {"data": {"a.yaml": GOOD, "b.yaml": GOOD}}),
    ("configmap no data", {"metadata": {"name": "rm"}}),
    ("configmap empty data", {"data": {}}),
    ("configmap binaryData only", {"binaryData": {"a": "eA=="}}),
    ("configmap invalid rules", {"data": {"a": "version: v9\n"}}),
]:
    add(f"configmap: {name}", None, ["cm"], configmap=cm)

print(len(cases))
with open(os.path.join(HERE, "cases.json"), "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
    f.write("\n")
