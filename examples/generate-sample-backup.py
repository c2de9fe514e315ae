#!/usr/bin/env python3
"""Write the sample Velero backup under examples/sample-backup/ (Python 3 standard library only).

The sample is a copy of one bucket folder, `backups/<name>/`, as a Velero server (v1.15-style,
backup format 1.1.0) leaves it in object storage after a file-system backup of namespace `shop`:

  velero-backup.json                 the Backup object, pretty JSON (Velero's JSON printer)
  <name>.tar.gz                      metadata/version + resources/<gr>/... item files
  <name>-podvolumebackups.json.gz    gzip of a JSON array of PodVolumeBackup objects

Layout facts used (vmware-tanzu/velero): pkg/backup/backup.go writeBackupVersion and
BackupFormatVersion = "1.1.0"; pkg/backup/item_backupper.go getFileForArchive (regular files,
mode 0755, compact json.Marshal of the unstructured object, an unversioned copy followed by a
`<version>-preferredversion` copy); pkg/archive/filesystem.go GetVersionedItemFilePath
(resources/<gr>/[<version>/]namespaces/<ns>/<name>.json, cluster-scoped under cluster/);
pkg/persistence/object_store_layout.go for the object names; pkg/util/encode ToJSONGzip for the
PodVolumeBackup list (json.Encoder: compact, struct field order, one trailing newline);
pkg/podvolume/backupper.go newPodVolumeBackup for the PVB fields.

Objects look like what an API server returns for them (defaults filled in, status, uid,
ownerReferences, pod-template-hash labels); managedFields are left out. pod-template-hash values
use the controller's alphabet and length but are derived here from our own hash of the template:
the Deployment controller never recomputes them, it only compares templates.

Output is deterministic: fixed timestamps, fixed member order, tar mtimes from the backup start,
gzip headers without name and with mtime 0. Run twice, get the same bytes (for a given zlib).

Usage: generate-sample-backup.py [--out DIR] [--check]
  --check  regenerate into a temporary directory, compare with the committed files byte for byte,
           and validate the layout; exit 1 on any difference.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import uuid

BACKUP = "shop-20260302"
NS = "shop"
VELERO_NS = "velero"
NODE = "worker-2"
STORAGE_NODE = "worker-3"

# Timeline (UTC). Objects were created days before the backup; the backup ran for a minute.
T_NS = "2026-02-11T08:02:17Z"
T_GROWI_V1 = "2026-02-11T08:05:40Z"
T_GROWI_V2 = "2026-02-24T13:41:09Z"
T_ES = "2026-02-11T08:05:41Z"
T_WEB = "2026-02-11T08:05:43Z"
T_BACKUP_START = "2026-03-02T02:00:04Z"
T_BACKUP_END = "2026-03-02T02:01:12Z"
T_BACKUP_EXPIRES = "2026-04-01T02:00:04Z"
# 2026-03-02T02:00:04Z as a Unix time, used as the mtime of every tar member.
MTIME_BACKUP_START = 1772416804

POD_TEMPLATE_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# --------------------------------------------------------------------------------------------
# Encoding helpers that mirror Go's encoding/json output.


def go_json(value, *, indent: int | None = None, sort_keys: bool) -> str:
    """Serialize like Go's encoding/json: HTML-safe escapes, UTF-8, no spaces when compact.

    sort_keys=True mirrors json.Marshal of a map (unstructured objects); sort_keys=False keeps
    the insertion order, which the generator writes in Go struct field order for typed objects.
    """
    if indent is None:
        text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(value, sort_keys=sort_keys, indent=indent, ensure_ascii=False)
    # These characters can only occur inside JSON strings, so a plain replace is safe.
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, esc)
    return text


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with an empty header (no name, mtime 0), as Go's gzip.Writer writes it."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def uid(key: str) -> str:
    """A stable UUID per object, so re-running the generator gives the same bytes."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "https://fsb-guard.io/sample/" + key))


