#!/usr/bin/env python3
"""Write a file-system backup of about 10,000 items for the Velero server scale restore (run.sh).

Usage: gen_scale_backup.py OUT_ROOT [--deployments N] [--replicas R] [--fsb-deployments F]

Writes OUT_ROOT/backups/<name>/ (the bucket folder a Velero server leaves, as
examples/generate-sample-backup.py does for the sample, whose builders this reuses) and
OUT_ROOT/modifiers.yaml (the restore's resource-modifier ConfigMap):

- namespace `scale`: N Deployments (default 1,000), each with one ReplicaSet and R pods (default 8),
  so 1 + 2N + N*R items (10,001 by default), in Velero's backup format 1.1.0;
- the first F Deployments (default 25, named `db-<n>`, the others `app-<n>`) are file-system
  backed: each pod opts its emptyDir volume `data` in (the legacy `backup.velero.io/backup-volumes`
  annotation) and has a Completed kopia PodVolumeBackup. Not every pod: Velero's own
  PodVolumeRestoreAction lists all of the backup's PodVolumeBackups from the API server for every
  pod it restores, so a restore's cost grows with pods x PodVolumeBackups (8,000 of each: about
  1.5 s per pod here, hours in all) whatever plugins run;
- the rules move the `db-` Deployments onto storage nodes (Velero issue 8578's shape: affinity and
  tolerations added to the pod template), which without velero-fsb-guard makes each of them roll
  out over its restored pods.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "sample", os.path.join(here, "..", "..", "..", "examples", "generate-sample-backup.py"))
sample = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sample)

BACKUP = "scale-20260302"
NS = "scale"
MODIFIERS = """apiVersion: v1
kind: ConfigMap
metadata:
  name: scale-storage-node-move
  namespace: velero
data:
  rules.yaml: |
    version: v1
    resourceModifierRules:
    - conditions:
        groupResource: deployments.apps
        resourceNameRegex: "^db-"
        namespaces:
        - scale
      patches:
      - operation: add
        path: "/spec/template/spec/affinity"
        value: '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"storage.example.com/tier","operator":"In","values":["ssd"]}]}]}}}'
      - operation: add
        path: "/spec/template/spec/tolerations"
        value: '[{"key":"storage.example.com/dedicated","operator":"Equal","value":"true","effect":"NoSchedule"}]'
"""


def build(deployments: int, replicas: int, fsb_deployments: int):
    # The sample's builders read these module globals when called.
    sample.BACKUP = BACKUP
    sample.NS = NS
    items = [("namespaces", "v1", {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"creationTimestamp": sample.T_NS, "labels": {"kubernetes.io/metadata.name": NS},
                     "name": NS, "resourceVersion": sample.resource_version("ns/" + NS),
                     "uid": sample.uid("namespaces/" + NS)},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
    })]
    fsb_pods = []
    for i in range(deployments):
        fsb = i < fsb_deployments
        name = f"db-{i:05d}" if fsb else f"app-{i:05d}"
        tmpl = sample.template(
            {"app.kubernetes.io/name": name},
            [sample.container("app", f"registry.example.com/scale/app:{i % 7}.0", ports=[("http", 8080)],
                              env=[{"name": "INSTANCE", "value": str(i)}], mounts=[("data", "/data")],
                              resources={"requests": {"cpu": "10m", "memory": "16Mi"}})],
            [{"emptyDir": {}, "name": "data"}],
            annotations={"backup.velero.io/backup-volumes": "data"} if fsb else None,
        )
        w = sample.Workload(name, replicas=replicas,
                            strategy={"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
                            tmpl=tmpl, created=sample.T_ES, revision=1, ready_ip_base=0)
        rs_name, rs = w.replicaset(tmpl, sample.T_ES, 1, replicas)
        items.append(("deployments.apps", "v1", w.deployment(rs_name)))
        items.append(("replicasets.apps", "v1", rs))
        for k in range(replicas):
            pod = w.pod(rs, k)
            items.append(("pods", "v1", pod))
            if fsb:
                fsb_pods.append((pod, ["data"]))
    return items, fsb_pods


def suffix(i: int) -> str:
    """A distinct 5-letter suffix per index, in the alphabet of Kubernetes' generated names."""
    alphabet = sample.POD_TEMPLATE_HASH_ALPHABET
    out = ""
    for _ in range(5):
        i, r = divmod(i, len(alphabet))
        out = alphabet[r] + out
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_root")
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--fsb-deployments", type=int, default=25)
    a = ap.parse_args()
    items, fsb_pods = build(a.deployments, a.replicas, a.fsb_deployments)
    pvbs = sample.build_pvbs(fsb_pods, "", "")
    # The sample's 5-letter name suffixes collide at this count (27^5 names, 8,000 draws: about
    # two collisions, and the API server keeps one of each pair): number them instead.
    for i, pvb in enumerate(pvbs):
        name = f"{BACKUP}-{suffix(i)}"
        pvb["metadata"]["name"] = name
        pvb["metadata"]["uid"] = sample.uid(f"{sample.VELERO_NS}/podvolumebackups/{name}")
    folder = os.path.join(a.out_root, "backups", BACKUP)
    os.makedirs(folder, exist_ok=True)
    files = {
        "velero-backup.json": (sample.go_json(sample.build_backup_cr(len(items)), indent=2, sort_keys=False) + "\n").encode(),
        f"{BACKUP}.tar.gz": sample.build_tarball(items),
        f"{BACKUP}-podvolumebackups.json.gz": sample.gzip_bytes((sample.go_json(pvbs, sort_keys=False) + "\n").encode()),
    }
    backup = json.loads(files["velero-backup.json"])
    backup["spec"]["includedNamespaces"] = [NS]
    files["velero-backup.json"] = (json.dumps(backup, indent=2) + "\n").encode()
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(data)
    with open(os.path.join(a.out_root, "modifiers.yaml"), "w") as fh:
        fh.write(MODIFIERS)
    pods = sum(1 for gr, _, _ in items if gr == "pods")
    names = {(gr, o["metadata"]["name"]) for gr, _, o in items}
    if len(names) != len(items) or len({p["metadata"]["name"] for p in pvbs}) != len(pvbs):
        raise SystemExit("gen_scale_backup: duplicate object names")
    print(f"scale backup: {folder} items={len(items)} deployments={a.deployments} pods={pods} "
          f"fsb-deployments={a.fsb_deployments} pvbs={len(pvbs)} "
          f"tarball={len(files[BACKUP + '.tar.gz'])} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
