#!/usr/bin/env python3
"""Write the large synthetic Velero backup of the scale benchmark (issue 18, tests/bench/scale.sh).

Usage: gen_scale.py OUT.tar.gz [--mb 1000] [--workloads 20000] [--fsb-pods 5000] [--per-namespace 80]

Writes OUT.tar.gz (Velero's backup format 1.1.0: metadata/version, each item at its unversioned
and its v1-preferredversion path, mode 0755, compact JSON), OUT.rules.yaml (the restore's
resource-modifier rules) and, last, OUT.params.json (the parameters: the file is reused when it
exists with the same parameters).

- `--workloads` Deployments (default 20,000), each with one ReplicaSet, spread over namespaces
  `scale-000`, `scale-001`, ... of `--per-namespace` workloads each (default 80);
- `--fsb-pods / 4` of them (1,250 by default) are `db-<n>` Deployments with 4 pods each, every pod
  with FSB data (its emptyDir volume `data` opted in with the legacy
  `backup.velero.io/backup-volumes` annotation, as tests/e2e/velero/gen_scale_backup.py does; the
  driver creates one Completed PodVolumeBackup per such pod); they are spread evenly over the
  namespaces, so any thousand consecutive items of a kind in Velero's order mix both sorts;
- the others (`app-<n>`) have 1 pod each and no FSB data;
- then incompressible padding (ConfigMaps and Secrets of random base64, tests/bench/gen_backup.py's
  way) until the compressed file reaches `--mb` MiB.

The workload objects come from examples/generate-sample-backup.py's builders through
tests/e2e/velero/gen_scale_backup.py's build(); the padding items through gen_backup.py's item().
Deterministic (seeded, fixed mtimes, gzip mtime 0), gzip level 6 (Go's default).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import importlib.util
import json
import os
import random
import sys
import tarfile
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.join(here, "..", "..")


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gsb = load("gen_scale_backup", os.path.join(repo, "tests", "e2e", "velero", "gen_scale_backup.py"))
gbk = load("gen_backup", os.path.join(here, "gen_backup.py"))
sample = gsb.sample

BACKUP = "scale-bench"
VERSION = 1  # bump when the layout changes: cached files of another version are rewritten

RULES = """version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^db-"
  patches:
  - operation: add
    path: "/spec/template/spec/affinity"
    value: '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"storage.example.com/tier","operator":"In","values":["ssd"]}]}]}}}'
  - operation: add
    path: "/spec/template/spec/tolerations"
    value: '[{"key":"storage.example.com/dedicated","operator":"Equal","value":"true","effect":"NoSchedule"}]'
"""


def spread(total: int, parts: int, k: int) -> int:
    """The k-th of `parts` near-equal shares of `total`."""
    return total * (k + 1) // parts - total * k // parts


def add_item(tar, gr, version, obj):
    meta = obj["metadata"]
    data = sample.go_json(obj, sort_keys=True).encode()
    ns = meta.get("namespace", "")
    sample.add_file(tar, sample.item_path(gr, ns, meta["name"]), data)
    sample.add_file(tar, sample.item_path(gr, ns, meta["name"], version + "-preferredversion"), data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=float(os.environ.get("FSB_SCALE_MB", 1000)))
    ap.add_argument("--workloads", type=int, default=int(os.environ.get("FSB_SCALE_WORKLOADS", 20000)))
    ap.add_argument("--fsb-pods", type=int, default=int(os.environ.get("FSB_SCALE_FSB_PODS", 5000)))
    ap.add_argument("--per-namespace", type=int, default=80)
    a = ap.parse_args()
    if a.fsb_pods % 4 or a.fsb_pods // 4 > a.workloads or a.workloads < 1:
        raise SystemExit("gen_scale: --fsb-pods must be a multiple of 4, at most 4 x --workloads")
    params = {"version": VERSION, "backup": BACKUP, "mb": a.mb, "workloads": a.workloads,
              "fsb_pods": a.fsb_pods, "per_namespace": a.per_namespace}
    params_file = a.out + ".params.json"
    rules_file = a.out + ".rules.yaml"
    try:
        with open(params_file) as fh:
            cached = json.load(fh)
        if all(cached.get(k) == v for k, v in params.items()) and os.path.exists(a.out) \
                and os.path.getsize(a.out) == cached.get("bytes") and os.path.exists(rules_file):
            print(f"gen_scale: reusing {a.out} ({cached['bytes']} bytes, {cached['items']} items)")
            return 0
    except (OSError, ValueError):
        pass
    for f in (params_file, a.out):
        if os.path.exists(f):
            os.remove(f)

    began = time.time()
    db_total = a.fsb_pods // 4
    app_total = a.workloads - db_total
    n_ns = max(1, -(-a.workloads // a.per_namespace))
    sample.BACKUP = BACKUP
    counts = {"namespaces": 0, "deployments": 0, "replicasets": 0, "pods": 0, "fsb_pods": 0, "padding": 0}
    tmp = a.out + ".part"
    raw = open(tmp, "wb")
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            sample.add_file(tar, "metadata/version", b"1.1.0\n")
            for k in range(n_ns):
                ns = f"scale-{k:03d}"
                gsb.NS = ns  # build() hands it to the sample's builders
                db_items, fsb = gsb.build(spread(db_total, n_ns, k), 4, spread(db_total, n_ns, k))
                app_items, _ = gsb.build(spread(app_total, n_ns, k), 1, 0)
                for gr, version, obj in db_items + app_items[1:]:  # app_items[0]: the namespace again
                    add_item(tar, gr, version, obj)
                    key = gr.split(".")[0]
                    counts[key] = counts.get(key, 0) + 1
                counts["fsb_pods"] += len(fsb)
            # The padding: gen_backup.py's ConfigMaps and Secrets of random base64.
            rng = random.Random(42)
            target = int(a.mb * 1024 * 1024)
            n = 0
            while raw.tell() < target:
                ns = f"scale-{n % n_ns:03d}"
                kind, gr = ("ConfigMap", "configmaps") if n % 2 else ("Secret", "secrets")
                payload = base64.b64encode(rng.randbytes(rng.randint(8, 96) * 1024)).decode()
                gbk.item(tar, gr, ns, f"blob-{n}", {
                    "apiVersion": "v1", "kind": kind,
                    "metadata": {"name": f"blob-{n}", "namespace": ns, "labels": {"bench": "bulk"}},
                    "data": {"payload": payload},
                })
                n += 1
            counts["padding"] = n
    raw.close()
    if counts["deployments"] != a.workloads or counts["fsb_pods"] != a.fsb_pods:
        raise SystemExit(f"gen_scale: wrote {counts}, wanted {a.workloads} workloads and {a.fsb_pods} FSB pods")
    os.replace(tmp, a.out)
    with open(rules_file, "w") as fh:
        fh.write(RULES)
    items = counts["deployments"] + counts["replicasets"] + counts["pods"]
    params.update({"bytes": os.path.getsize(a.out), "items": items, "namespaces": n_ns, "counts": counts,
                   "seconds": round(time.time() - began, 1)})
    with open(params_file, "w") as fh:
        json.dump(params, fh, indent=2)
        fh.write("\n")
    print(f"gen_scale: wrote {a.out}: {params['bytes']} bytes, {items} restore items "
          f"({counts['deployments']} Deployments, {counts['replicasets']} ReplicaSets, {counts['pods']} pods, "
          f"{counts['fsb_pods']} with FSB data) in {n_ns} namespaces, {n} padding objects, {params['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