def pick(alphabet: str, seed: str, n: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


def pod_template_hash(template: dict) -> str:
    """A value shaped like the controller's: decimal digits of a 32-bit hash mapped through the
    safe-encoding alphabet (so only characters 4-9, b, c, d, f occur)."""
    h = 0x811C9DC5
    for byte in go_json(template, sort_keys=True).encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(POD_TEMPLATE_HASH_ALPHABET[ord(c) % len(POD_TEMPLATE_HASH_ALPHABET)] for c in str(h))


def resource_version(key: str) -> str:
    return str(100000 + int(hashlib.sha256(key.encode()).hexdigest()[:6], 16) % 800000)


# --------------------------------------------------------------------------------------------
# Kubernetes object builders (values as an API server returns them after defaulting).


def container(name: str, image: str, *, ports=(), mounts=(), env=(), env_from=(), resources=None, probe_path=None) -> dict:
    c: dict = {"name": name, "image": image}
    if env:
        c["env"] = [dict(e) for e in env]
    if env_from:
        c["envFrom"] = [dict(e) for e in env_from]
    if ports:
        c["ports"] = [{"containerPort": port, "name": pname, "protocol": "TCP"} for pname, port in ports]
    if probe_path:
        c["readinessProbe"] = {
            "failureThreshold": 3,
            "httpGet": {"path": probe_path, "port": ports[0][0], "scheme": "HTTP"},
            "periodSeconds": 10,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
    c["resources"] = resources or {}
    c["terminationMessagePath"] = "/dev/termination-log"
    c["terminationMessagePolicy"] = "File"
    c["imagePullPolicy"] = "IfNotPresent"
    if mounts:
        c["volumeMounts"] = [{"mountPath": path, "name": vname} for vname, path in mounts]
    return c


def template(labels: dict, containers: list, volumes: list, *, annotations=None, security_context=None) -> dict:
    meta: dict = {"creationTimestamp": None, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    spec = {
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": security_context or {},
        "terminationGracePeriodSeconds": 30,
    }
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": meta, "spec": spec}


def owner_ref(kind: str, name: str, owner_uid: str) -> dict:
    return {"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True, "kind": kind, "name": name, "uid": owner_uid}


def with_hash(tmpl: dict, h: str) -> dict:
    out = json.loads(json.dumps(tmpl))
    out["metadata"]["labels"]["pod-template-hash"] = h
    return out


class Workload:
    """A Deployment with its ReplicaSets and pods, kept consistent with each other."""

    def __init__(self, name, *, replicas, strategy, tmpl, created, revision, old_templates=(), ready_ip_base):
        self.name = name
        self.replicas = replicas
        self.strategy = strategy
        self.tmpl = tmpl
        self.created = created
        self.revision = revision
        self.old_templates = list(old_templates)  # [(template, created)] oldest first
        self.ready_ip_base = ready_ip_base
        self.uid = uid(f"{NS}/deployments.apps/{name}")

    def max_replicas(self) -> int:
        if self.strategy["type"] == "Recreate":
            return self.replicas
        surge = self.strategy["rollingUpdate"]["maxSurge"]
        # maxSurge "25%" rounds up.
        pct = int(surge.rstrip("%"))
        return self.replicas + -(-self.replicas * pct // 100)

    def deployment(self, current_rs: str) -> dict:
        generation = 1 + len(self.old_templates)
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "annotations": {"deployment.kubernetes.io/revision": str(self.revision)},
                "creationTimestamp": T_GROWI_V1 if self.old_templates else self.created,
                "generation": generation,
                "labels": {"app.kubernetes.io/name": self.name, "app.kubernetes.io/part-of": "shop"},
                "name": self.name,
                "namespace": NS,
                "resourceVersion": resource_version(f"deploy/{self.name}"),
                "uid": self.uid,
            },
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": self.replicas,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app.kubernetes.io/name": self.name}},
                "strategy": self.strategy,
                "template": self.tmpl,
            },
            "status": {
                "availableReplicas": self.replicas,
                "conditions": [
                    {
                        "lastTransitionTime": self.created,
                        "lastUpdateTime": self.created,
                        "message": "Deployment has minimum availability.",
                        "reason": "MinimumReplicasAvailable",
                        "status": "True",
                        "type": "Available",
                    },
                    {
                        "lastTransitionTime": self.created,
                        "lastUpdateTime": self.created,
                        "message": f'ReplicaSet "{current_rs}" has successfully progressed.',
                        "reason": "NewReplicaSetAvailable",
                        "status": "True",
                        "type": "Progressing",
                    },
                ],
                "observedGeneration": generation,
                "readyReplicas": self.replicas,
                "replicas": self.replicas,
                "updatedReplicas": self.replicas,
            },
        }

    def replicaset(self, tmpl: dict, created: str, revision: int, replicas: int) -> tuple[str, dict]:
        h = pod_template_hash(tmpl)
        name = f"{self.name}-{h}"
        scaled_down = replicas == 0
        status = {"observedGeneration": 2 if scaled_down else 1, "replicas": replicas}
        if replicas:
            status = {
                "availableReplicas": replicas,
                "fullyLabeledReplicas": replicas,
                "observedGeneration": 1,
                "readyReplicas": replicas,
                "replicas": replicas,
            }
        labels = dict(tmpl["metadata"]["labels"])
        labels["pod-template-hash"] = h
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(self.replicas),
                    "deployment.kubernetes.io/max-replicas": str(self.max_replicas()),
                    "deployment.kubernetes.io/revision": str(revision),
                },
                "creationTimestamp": created,
                "generation": 2 if scaled_down else 1,
                "labels": labels,
                "name": name,
                "namespace": NS,
                "ownerReferences": [owner_ref("Deployment", self.name, self.uid)],
                "resourceVersion": resource_version(f"rs/{name}"),
                "uid": uid(f"{NS}/replicasets.apps/{name}"),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": self.name, "pod-template-hash": h}},
                "template": with_hash(tmpl, h),
            },
            "status": status,
        }
        return name, rs

    def pod(self, rs: dict, index: int) -> dict:
        rs_name = rs["metadata"]["name"]
        suffix = pick(POD_TEMPLATE_HASH_ALPHABET, f"pod/{rs_name}/{index}", 5)
        name = f"{rs_name}-{suffix}"
        tmpl = rs["spec"]["template"]
        spec = json.loads(json.dumps(tmpl["spec"]))
        # What admission and the scheduler add to a pod created from the template.
        token_volume = "kube-api-access-" + pick("bcdfghjklmnpqrstvwxz2456789", f"token/{name}", 5)
        for c in spec["containers"]:
            c.setdefault("volumeMounts", []).append(
                {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": token_volume, "readOnly": True}
            )
        spec.setdefault("volumes", []).append(
            {
                "name": token_volume,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                        {
                            "downwardAPI": {
                                "items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]
                            }
                        },
                    ],
                },
            }
        )
        node = STORAGE_NODE if "annotations" in tmpl["metadata"] else NODE
        spec.update(
            {
                "enableServiceLinks": True,
                "nodeName": node,
                "preemptionPolicy": "PreemptLowerPriority",
                "priority": 0,
                "serviceAccount": "default",
                "serviceAccountName": "default",
                "tolerations": [
                    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
                ],
            }
        )
        created = rs["metadata"]["creationTimestamp"]
        ip = f"10.244.2.{self.ready_ip_base + index}"
        host_ip = "172.18.0.4" if node == STORAGE_NODE else "172.18.0.3"
        has_requests = any(c["resources"].get("requests") for c in spec["containers"])
        meta = {
            "creationTimestamp": created,
            "generateName": rs_name + "-",
            "labels": dict(tmpl["metadata"]["labels"]),
            "name": name,
            "namespace": NS,
            "ownerReferences": [owner_ref("ReplicaSet", rs_name, rs["metadata"]["uid"])],
            "resourceVersion": resource_version(f"pod/{name}"),
            "uid": uid(f"{NS}/pods/{name}"),
        }
        if "annotations" in tmpl["metadata"]:
            meta["annotations"] = dict(tmpl["metadata"]["annotations"])
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,
            "status": {
                "conditions": [
                    {"lastProbeTime": None, "lastTransitionTime": created, "status": "True", "type": t}
                    for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
                ],
                "containerStatuses": [
                    {
                        "containerID": "containerd://" + hashlib.sha256(f"ctr/{name}/{c['name']}".encode()).hexdigest(),
                        "image": c["image"],
                        "imageID": c["image"].split(":")[0] + "@sha256:" + hashlib.sha256(c["image"].encode()).hexdigest(),
                        "lastState": {},
                        "name": c["name"],
                        "ready": True,
                        "restartCount": 0,
                        "started": True,
                        "state": {"running": {"startedAt": created}},
                    }
                    for c in spec["containers"]
                ],
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "qosClass": "Burstable" if has_requests else "BestEffort",
                "startTime": created,
            },
        }


