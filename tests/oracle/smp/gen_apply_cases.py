#!/usr/bin/env python3
"""Writes tests/corpus/smp/apply.json: hand-written strategic-merge-patch *apply* cases (Velero
`strategicPatches` on the kinds it allows, every directive, error paths). Inputs only."""
import json
import os

DEP = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns1", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80}, {"containerPort": 443}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                     "resources": {"limits": {"cpu": "1"}}},
                    {"name": "side", "image": "busybox", "args": ["sleep", "1d"]},
                ],
                "initContainers": [{"name": "init", "image": "busybox"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}},
                            {"name": "cfg", "configMap": {"name": "c", "items": [{"key": "k", "path": "p"}]}}],
                "tolerations": [{"key": "t1", "operator": "Exists"}],
                "nodeSelector": {"zone": "a"},
            },
        },
    },
}


def tspec(p):
    return {"spec": {"template": {"spec": p}}}


cases = []


def add(name, patch, original=DEP, root="apps/v1/Deployment"):
    cases.append({"name": f"apply/{name}", "op": "apply", "root": root, "original": original, "patch": patch})


# Plain merges.
add("image-by-name", tspec({"containers": [{"name": "web", "image": "nginx:1.27"}]}))
add("new-container-appended", tspec({"containers": [{"name": "new", "image": "x"}]}))
add("env-merge-by-name", tspec({"containers": [{"name": "web", "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}]}]}))
add("env-delete-element", tspec({"containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}))
add("env-replace-list", tspec({"containers": [{"name": "web", "env": [{"$patch": "replace"}, {"name": "Z", "value": "z"}]}]}))
add("env-merge-directive-error", tspec({"containers": [{"name": "web", "env": [{"$patch": "merge"}]}]}))
add("env-unknown-directive-error", tspec({"containers": [{"name": "web", "env": [{"name": "A", "$patch": "frob"}]}]}))
add("container-missing-merge-key-error", tspec({"containers": [{"image": "x"}]}))
add("delete-container", tspec({"containers": [{"name": "side", "$patch": "delete"}]}))
add("delete-missing-container", tspec({"containers": [{"name": "nope", "$patch": "delete"}]}))
add("delete-directive-without-key-error", tspec({"containers": [{"$patch": "delete"}]}))
add("ports-merge-by-containerPort", tspec({"containers": [{"name": "web", "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 8443}]}]}))
add("volumemounts-by-mountPath", tspec({"containers": [{"name": "web", "volumeMounts": [{"mountPath": "/data", "readOnly": True}, {"name": "cfg", "mountPath": "/cfg"}]}]}))
add("tolerations-atomic", tspec({"tolerations": [{"key": "t2", "operator": "Exists"}]}))
add("tolerations-null-deletes", tspec({"tolerations": None}))
add("args-atomic", tspec({"containers": [{"name": "side", "args": ["sleep", "2d"]}]}))
add("nodeSelector-merge-and-null", tspec({"nodeSelector": {"zone": None, "disk": "ssd"}}))
add("resources-merge", tspec({"containers": [{"name": "web", "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "100m"}}}]}))
add("map-replace-directive", tspec({"nodeSelector": {"$patch": "replace", "only": "this"}}))
add("map-delete-directive", tspec({"nodeSelector": {"$patch": "delete"}}))
add("map-bad-directive-error", tspec({"nodeSelector": {"$patch": "merge"}}))
add("replicas-and-labels", {"spec": {"replicas": 0}, "metadata": {"labels": {"restored": "true"}}})
add("null-on-missing-key", {"metadata": {"annotations": None}, "spec": {"paused": None}})
add("nulls-inside-new-map-discarded", tspec({"affinity": {"nodeAffinity": None, "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {"topologyKey": "k", "labelSelector": None}}]}}}))
add("type-mismatch-replaces", tspec({"nodeSelector": "oops"}))
add("type-mismatch-list-to-map", tspec({"tolerations": {"key": "x"}}))
# retainKeys
add("strategy-retainKeys-recreate", {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
add("strategy-retainKeys-missing-key-error", {"spec": {"strategy": {"$retainKeys": ["rollingUpdate"], "type": "Recreate"}}})
add("strategy-without-retainKeys", {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}})
add("volume-retainKeys-source-switch", tspec({"volumes": [{"name": "cfg", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}]}))
add("volume-source-switch-without-retainKeys", tspec({"volumes": [{"name": "cfg", "secret": {"secretName": "s"}}]}))
add("retainKeys-not-a-list-error", {"spec": {"strategy": {"$retainKeys": "type", "type": "Recreate"}}})
# setElementOrder
add("setElementOrder-containers-reorder", tspec({"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}]}))
add("setElementOrder-with-new", tspec({"$setElementOrder/containers": [{"name": "new"}, {"name": "web"}, {"name": "side"}],
                                        "containers": [{"name": "new", "image": "n"}]}))
add("setElementOrder-with-delete", tspec({"$setElementOrder/containers": [{"name": "web"}],
                                           "containers": [{"name": "side", "$patch": "delete"}]}))
add("setElementOrder-mismatch-error", tspec({"$setElementOrder/containers": [{"name": "web"}],
                                              "containers": [{"name": "new", "image": "n"}]}))
add("setElementOrder-bad-prefix-error", tspec({"$setElementOrderX/containers": [{"name": "web"}]}))
add("setElementOrder-env", tspec({"containers": [{"name": "web", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}]}))
add("setElementOrder-new-list", tspec({"$setElementOrder/imagePullSecrets": [{"name": "r1"}], "imagePullSecrets": [{"name": "r1"}]}))
add("setElementOrder-unknown-field-error", tspec({"$setElementOrder/bogus": [{"name": "x"}]}))
# primitive merge lists (finalizers)
add("finalizers-union", {"metadata": {"finalizers": ["b", "c"]}})
add("finalizers-deleteFromPrimitiveList", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
add("finalizers-delete-and-order", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "$setElementOrder/finalizers": ["c", "b"], "finalizers": ["c"]}})
add("finalizers-deleteFromPrimitiveList-missing-list", {"metadata": {"$deleteFromPrimitiveList/ownerX": ["a"]}})
add("deleteFromPrimitiveList-bad-prefix-error", {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}})
# Unknown fields.
add("unknown-scalar-copied", tspec({"futureScalar": "x"}))
add("unknown-map-new-key-copied", tspec({"futureMap": {"a": 1}}))
add("unknown-map-existing-key-error", tspec({"futureMap": {"a": 2}}),
    original={**DEP, "spec": {**DEP["spec"], "template": {**DEP["spec"]["template"], "spec": {**DEP["spec"]["template"]["spec"], "futureMap": {"a": 1}}}}})
add("unknown-list-existing-key-error", tspec({"futureList": [2]}),
    original={**DEP, "spec": {**DEP["spec"], "template": {**DEP["spec"]["template"], "spec": {**DEP["spec"]["template"]["spec"], "futureList": [1]}}}})
add("map-in-labels-error", {"metadata": {"labels": {"app": {"x": 1}}}},
    original={**DEP, "metadata": {**DEP["metadata"], "labels": {"app": {"y": 1}}}})
add("top-level-patch-replace", {"$patch": "replace", "kind": "Deployment"})
add("top-level-patch-delete", {"$patch": "delete"})
add("list-of-lists-error", tspec({"containers": [["x"]]}))
add("mixed-element-types-error", tspec({"containers": [{"name": "x"}, "y"]}))
add("scalar-list-for-merge-list-error", tspec({"containers": ["a"]}))
add("unicode-and-quotes", {"metadata": {"annotations": {"note": "ünïcødé \"q\" \\ ✓"}}})
add("numbers-float", {"spec": {"replicas": 3.0, "progressDeadlineSeconds": 1e3}})

# Go keeps integral literals as int64 and others as float64: 80.0 is not merge key 80.
add("merge-key-int-vs-float", tspec({"containers": [{"name": "web", "ports": [{"containerPort": 80.0, "name": "f"}]}]}))
add("merge-key-int-exponent", tspec({"containers": [{"name": "web", "ports": [{"containerPort": 4.43e2, "name": "e"}]}]}))
add("finalizers-int-vs-float", {"metadata": {"finalizers": [1, 1.0, 2]}},
    original={**DEP, "metadata": {**DEP["metadata"], "finalizers": [1, 2.5]}})
add("setElementOrder-ints", {"metadata": {"$setElementOrder/finalizers": [3, 1], "finalizers": [3]}},
    original={**DEP, "metadata": {**DEP["metadata"], "finalizers": [1, 2]}})

# Other kinds Velero can patch.
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns1", "ownerReferences": [
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True}]},
       "spec": {"containers": [{"name": "c", "image": "i"}],
                "initContainers": [{"name": "restore-wait", "image": "velero/restore-helper"}]},
       "status": {"conditions": [{"type": "Ready", "status": "False"}], "podIPs": [{"ip": "10.0.0.1"}]}}
add("pod-image", {"spec": {"containers": [{"name": "c", "image": "j"}]}}, POD, "v1/Pod")
add("pod-ownerReferences-by-uid", {"metadata": {"ownerReferences": [{"uid": "u1", "name": "rs2"}, {"uid": "u2", "name": "x", "kind": "K", "apiVersion": "v1"}]}}, POD, "v1/Pod")
add("pod-status-conditions-by-type", {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Init", "status": "True"}]}}, POD, "v1/Pod")
add("pod-init-container-env", {"spec": {"initContainers": [{"name": "restore-wait", "env": [{"name": "X", "value": "1"}]}]}}, POD, "v1/Pod")
SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
       "spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443, "name": "https"}], "selector": {"app": "x"}}}
add("service-ports-by-port", {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 8443, "name": "alt"}]}}, SVC, "v1/Service")
add("service-delete-port", {"spec": {"ports": [{"port": 443, "$patch": "delete"}]}}, SVC, "v1/Service")
STS = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
       "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": DEP["spec"]["template"],
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
add("statefulset-template-env", tspec({"containers": [{"name": "web", "env": [{"name": "A", "value": "x"}]}]}), STS, "apps/v1/StatefulSet")
add("statefulset-volumeClaimTemplates-atomic", {"spec": {"volumeClaimTemplates": [{"metadata": {"name": "other"}}]}}, STS, "apps/v1/StatefulSet")
DS = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
      "spec": {"selector": {"matchLabels": {"app": "ds"}}, "template": DEP["spec"]["template"],
               "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}}}
add("daemonset-tolerations", tspec({"tolerations": [{"operator": "Exists"}]}), DS, "apps/v1/DaemonSet")
add("daemonset-updateStrategy", {"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": None}}}, DS, "apps/v1/DaemonSet")
RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-abc"},
      "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": DEP["spec"]["template"]}}
add("replicaset-containers", tspec({"containers": [{"name": "side", "$patch": "delete"}, {"name": "web", "image": "v2"}]}), RS, "apps/v1/ReplicaSet")
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
       "spec": {"backoffLimit": 3, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "j", "image": "i"}]}}}}
add("job-container", tspec({"containers": [{"name": "j", "image": "k", "args": ["a"]}]}), JOB, "batch/v1/Job")
CJ = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
      "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "i"}]}}}}}}
add("cronjob-container", {"spec": {"suspend": True, "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "k"}]}}}}}}, CJ, "batch/v1/CronJob")
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}}
add("configmap-data", {"data": {"a": None, "c": "3"}}, CM, "v1/ConfigMap")
PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc"},
       "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "old", "resources": {"requests": {"storage": "1Gi"}}}}
add("pvc-storageclass", {"spec": {"storageClassName": "new"}}, PVC, "v1/PersistentVolumeClaim")
add("unsupported-kind-ingress", {"metadata": {"labels": {"a": "b"}}}, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"}, "networking.k8s.io/v1/Ingress")
add("unsupported-kind-crd", {"metadata": {"labels": {"a": "b"}}}, {"apiVersion": "example.com/v1", "kind": "Widget"}, "example.com/v1/Widget")
add("unsupported-version", {"metadata": {"labels": {"a": "b"}}}, {"apiVersion": "apps/v1beta1", "kind": "Deployment"}, "apps/v1beta1/Deployment")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "corpus", "smp", "apply.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(cases, f, indent=1, ensure_ascii=False, sort_keys=True)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
