#!/usr/bin/env python3
"""Write a synthetic Velero backup tarball (format 1.1.0 layout) of about SIZE_MB compressed.

Usage: gen_backup.py OUT.tar.gz SIZE_MB

Layout as Velero writes it: metadata/version, then resources/<gr>/namespaces/<ns>/<name>.json
with an unversioned copy and a `v1-preferredversion` copy of each item, mode 0755, compact JSON.
The workload part is fixed (100 Deployments + 100 ReplicaSets + 300 pods), whatever the size: the
plugin keeps Deployments and ReplicaSets in memory, so fixing them lets a bigger backup show
whether anything else stays in memory. The bulk is ConfigMaps and Secrets whose data is random
base64 (a realistic worst case for gzip: ~1.35x), so the tarball is ~1.4x its compressed size.
Deterministic (seeded), gzip level 6 like Go's default.
"""

import base64
import gzip
import io
import json
import random
import sys
import tarfile

MTIME = 1764000000


def add(tar, path, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = 0o755
    info.mtime = MTIME
    tar.addfile(info, io.BytesIO(data))
    return len(data)


def item(tar, gr, ns, name, obj):
    n = add(tar, f"resources/{gr}/namespaces/{ns}/{name}.json", obj)
    n += add(tar, f"resources/{gr}/v1-preferredversion/namespaces/{ns}/{name}.json", obj)
    return n


def template(i):
    env = [{"name": f"SETTING_{k:03}", "value": f"value-{i}-{k}"} for k in range(40)]
    return {
        "metadata": {"labels": {"app": f"app-{i}"}},
        "spec": {
            "containers": [{"name": "main", "image": f"registry.example/app-{i}:1.0", "env": env,
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{i}"}}],
        },
    }


def main():
    out, size_mb = sys.argv[1], float(sys.argv[2])
    target = int(size_mb * 1024 * 1024)
    rng = random.Random(42)
    raw = open(out, "wb")
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            info = tarfile.TarInfo("metadata/version")
            info.size, info.mode, info.mtime = 6, 0o755, MTIME
            tar.addfile(info, io.BytesIO(b"1.1.0\n"))
            for i in range(100):
                ns = f"ns-{i % 10}"
                tmpl = template(i)
                item(tar, "deployments.apps", ns, f"app-{i}", {
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": f"app-{i}", "namespace": ns, "labels": {"app": f"app-{i}"}},
                    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": f"app-{i}"}}, "template": tmpl},
                })
                item(tar, "replicasets.apps", ns, f"app-{i}-5d8f7c9b6", {
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": f"app-{i}-5d8f7c9b6", "namespace": ns,
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": f"app-{i}",
                                                      "uid": f"uid-{i}", "controller": True}]},
                    "spec": {"replicas": 3, "template": tmpl},
                })
                for p in range(3):
                    item(tar, "pods", ns, f"app-{i}-5d8f7c9b6-p{p}", {
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"app-{i}-5d8f7c9b6-p{p}", "namespace": ns,
                                     "labels": {"app": f"app-{i}", "pod-template-hash": "5d8f7c9b6"}},
                        "spec": tmpl["spec"],
                    })
            n = 0
            while raw.tell() < target:
                ns = f"ns-{n % 10}"
                kind, gr = ("ConfigMap", "configmaps") if n % 2 else ("Secret", "secrets")
                payload = base64.b64encode(rng.randbytes(rng.randint(8, 96) * 1024)).decode()
                item(tar, gr, ns, f"blob-{n}", {
                    "apiVersion": "v1", "kind": kind,
                    "metadata": {"name": f"blob-{n}", "namespace": ns, "labels": {"bench": "bulk"}},
                    "data": {"payload": payload},
                })
                n += 1
    raw.close()


if __name__ == "__main__":
    main()