def build_objects():
    """Return (items, pods_with_fsb) where items is a list of (group_resource, version, obj)."""
    fsb_annotation = "backup.velero.io/backup-volumes"

    growi_labels = {"app.kubernetes.io/name": "growi"}

    def growi_template(image: str) -> dict:
        return template(
            growi_labels,
            [
                container(
                    "growi",
                    image,
                    ports=[("http", 3000)],
                    env=[
                        {"name": "FILE_UPLOAD", "value": "local"},
                        {"name": "ELASTICSEARCH_URI", "value": "http://elasticsearch:9200/growi"},
                    ],
                    env_from=[{"configMapRef": {"name": "growi-config"}}],
                    mounts=[("data", "/data"), ("cache", "/tmp/cache")],
                    probe_path="/_api/v3/healthcheck",
                )
            ],
            [
                {"name": "data", "persistentVolumeClaim": {"claimName": "growi-data"}},
                {"emptyDir": {}, "name": "cache"},
            ],
            annotations={fsb_annotation: "data"},
        )

    growi = Workload(
        "growi",
        replicas=1,
        strategy={"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
        tmpl=growi_template("registry.example.com/wiki/growi:7.1.4"),
        created=T_GROWI_V2,
        revision=2,
        old_templates=[(growi_template("registry.example.com/wiki/growi:7.0.9"), T_GROWI_V1)],
        ready_ip_base=17,
    )

    es = Workload(
        "elasticsearch",
        replicas=1,
        strategy={"type": "Recreate"},
        tmpl=template(
            {"app.kubernetes.io/name": "elasticsearch"},
            [
                container(
                    "elasticsearch",
                    "registry.example.com/search/elasticsearch:8.15.3",
                    ports=[("http", 9200)],
                    env=[
                        {"name": "discovery.type", "value": "single-node"},
                        {"name": "ES_JAVA_OPTS", "value": "-Xms512m -Xmx512m"},
                    ],
                    mounts=[("data", "/usr/share/elasticsearch/data")],
                    resources={"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "1Gi"}},
                )
            ],
            [{"emptyDir": {}, "name": "data"}],
            annotations={fsb_annotation: "data"},
            security_context={"fsGroup": 1000},
        ),
        created=T_ES,
        revision=1,
        ready_ip_base=31,
    )

    web = Workload(
        "web",
        replicas=2,
        strategy={"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
        tmpl=template(
            {"app.kubernetes.io/name": "web"},
            [
                container(
                    "nginx",
                    "registry.example.com/library/nginx:1.27.3",
                    ports=[("http", 8080)],
                    mounts=[("conf", "/etc/nginx/conf.d")],
                    probe_path="/healthz",
                )
            ],
            [{"configMap": {"defaultMode": 420, "name": "web-nginx"}, "name": "conf"}],
        ),
        created=T_WEB,
        revision=1,
        ready_ip_base=40,
    )

    items: list[tuple[str, str, dict]] = []
    fsb_pods: list[tuple[dict, list[str]]] = []

    items.append(
        (
            "namespaces",
            "v1",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "creationTimestamp": T_NS,
                    "labels": {"kubernetes.io/metadata.name": NS},
                    "name": NS,
                    "resourceVersion": resource_version("ns/shop"),
                    "uid": uid("namespaces/shop"),
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )
    )

    def cm(name: str, data: dict, created: str) -> dict:
        return {
            "apiVersion": "v1",
            "data": data,
            "kind": "ConfigMap",
            "metadata": {
                "creationTimestamp": created,
                "name": name,
                "namespace": NS,
                "resourceVersion": resource_version(f"cm/{name}"),
                "uid": uid(f"{NS}/configmaps/{name}"),
            },
        }

    items.append(("configmaps", "v1", cm("growi-config", {"APP_SITE_URL": "https://wiki.example.com", "MONGO_URI": "mongodb://mongodb:27017/growi"}, T_GROWI_V1)))
    items.append(("configmaps", "v1", cm("kube-root-ca.crt", {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIBsample\n-----END CERTIFICATE-----\n"}, T_NS)))
    items[-1][2]["metadata"]["annotations"] = {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}
    items.append(("configmaps", "v1", cm("web-nginx", {"default.conf": "server {\n  listen 8080;\n  location /healthz { return 200; }\n  location / { proxy_pass http://growi:3000; }\n}\n"}, T_WEB)))

    items.append(
        (
            "serviceaccounts",
            "v1",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "creationTimestamp": T_NS,
                    "name": "default",
                    "namespace": NS,
                    "resourceVersion": resource_version("sa/default"),
                    "uid": uid(f"{NS}/serviceaccounts/default"),
                },
            },
        )
    )

    for svc_name, port, target, cluster_ip in (("web", 80, "http", "10.96.114.20"), ("growi", 3000, "http", "10.96.37.181"), ("elasticsearch", 9200, "http", "10.96.201.9")):
        items.append(
            (
                "services",
                "v1",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "creationTimestamp": T_WEB,
                        "labels": {"app.kubernetes.io/name": svc_name},
                        "name": svc_name,
                        "namespace": NS,
                        "resourceVersion": resource_version(f"svc/{svc_name}"),
                        "uid": uid(f"{NS}/services/{svc_name}"),
                    },
                    "spec": {
                        "clusterIP": cluster_ip,
                        "clusterIPs": [cluster_ip],
                        "internalTrafficPolicy": "Cluster",
                        "ipFamilies": ["IPv4"],
                        "ipFamilyPolicy": "SingleStack",
                        "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": target}],
                        "selector": {"app.kubernetes.io/name": svc_name},
                        "sessionAffinity": "None",
                        "type": "ClusterIP",
                    },
                    "status": {"loadBalancer": {}},
                },
            )
        )

    pvc_uid = uid(f"{NS}/persistentvolumeclaims/growi-data")
    pv_name = "pvc-" + pvc_uid
    items.append(
        (
            "persistentvolumeclaims",
            "v1",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "annotations": {
                        "pv.kubernetes.io/bind-completed": "yes",
                        "pv.kubernetes.io/bound-by-controller": "yes",
                        "volume.beta.kubernetes.io/storage-provisioner": "hostpath.csi.k8s.io",
                        "volume.kubernetes.io/selected-node": STORAGE_NODE,
                        "volume.kubernetes.io/storage-provisioner": "hostpath.csi.k8s.io",
                    },
                    "creationTimestamp": T_GROWI_V1,
                    "finalizers": ["kubernetes.io/pvc-protection"],
                    "name": "growi-data",
                    "namespace": NS,
                    "resourceVersion": resource_version("pvc/growi-data"),
                    "uid": pvc_uid,
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "5Gi"}},
                    "storageClassName": "csi-hostpath-sc",
                    "volumeMode": "Filesystem",
                    "volumeName": pv_name,
                },
                "status": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}, "phase": "Bound"},
            },
        )
    )
    items.append(
        (
            "persistentvolumes",
            "v1",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {
                    "annotations": {"pv.kubernetes.io/provisioned-by": "hostpath.csi.k8s.io"},
                    "creationTimestamp": T_GROWI_V1,
                    "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer", "kubernetes.io/pv-protection"],
                    "name": pv_name,
                    "resourceVersion": resource_version("pv/" + pv_name),
                    "uid": uid("persistentvolumes/" + pv_name),
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": "5Gi"},
                    "claimRef": {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "name": "growi-data",
                        "namespace": NS,
                        "resourceVersion": resource_version("pvc/growi-data"),
                        "uid": pvc_uid,
                    },
                    "csi": {
                        "driver": "hostpath.csi.k8s.io",
                        "volumeAttributes": {"kind": "", "storage.kubernetes.io/csiProvisionerIdentity": "1739260800000-9120-hostpath.csi.k8s.io"},
                        "volumeHandle": uid("csi-volume/" + pv_name),
                    },
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "topology.hostpath.csi/node", "operator": "In", "values": [STORAGE_NODE]}]}
                            ]
                        }
                    },
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": "csi-hostpath-sc",
                    "volumeMode": "Filesystem",
                },
                "status": {"lastPhaseTransitionTime": T_GROWI_V1, "phase": "Bound"},
            },
        )
    )

    pods, replicasets, deployments = [], [], []
    for w in (growi, es, web):
        current_name, current_rs = w.replicaset(w.tmpl, w.created, w.revision, w.replicas)
        for rev, (old_tmpl, old_created) in enumerate(w.old_templates, start=1):
            _, old_rs = w.replicaset(old_tmpl, old_created, rev, 0)
            replicasets.append(old_rs)
        replicasets.append(current_rs)
        deployments.append(w.deployment(current_name))
        for i in range(w.replicas):
            pod = w.pod(current_rs, i)
            pods.append(pod)
            fsb = pod["metadata"].get("annotations", {}).get(fsb_annotation)
            if fsb:
                fsb_pods.append((pod, fsb.split(",")))

    items += [("pods", "v1", p) for p in pods]
    items += [("replicasets.apps", "v1", r) for r in replicasets]
    items += [("deployments.apps", "v1", d) for d in deployments]
    return items, fsb_pods, pvc_uid, pv_name


