#!/usr/bin/env python3
"""Writes tests/corpus/smp/generated.json: strategic-merge-patch cases for the Go oracle and the
Rust evaluator. Inputs only — expected answers come from the Go oracle at test time.

Pod templates are built from a few bases and a table of hand-written mutations (the kinds of change
resource modifiers make), then combined: diff cases (T -> T'), diff-then-apply onto a pod that holds
extra members (restore-wait init container, sidecar, extra volume/env/toleration), and semantic
equality pairs. Deterministic (fixed seed)."""
import copy
import json
import os
import random

random.seed(8578)


def container(name, image, **kw):
    c = {"name": name, "image": image}
    c.update(kw)
    return c


BASES = {
    "simple": {
        "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
        "spec": {"containers": [container("web", "nginx:1.25")]},
    },
    "rich": {
        "metadata": {
            "labels": {"app": "api", "tier": "backend"},
            "annotations": {"prometheus.io/scrape": "true"},
        },
        "spec": {
            "containers": [
                container(
                    "api",
                    "example/api:1.0",
                    env=[{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}],
                    ports=[{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090, "name": "metrics"}],
                    volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}],
                    resources={"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
                    args=["--port=8080", "--verbose"],
                ),
                container("proxy", "envoy:1.30", ports=[{"containerPort": 15001}]),
            ],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}},
                {"name": "cfg", "configMap": {"name": "api-cfg"}},
            ],
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"}],
            "nodeSelector": {"disk": "ssd"},
            "serviceAccountName": "api",
            "terminationGracePeriodSeconds": 30,
        },
    },
    "init": {
        "metadata": {"labels": {"app": "db"}},
        "spec": {
            "initContainers": [container("migrate", "example/migrate:2", command=["/migrate", "up"])],
            "containers": [
                container("db", "postgres:16", env=[{"name": "PGDATA", "value": "/var/lib/pg"}],
                          volumeMounts=[{"name": "pg", "mountPath": "/var/lib/pg"}]),
            ],
            "volumes": [{"name": "pg", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "regcred"}],
            "securityContext": {"fsGroup": 999},
        },
    },
}


def spec(t):
    return t.setdefault("spec", {})


def first(t):
    return spec(t)["containers"][0]


def m_image(t):
    first(t)["image"] = first(t)["image"].split(":")[0] + ":9.9"


def m_add_env(t):
    first(t).setdefault("env", []).append({"name": "NEW_VAR", "value": "x"})


def m_change_env(t):
    env = first(t).setdefault("env", [])
    if env:
        env[0]["value"] = "changed"
    else:
        env.append({"name": "ONLY", "value": "v"})


def m_remove_env(t):
    env = first(t).get("env")
    if env:
        env.pop()
    else:
        first(t)["env"] = [{"name": "E1", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def m_env_valuefrom(t):
    env = first(t).setdefault("env", [])
    env.append({"name": "SECRET_PW", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "password"}}})


def m_add_container(t):
    spec(t)["containers"].append(container("logger", "fluent-bit:3", args=["-c", "/fb.conf"]))


def m_remove_container(t):
    cs = spec(t)["containers"]
    if len(cs) > 1:
        cs.pop()
    else:
        cs[0]["name"] = "renamed"


def m_reorder_containers(t):
    cs = spec(t)["containers"]
    if len(cs) > 1:
        cs.reverse()
    else:
        cs.insert(0, container("first", "busybox"))