# --------------------------------------------------------------------------------------------
# Velero files.


def backup_uid() -> str:
    return uid(f"{VELERO_NS}/backups/{BACKUP}")


def item_path(group_resource: str, namespace: str, name: str, version_dir: str = "") -> str:
    parts = ["resources", group_resource]
    if version_dir:
        parts.append(version_dir)
    parts += ["namespaces", namespace] if namespace else ["cluster"]
    return "/".join(parts) + f"/{name}.json"


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o755
    info.mtime = MTIME_BACKUP_START
    info.type = tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def build_tarball(items) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        add_file(tar, "metadata/version", b"1.1.0\n")
        for gr, version, obj in items:
            meta = obj["metadata"]
            data = go_json(obj, sort_keys=True).encode()
            ns = meta.get("namespace", "")
            add_file(tar, item_path(gr, ns, meta["name"]), data)
            add_file(tar, item_path(gr, ns, meta["name"], version + "-preferredversion"), data)
        end = tar.offset + 2 * tarfile.BLOCKSIZE
    # Go's tar.Writer ends with two zero blocks; Python pads to a 10 KiB record. Trim to Go's size.
    raw = buf.getvalue()[:end]
    return gzip_bytes(raw)


def build_pvbs(fsb_pods, pvc_uid: str, pv_name: str) -> list[dict]:
    pvbs = []
    for pod, volumes in fsb_pods:
        volumes_by_name = {v["name"]: v for v in pod["spec"]["volumes"]}
        for vol in volumes:
            pod_meta = pod["metadata"]
            suffix = pick("bcdfghjklmnpqrstvwxz2456789", f"pvb/{pod_meta['name']}/{vol}", 5)
            name = f"{BACKUP}-{suffix}"
            is_pvc = "persistentVolumeClaim" in volumes_by_name[vol]
            labels = {"velero.io/backup-name": BACKUP, "velero.io/backup-uid": backup_uid()}
            if is_pvc:
                labels["velero.io/pvc-uid"] = pvc_uid
            meta = {
                "name": name,
                "generateName": BACKUP + "-",
                "namespace": VELERO_NS,
                "uid": uid(f"{VELERO_NS}/podvolumebackups/{name}"),
                "resourceVersion": resource_version(f"pvb/{name}"),
                "generation": 4,
                "creationTimestamp": "2026-03-02T02:00:31Z",
                "labels": dict(sorted(labels.items())),
            }
            if is_pvc:
                meta["annotations"] = {"velero.io/pvc-name": volumes_by_name[vol]["persistentVolumeClaim"]["claimName"]}
            meta["ownerReferences"] = [
                {"apiVersion": "velero.io/v1", "kind": "Backup", "name": BACKUP, "uid": backup_uid(), "controller": True}
            ]
            tags = {
                "backup": BACKUP,
                "backup-uid": backup_uid(),
                "ns": NS,
                "pod": pod_meta["name"],
                "pod-uid": pod_meta["uid"],
                "volume": vol,
            }
            if is_pvc:
                tags["pvc-uid"] = pvc_uid
            host_path = (
                f"/host_pods/{pod_meta['uid']}/volumes/kubernetes.io~csi/{pv_name}/mount"
                if is_pvc
                else f"/host_pods/{pod_meta['uid']}/volumes/kubernetes.io~empty-dir/{vol}"
            )
            size = 734003200 if is_pvc else 1288490188
            pvbs.append(
                {
                    "kind": "PodVolumeBackup",
                    "apiVersion": "velero.io/v1",
                    "metadata": meta,
                    "spec": {
                        "node": pod["spec"]["nodeName"],
                        "pod": {"kind": "Pod", "namespace": pod_meta["namespace"], "name": pod_meta["name"], "uid": pod_meta["uid"]},
                        "volume": vol,
                        "backupStorageLocation": "default",
                        "repoIdentifier": "",
                        "uploaderType": "kopia",
                        "tags": dict(sorted(tags.items())),
                    },
                    "status": {
                        "phase": "Completed",
                        "path": host_path,
                        "snapshotID": hashlib.sha256(f"kopia/{name}".encode()).hexdigest()[:32],
                        "startTimestamp": "2026-03-02T02:00:33Z",
                        "completionTimestamp": "2026-03-02T02:01:02Z",
                        "progress": {"totalBytes": size, "bytesDone": size},
                    },
                }
            )
    return pvbs


def build_backup_cr(total_items: int) -> dict:
    return {
        "kind": "Backup",
        "apiVersion": "velero.io/v1",
        "metadata": {
            "name": BACKUP,
            "namespace": VELERO_NS,
            "uid": backup_uid(),
            "resourceVersion": resource_version(f"backup/{BACKUP}"),
            "generation": 6,
            "creationTimestamp": T_BACKUP_START,
            "labels": {"velero.io/storage-location": "default"},
            "annotations": {
                "velero.io/resource-timeout": "10m0s",
                "velero.io/source-cluster-k8s-gitversion": "v1.31.4",
                "velero.io/source-cluster-k8s-major-version": "1",
                "velero.io/source-cluster-k8s-minor-version": "31",
            },
        },
        "spec": {
            "metadata": {},
            "includedNamespaces": [NS],
            "ttl": "720h0m0s",
            "hooks": {},
            "storageLocation": "default",
            "defaultVolumesToFsBackup": False,
            "csiSnapshotTimeout": "10m0s",
            "itemOperationTimeout": "4h0m0s",
            "snapshotMoveData": False,
        },
        "status": {
            "version": 1,
            "formatVersion": "1.1.0",
            "expiration": T_BACKUP_EXPIRES,
            "phase": "Completed",
            "startTimestamp": T_BACKUP_START,
            "completionTimestamp": T_BACKUP_END,
            "progress": {"totalItems": total_items, "itemsBackedUp": total_items},
        },
    }