def m_add_volume(t):
    spec(t).setdefault("volumes", []).append({"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}})
    first(t).setdefault("volumeMounts", []).append({"name": "cache", "mountPath": "/cache"})


def m_remove_volume(t):
    vols = spec(t).get("volumes")
    if vols:
        gone = vols.pop()
        for c in spec(t)["containers"]:
            c["volumeMounts"] = [m for m in c.get("volumeMounts", []) if m["name"] != gone["name"]]
            if not c["volumeMounts"]:
                del c["volumeMounts"]
        if not vols:
            del spec(t)["volumes"]
    else:
        spec(t)["volumes"] = [{"name": "tmp", "emptyDir": {"medium": "Memory"}}]


def m_volume_source(t):
    vols = spec(t).get("volumes")
    if vols:
        vols[-1].pop("configMap", None)
        vols[-1].pop("emptyDir", None)
        vols[-1].pop("persistentVolumeClaim", None)
        vols[-1]["secret"] = {"secretName": "s3cr3t", "defaultMode": 420}
    else:
        spec(t)["volumes"] = [{"name": "sec", "secret": {"secretName": "x"}}]


def m_add_toleration(t):
    spec(t).setdefault("tolerations", []).append({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"})


def m_change_toleration(t):
    tol = spec(t).get("tolerations")
    if tol:
        tol[0]["value"] = "other"
    else:
        spec(t)["tolerations"] = [{"operator": "Exists"}]


def m_resources(t):
    c = first(t)
    c["resources"] = {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "1"}}


def m_add_label(t):
    t.setdefault("metadata", {}).setdefault("labels", {})["restored"] = "yes"


def m_remove_label(t):
    labels = t.setdefault("metadata", {}).setdefault("labels", {})
    labels.pop(sorted(labels)[0], None) if labels else labels.update({"x": "y"})


def m_annotation(t):
    t.setdefault("metadata", {}).setdefault("annotations", {})["velero.io/note"] = "héllo \"quoted\" ✓"


def m_node_selector(t):
    if "nodeSelector" in spec(t):
        del spec(t)["nodeSelector"]
    else:
        spec(t)["nodeSelector"] = {"kubernetes.io/os": "linux"}


def m_affinity(t):
    spec(t)["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]
            }
        }
    }


def m_args(t):
    first(t)["args"] = ["--port=9000"]


def m_add_port(t):
    first(t).setdefault("ports", []).append({"containerPort": 443, "name": "https"})


def m_remove_port(t):
    ports = first(t).get("ports")
    if ports:
        ports.pop(0)
        if not ports:
            del first(t)["ports"]
    else:
        first(t)["ports"] = [{"containerPort": 80}]


def m_security_context(t):
    first(t)["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000, "capabilities": {"drop": ["ALL"]}}


def m_grace(t):
    spec(t)["terminationGracePeriodSeconds"] = 0


def m_sa(t):
    spec(t)["serviceAccountName"] = "restored-sa"


def m_host_alias(t):
    spec(t)["hostAliases"] = [{"ip": "10.0.0.1", "hostnames": ["db.local"]}]


def m_init_image(t):
    inits = spec(t).get("initContainers")
    if inits:
        inits[0]["image"] = "example/migrate:3"
    else:
        spec(t)["initContainers"] = [container("setup", "busybox", command=["sh", "-c", "true"])]


def m_pull_secret(t):
    spec(t).setdefault("imagePullSecrets", []).append({"name": "mirror-cred"})


def m_drop_metadata_labels(t):
    t.setdefault("metadata", {})["labels"] = {"app": t.get("metadata", {}).get("labels", {}).get("app", "z"), "v": "2"}


def m_dns(t):
    spec(t)["dnsConfig"] = {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]}


MUTATIONS = {k[2:]: v for k, v in globals().items() if k.startswith("m_")}


def mutate(base, names):
    t = copy.deepcopy(base)
    for n in names:
        MUTATIONS[n](t)
    return t


def pod_with_extras(template, name):
    """A restored pod built from template T plus members Velero/webhooks add."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": copy.deepcopy(template.get("metadata", {})),
           "spec": copy.deepcopy(template["spec"])}
    pod["metadata"]["name"] = name
    pod["metadata"]["namespace"] = "ns1"
    pod["metadata"].setdefault("labels", {})["pod-template-hash"] = "5d8f7c9b6"
    sp = pod["spec"]
    sp.setdefault("initContainers", []).insert(0, container(
        "restore-wait", "velero/velero-restore-helper:v1.15.0", command=["/velero-restore-helper"],
        volumeMounts=[{"name": "data" if any(v["name"] == "data" for v in sp.get("volumes", [])) else "fsb", "mountPath": "/restores/fsb"}]))
    sp["containers"].append(container("istio-proxy", "istio/proxyv2:1.22", ports=[{"containerPort": 15090, "name": "http-envoy-prom"}]))
    sp.setdefault("volumes", []).append({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}})
    sp["containers"][0].setdefault("env", []).append({"name": "INJECTED", "value": "by-webhook"})
    sp.setdefault("tolerations", []).append({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    sp["nodeName"] = "node-1"
    pod["status"] = {"phase": "Pending"}
    return pod


cases = []
names = sorted(MUTATIONS)
for bname, base in BASES.items():
    for m in names:
        mod = mutate(base, [m])
        cases.append({"name": f"diff/{bname}/{m}", "op": "diff", "root": "PodTemplateSpec",
                      "original": base, "modified": mod})
        cases.append({"name": f"diff_apply/{bname}/{m}", "op": "diff_apply", "root": "PodTemplateSpec",
                      "original": base, "modified": mod, "target": pod_with_extras(base, f"{bname}-0"),
                      "target_root": "v1/Pod"})
    for i in range(12):
        combo = random.sample(names, 3)
        mod = mutate(base, combo)
        cases.append({"name": f"diff/{bname}/combo{i}/{'+'.join(combo)}", "op": "diff", "root": "PodTemplateSpec",
                      "original": base, "modified": mod})
        cases.append({"name": f"diff_apply/{bname}/combo{i}/{'+'.join(combo)}", "op": "diff_apply",
                      "root": "PodTemplateSpec", "original": base, "modified": mod,
                      "target": pod_with_extras(base, f"{bname}-1"), "target_root": "v1/Pod"})
        # Reverse direction: T' -> T.
        cases.append({"name": f"diff/{bname}/reverse{i}", "op": "diff", "root": "PodTemplateSpec",
                      "original": mod, "modified": base})
    # Whole Deployments: the diff as Velero's modifiers would see it.
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": bname, "namespace": "ns1"},
           "spec": {"replicas": 1, "selector": {"matchLabels": base["metadata"]["labels"]},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                    "template": base}}
    dep2 = copy.deepcopy(dep)
    dep2["spec"]["template"] = mutate(base, ["image", "add_env"])
    dep2["spec"]["strategy"] = {"type": "Recreate"}
    cases.append({"name": f"diff/deployment/{bname}/recreate", "op": "diff", "root": "apps/v1/Deployment",
                  "original": dep, "modified": dep2})

# Semantic equality pairs (pod templates, EqualIgnoreHash).
eq_pairs = []
for bname, base in BASES.items():
    for m in names:
        eq_pairs.append((f"{bname}/{m}", base, mutate(base, [m])))
    hashed = copy.deepcopy(base)
    hashed["metadata"]["labels"]["pod-template-hash"] = "abc123"
    eq_pairs.append((f"{bname}/hash-label", base, hashed))
    eq_pairs.append((f"{bname}/self", base, copy.deepcopy(base)))


def tpl(**spec_extra):
    t = {"metadata": {"labels": {"app": "q"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    t["spec"].update(spec_extra)
    return t


def res(cpu, mem):
    return {"metadata": {"labels": {"app": "q"}},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": cpu, "memory": mem}}}]}}


for a, b in [(("1000m", "1Gi"), ("1", "1024Mi")), (("0.5", "1G"), ("500m", "1000M")), (("1e3", "1Ki"), ("1k", "1024")),
             (("100m", "1Gi"), ("0.1", "1.5Gi")), (("2", "1Ei"), ("2000m", "1024Pi")), (("1.5", "1.5Gi"), ("1500m", "1536Mi")),
             (("250m", "128974848"), ("0.25", "129e6")), (("1", "1M"), ("1", "1Mi"))]:
    eq_pairs.append((f"quantity/{a[0]}={b[0]}/{a[1]}={b[1]}", res(*a), res(*b)))
eq_pairs += [
    ("pointer/grace-absent-vs-0", tpl(), tpl(terminationGracePeriodSeconds=0)),
    ("pointer/grace-null-vs-absent", tpl(terminationGracePeriodSeconds=None), tpl()),
    ("pointer/automount-false", tpl(), tpl(automountServiceAccountToken=False)),
    ("pointer/securityContext-empty", tpl(), tpl(securityContext={})),
    ("value/hostNetwork-false", tpl(), tpl(hostNetwork=False)),
    ("value/dnsPolicy-empty", tpl(), tpl(dnsPolicy="")),
    ("value/restartPolicy-Always", tpl(), tpl(restartPolicy="Always")),
    ("empty/volumes-empty-list", tpl(), tpl(volumes=[])),
    ("empty/volumes-null", tpl(volumes=None), tpl(volumes=[])),
    ("empty/nodeSelector-empty", tpl(), tpl(nodeSelector={})),
    ("empty/tolerations-empty", tpl(), tpl(tolerations=[])),
    ("unknown-field-ignored", tpl(), tpl(someFutureField={"x": 1})),
    ("order/tolerations", tpl(tolerations=[{"key": "a"}, {"key": "b"}]), tpl(tolerations=[{"key": "b"}, {"key": "a"}])),
    ("order/containers", tpl(containers=[{"name": "a"}, {"name": "b"}]), tpl(containers=[{"name": "b"}, {"name": "a"}])),
    ("intorstr/80-vs-str", tpl(containers=[{"name": "c", "readinessProbe": {"httpGet": {"port": 80}}}]),
     tpl(containers=[{"name": "c", "readinessProbe": {"httpGet": {"port": "80"}}}])),
    ("time/creationTimestamp-null", {"metadata": {"creationTimestamp": None}}, {"metadata": {}}),
    ("time/same-instant", {"metadata": {"creationTimestamp": "2024-01-01T01:00:00+01:00"}},
     {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}}),
    ("time/different", {"metadata": {"creationTimestamp": "2024-01-01T00:00:01Z"}},
     {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}}),
    ("emptydir/sizeLimit-quantity", tpl(volumes=[{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}]),
     tpl(volumes=[{"name": "v", "emptyDir": {"sizeLimit": "1024Mi"}}])),
    ("emptydir/empty-vs-absent-source", tpl(volumes=[{"name": "v", "emptyDir": {}}]), tpl(volumes=[{"name": "v"}])),
    ("labels/empty-after-hash", {"metadata": {"labels": {"pod-template-hash": "x"}}}, {"metadata": {}}),
    ("env/value-empty-string", tpl(containers=[{"name": "c", "env": [{"name": "A", "value": ""}]}]),
     tpl(containers=[{"name": "c", "env": [{"name": "A"}]}])),
    ("resources/requests-empty-map", tpl(containers=[{"name": "c", "resources": {"requests": {}}}]),
     tpl(containers=[{"name": "c", "resources": {}}])),
    ("resources/zero-quantity-vs-absent-key", res("0", "1Gi"), tpl(containers=[{"name": "c", "image": "i", "resources": {"limits": {"memory": "1Gi"}}}])),
]
for name, a, b in eq_pairs:
    cases.append({"name": f"equal/{name}", "op": "pod_template_equal", "root": "PodTemplateSpec", "a": a, "b": b})
    cases.append({"name": f"equal/{name}/swapped", "op": "pod_template_equal", "root": "PodTemplateSpec", "a": b, "b": a})


# Semantic noise: rewrites that decoding into the Go types may or may not erase. Go decides.
def noise_variants(t):
    out = []
    def v(name, f):
        x = copy.deepcopy(t)
        f(x)
        out.append((name, x))
    v("explicit-nulls", lambda x: x["spec"].update({"nodeSelector": None, "affinity": None, "hostname": None}))
    v("empty-collections", lambda x: x["spec"].update({"imagePullSecrets": [], "overhead": {}}))
    v("zero-scalars", lambda x: x["spec"].update({"hostPID": False, "priorityClassName": "", "subdomain": ""}))
    v("zero-pointers", lambda x: x["spec"].update({"priority": 0}))
    v("pointer-bool-false", lambda x: x["spec"].update({"shareProcessNamespace": False}))
    v("empty-pointer-struct", lambda x: x["spec"].update({"dnsConfig": {}}))
    v("container-zero-fields", lambda x: x["spec"]["containers"][0].update({"workingDir": "", "tty": False, "stdin": False}))
    v("container-pointer-struct-empty", lambda x: x["spec"]["containers"][0].update({"securityContext": {}}))
    v("container-resources-empty", lambda x: x["spec"]["containers"][0].setdefault("resources", {}))
    v("container-env-null", lambda x: x["spec"]["containers"][0].update({"env": x["spec"]["containers"][0].get("env") or None}))
    v("metadata-empty-annotations", lambda x: x["metadata"].update({"annotations": x["metadata"].get("annotations") or {}}))
    v("number-float-form", lambda x: x["spec"].update({"terminationGracePeriodSeconds": 30.0}) if "terminationGracePeriodSeconds" in x["spec"] else None)
    def qty(x):
        for c in x["spec"]["containers"]:
            for part in c.get("resources", {}).values():
                for k, val in list(part.items()):
                    part[k] = {"500m": "0.5", "512Mi": "0.5Gi", "250m": "0.25", "256Mi": "268435456", "2": "2000m", "1Gi": "1024Mi", "1": "1000m"}.get(val, val)
    v("quantity-rewrite", qty)
    v("unknown-fields", lambda x: x["spec"].update({"notAField": [1, 2], "alsoNot": {"a": None}}))
    v("status-like-field-in-template", lambda x: x.update({"status": {"phase": "Running"}}))
    v("volume-source-empty-vs-absent", lambda x: x["spec"].get("volumes") and x["spec"]["volumes"][-1].update({"hostPath": None}))
    v("toleration-seconds-zero", lambda x: x["spec"].get("tolerations") and x["spec"]["tolerations"][0].update({"tolerationSeconds": 0}))
    v("port-protocol-default", lambda x: [p.update({"protocol": "TCP"}) for c in x["spec"]["containers"] for p in c.get("ports", [])])
    v("generation-label", lambda x: x["metadata"].setdefault("labels", {}).update({"pod-template-hash": "zzz"}))
    return out


for bname, base in BASES.items():
    for vname, variant in noise_variants(base):
        # 30.0 for an int64 field fails typed decoding in Go; semantic equality has no error path.
        pairs = () if vname == "number-float-form" else (
            (f"equal/noise/{bname}/{vname}", base, variant),
            (f"equal/noise/{bname}/{vname}/swapped", variant, base))
        for n, a, b in pairs:
            cases.append({"name": n, "op": "pod_template_equal", "root": "PodTemplateSpec", "a": a, "b": b})
        # The same noise through diff and apply.
        cases.append({"name": f"diff/noise/{bname}/{vname}", "op": "diff", "root": "PodTemplateSpec",
                      "original": base, "modified": variant})
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": bname},
           "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": base}}
    dep2 = copy.deepcopy(dep)
    dep2["spec"]["replicas"] = 1
    dep2["spec"]["paused"] = False
    cases.append({"name": f"equal/deployment/{bname}/replicas-pointer", "op": "equal", "root": "apps/v1/Deployment", "a": dep, "b": dep2})
    dep3 = copy.deepcopy(dep)
    dep3["spec"]["paused"] = False
    dep3["spec"]["revisionHistoryLimit"] = None
    cases.append({"name": f"equal/deployment/{bname}/paused-value", "op": "equal", "root": "apps/v1/Deployment", "a": dep, "b": dep3})

# Hand-picked diff corner cases.
def tmeta(**meta):
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "i"}]}}


DIFFS = [
    ("finalizers-unchanged-unsorted", tmeta(finalizers=["b", "a"]), tmeta(finalizers=["b", "a"])),
    ("finalizers-added", tmeta(finalizers=["a"]), tmeta(finalizers=["a", "c", "b"])),
    ("finalizers-removed", tmeta(finalizers=["a", "b", "c"]), tmeta(finalizers=["c"])),
    ("finalizers-reordered", tmeta(finalizers=["a", "b"]), tmeta(finalizers=["b", "a"])),
    ("finalizers-to-empty", tmeta(finalizers=["a"]), tmeta(finalizers=[])),
    ("finalizers-dupes", tmeta(finalizers=["a", "a", "b"]), tmeta(finalizers=["b", "b"])),
    ("ownerrefs-by-uid", tmeta(ownerReferences=[{"uid": "1", "name": "a", "kind": "K", "apiVersion": "v1"}]),
     tmeta(ownerReferences=[{"uid": "2", "name": "b", "kind": "K", "apiVersion": "v1"}])),
    ("numbers-int-vs-float", {"spec": {"terminationGracePeriodSeconds": 30}}, {"spec": {"terminationGracePeriodSeconds": 30.0}}),
    ("numbers-changed", {"spec": {"terminationGracePeriodSeconds": 30}}, {"spec": {"terminationGracePeriodSeconds": 31}}),
    ("type-change-map-to-scalar", {"spec": {"nodeSelector": {"a": "b"}}}, {"spec": {"nodeSelector": "x"}}),
    ("null-in-modified", {"spec": {"nodeSelector": {"a": "b"}}}, {"spec": {"nodeSelector": None}}),
    ("null-in-original", {"spec": {"nodeSelector": None}}, {"spec": {"nodeSelector": {"a": "b"}}}),
    ("unknown-map-equal", {"spec": {"future": {"a": 1}}}, {"spec": {"future": {"a": 1}}}),
    ("unknown-map-changed-error", {"spec": {"future": {"a": 1}}}, {"spec": {"future": {"a": 2}}}),
    ("unknown-list-changed-error", {"spec": {"future": [1]}}, {"spec": {"future": [2]}}),
    ("unknown-scalar-changed", {"spec": {"future": 1}}, {"spec": {"future": 2}}),
    ("containers-duplicate-names", {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "a", "image": "2"}]}},
     {"spec": {"containers": [{"name": "a", "image": "3"}]}}),
    ("containers-missing-name-error", {"spec": {"containers": [{"image": "1"}]}}, {"spec": {"containers": [{"image": "2"}]}}),
    ("containers-mixed-types-error", {"spec": {"containers": [{"name": "a"}]}}, {"spec": {"containers": ["a"]}}),
    ("ports-numeric-key-order", {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}, {"containerPort": 443}, {"containerPort": 8080}, {"containerPort": 9}]}]}},
     {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 9}, {"containerPort": 8080, "name": "h"}]}]}}),
    ("volumes-retainKeys-source-switch", {"spec": {"volumes": [{"name": "v", "configMap": {"name": "a"}}]}},
     {"spec": {"volumes": [{"name": "v", "secret": {"secretName": "a"}}]}}),
    ("volumes-retainKeys-unchanged-other", {"spec": {"volumes": [{"name": "v", "configMap": {"name": "a"}}, {"name": "w", "emptyDir": {}}]}},
     {"spec": {"volumes": [{"name": "v", "configMap": {"name": "b"}}, {"name": "w", "emptyDir": {}}]}}),
    ("volumes-all-removed", {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}, {"spec": {}}),
    ("env-order-only", {"spec": {"containers": [{"name": "c", "env": [{"name": "A"}, {"name": "B"}]}]}},
     {"spec": {"containers": [{"name": "c", "env": [{"name": "B"}, {"name": "A"}]}]}}),
    ("directive-in-both", {"spec": {"nodeSelector": {"$patch": "replace", "a": "b"}}}, {"spec": {"nodeSelector": {"$patch": "delete"}}}),
    ("empty-to-empty", {"spec": {"volumes": []}}, {"spec": {"volumes": []}}),
    ("absent-to-empty-list", {"spec": {}}, {"spec": {"volumes": []}}),
    ("hostaliases-by-ip", {"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}]}},
     {"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a", "b"]}, {"ip": "2.2.2.2"}]}}),
    ("topology-spread-by-key", {"spec": {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]}},
     {"spec": {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}]}}),
    ("unicode-values", {"metadata": {"annotations": {"a": "ä"}}}, {"metadata": {"annotations": {"a": "日本\"\\"}}}),
]
for name, a, b in DIFFS:
    cases.append({"name": f"diff/corner/{name}", "op": "diff", "root": "PodTemplateSpec", "original": a, "modified": b})
    cases.append({"name": f"diff/corner/{name}/reverse", "op": "diff", "root": "PodTemplateSpec", "original": b, "modified": a})


# Random strategic patches (valid and invalid) applied to the bases: directives in random places.
rnd = random.Random(39188)


def rand_scalar():
    return rnd.choice(["v1", "", 0, 7, 2.5, True, False, None, "ü✓"])


def rand_elem_patch(key, names):
    e = {key: rnd.choice(names + ["zz"])}
    r = rnd.random()
    if r < 0.2:
        e["$patch"] = "delete"
    elif r < 0.25:
        e["$patch"] = rnd.choice(["replace", "merge", "bogus"])
    elif r < 0.35:
        e["$retainKeys"] = rnd.sample([key, "image", "value", "emptyDir", "secret", "args"], 2)
    if key == "name":
        for f in rnd.sample(["image", "value", "args", "env", "emptyDir", "secret", "ports"], rnd.randint(0, 2)):
            if f == "env":
                e["env"] = [rand_elem_patch("name", ["A", "MODE", "LOG", "PGDATA"]) for _ in range(rnd.randint(0, 2))]
            elif f == "ports":
                e["ports"] = [{"containerPort": rnd.choice([80, 8080, 9090, 15001]), "name": "p"}]
            elif f == "args":
                e["args"] = ["x"]
            elif f in ("emptyDir", "secret"):
                e[f] = None if rnd.random() < 0.3 else ({} if f == "emptyDir" else {"secretName": "s"})
            else:
                e[f] = rand_scalar()
    return e


def rand_list_patch(spec_key, key, names, base_spec):
    items = [rand_elem_patch(key, names) for _ in range(rnd.randint(0, 3))]
    p = {spec_key: items}
    if rnd.random() < 0.4:
        existing = [x[key] for x in base_spec.get(spec_key, [])]
        pool = existing + [x[key] for x in items if "$patch" not in x]
        order = rnd.sample(pool, rnd.randint(0, len(pool))) if pool else []
        p[f"$setElementOrder/{spec_key}"] = [{key: n} for n in order]
    if rnd.random() < 0.1:
        p[spec_key] = None
    return p


for i in range(160):
    bname = rnd.choice(sorted(BASES))
    base = BASES[bname]
    names = [c["name"] for c in base["spec"]["containers"]] + ["new"]
    spec_patch = {}
    for _ in range(rnd.randint(1, 3)):
        which = rnd.choice(["containers", "initContainers", "volumes", "tolerations", "nodeSelector", "scalar", "imagePullSecrets", "retain"])
        if which in ("containers", "initContainers"):
            spec_patch.update(rand_list_patch(which, "name", names, base["spec"]))
        elif which == "volumes":
            spec_patch.update(rand_list_patch("volumes", "name", [v["name"] for v in base["spec"].get("volumes", [])] + ["nv"], base["spec"]))
        elif which == "imagePullSecrets":
            spec_patch.update(rand_list_patch("imagePullSecrets", "name", ["regcred", "other"], base["spec"]))
        elif which == "tolerations":
            spec_patch["tolerations"] = rnd.choice([None, [], [{"key": "k", "operator": "Exists"}], {"$patch": "replace"}])
        elif which == "nodeSelector":
            spec_patch["nodeSelector"] = rnd.choice([None, {"a": "b"}, {"disk": None}, {"$patch": "delete"}, {"$patch": "replace", "x": "y"}, "str"])
        elif which == "retain":
            spec_patch["$retainKeys"] = rnd.sample(["containers", "volumes", "nodeSelector", "tolerations"], rnd.randint(0, 4))
        else:
            spec_patch[rnd.choice(["serviceAccountName", "hostNetwork", "priority", "futureField"])] = rand_scalar()
    patch = {"spec": spec_patch}
    if rnd.random() < 0.3:
        patch["metadata"] = {"labels": {"app": rand_scalar(), "new": "1"},
                             "$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["b"]}
    cases.append({"name": f"apply/random/{i:03d}/{bname}", "op": "apply", "root": "PodTemplateSpec",
                  "original": base, "patch": patch})
    target = pod_with_extras(base, f"{bname}-r{i}")
    cases.append({"name": f"apply/random-pod/{i:03d}/{bname}", "op": "apply", "root": "v1/Pod",
                  "original": target, "patch": patch})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "corpus", "smp", "generated.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(cases, f, indent=1, ensure_ascii=False, sort_keys=True)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