def generate(out_root: str) -> dict[str, bytes]:
    items, fsb_pods, pvc_uid, pv_name = build_objects()
    pvbs = build_pvbs(fsb_pods, pvc_uid, pv_name)
    files = {
        "velero-backup.json": (go_json(build_backup_cr(len(items)), indent=2, sort_keys=False) + "\n").encode(),
        f"{BACKUP}.tar.gz": build_tarball(items),
        f"{BACKUP}-podvolumebackups.json.gz": gzip_bytes((go_json(pvbs, sort_keys=False) + "\n").encode()),
    }
    folder = os.path.join(out_root, "backups", BACKUP)
    os.makedirs(folder, exist_ok=True)
    written = {}
    for name, data in files.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as fh:
            fh.write(data)
        written[os.path.relpath(path, out_root)] = data
    return written


# --------------------------------------------------------------------------------------------
# Layout validation (independent of the builders above: reads the files back).


def validate(out_root: str) -> list[str]:
    errors: list[str] = []
    folder = os.path.join(out_root, "backups", BACKUP)
    with open(os.path.join(folder, "velero-backup.json"), "rb") as fh:
        backup = json.load(fh)
    if backup.get("kind") != "Backup" or backup["status"].get("formatVersion") != "1.1.0" or backup["status"].get("phase") != "Completed":
        errors.append("velero-backup.json: want kind Backup, formatVersion 1.1.0, phase Completed")
    with tarfile.open(os.path.join(folder, f"{BACKUP}.tar.gz"), "r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        if names[:1] != ["metadata/version"] or tar.extractfile(members[0]).read() != b"1.1.0\n":
            errors.append("tarball: first member must be metadata/version containing '1.1.0\\n'")
        objects = {}
        for m in members[1:]:
            if not m.isreg() or m.mode != 0o755:
                errors.append(f"{m.name}: want a regular file with mode 0755")
            parts = m.name.split("/")
            if parts[0] != "resources" or not m.name.endswith(".json"):
                errors.append(f"{m.name}: not under resources/ or not .json")
                continue
            data = tar.extractfile(m).read()
            obj = json.loads(data)
            if data != json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode():
                errors.append(f"{m.name}: not compact JSON with sorted keys")
            objects[m.name] = obj
    for path, obj in objects.items():
        parts = path.split("/")
        versioned = parts[2].endswith("-preferredversion")
        rest = parts[3:] if versioned else parts[2:]
        meta = obj["metadata"]
        expected = ["namespaces", meta["namespace"], meta["name"] + ".json"] if "namespace" in meta else ["cluster", meta["name"] + ".json"]
        if rest != expected:
            errors.append(f"{path}: path does not match object {meta.get('namespace')}/{meta['name']}")
        twin = "/".join(parts[:2] + rest) if versioned else "/".join(parts[:2] + [obj["apiVersion"].split("/")[-1] + "-preferredversion"] + rest)
        if objects.get(twin) != obj:
            errors.append(f"{path}: missing or different twin {twin}")
    # Ownership chain and pod-template-hash consistency.
    by_kind = {}
    for path, obj in objects.items():
        if "-preferredversion" not in path:
            by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    for rs in by_kind.get("ReplicaSet", {}).values():
        h = rs["metadata"]["labels"]["pod-template-hash"]
        owner = rs["metadata"]["ownerReferences"][0]
        dep = by_kind["Deployment"].get(owner["name"])
        if dep is None or dep["metadata"]["uid"] != owner["uid"] or rs["metadata"]["name"] != f"{owner['name']}-{h}":
            errors.append(f"ReplicaSet {rs['metadata']['name']}: owner/name/hash inconsistent")
        if rs["spec"]["selector"]["matchLabels"].get("pod-template-hash") != h or rs["spec"]["template"]["metadata"]["labels"].get("pod-template-hash") != h:
            errors.append(f"ReplicaSet {rs['metadata']['name']}: selector/template hash differ")
    for pod in by_kind.get("Pod", {}).values():
        owner = pod["metadata"]["ownerReferences"][0]
        rs = by_kind["ReplicaSet"].get(owner["name"])
        if rs is None or rs["metadata"]["uid"] != owner["uid"]:
            errors.append(f"Pod {pod['metadata']['name']}: owner missing")
            continue
        if pod["metadata"]["labels"].get("pod-template-hash") != rs["metadata"]["labels"]["pod-template-hash"]:
            errors.append(f"Pod {pod['metadata']['name']}: pod-template-hash differs from its ReplicaSet")
    for dep in by_kind.get("Deployment", {}).values():
        current = [
            rs for rs in by_kind["ReplicaSet"].values()
            if rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"] and rs["spec"]["replicas"] > 0
        ]
        if len(current) != 1:
            errors.append(f"Deployment {dep['metadata']['name']}: want exactly one scaled-up ReplicaSet")
            continue
        rs_tmpl = json.loads(json.dumps(current[0]["spec"]["template"]))
        del rs_tmpl["metadata"]["labels"]["pod-template-hash"]
        if rs_tmpl != dep["spec"]["template"]:
            errors.append(f"Deployment {dep['metadata']['name']}: template differs from its current ReplicaSet's")
    with gzip.open(os.path.join(folder, f"{BACKUP}-podvolumebackups.json.gz"), "rb") as fh:
        pvbs = json.loads(fh.read())
    pods = by_kind.get("Pod", {})
    for pvb in pvbs:
        labels = pvb["metadata"]["labels"]
        ref = pvb["spec"]["pod"]
        pod = pods.get(ref["name"])
        if labels.get("velero.io/backup-name") != BACKUP or labels.get("velero.io/backup-uid") != backup["metadata"]["uid"]:
            errors.append(f"PVB {pvb['metadata']['name']}: backup labels wrong")
        if pod is None or pod["metadata"]["namespace"] != ref["namespace"] or pod["metadata"]["uid"] != ref["uid"]:
            errors.append(f"PVB {pvb['metadata']['name']}: pod reference does not match a backed-up pod")
        elif pvb["spec"]["volume"] not in {v["name"] for v in pod["spec"]["volumes"]}:
            errors.append(f"PVB {pvb['metadata']['name']}: volume not in pod")
        if pvb["status"].get("phase") != "Completed" or not pvb["status"].get("snapshotID"):
            errors.append(f"PVB {pvb['metadata']['name']}: not Completed or empty snapshotID")
    return errors


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "sample-backup"), help="output root (default: examples/sample-backup)")
    parser.add_argument("--check", action="store_true", help="compare a fresh generation with --out and validate the layout")
    args = parser.parse_args()
    if not args.check:
        for path in generate(args.out):
            print(os.path.join(args.out, path))
        errors = validate(args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(tmp)
        errors = []
        for rel, data in fresh.items():
            try:
                with open(os.path.join(args.out, rel), "rb") as fh:
                    if fh.read() != data:
                        errors.append(f"{rel}: committed file differs from a fresh generation")
            except FileNotFoundError:
                errors.append(f"{rel}: missing")
        errors += validate(args.out)
    for e in errors:
        print("error:", e, file=sys.stderr)
    passed = 0 if errors else 1
    if args.check:
        print(f"{passed} passed, {1 - passed} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
