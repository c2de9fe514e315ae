#!/usr/bin/env python3
"""Helpers for tests/e2e/velero/run.sh (run with the moto venv's python: boto3 and PyYAML).

  e2e.py apply FILE...                      create the objects in FILE (YAML/JSON, multi-doc); existing = ok
  e2e.py seed --endpoint URL --bucket B --backup-dir DIR
                                            create bucket B and upload DIR as backups/<basename DIR>/...
                                            (velero-backup.json with status.expiration moved 30 days ahead)
  e2e.py watch-rs --namespace NS --out FILE record every ReplicaSet ever seen in NS (poll 0.5 s) until killed
  e2e.py wait-deployments --namespace NS --backup-dir DIR --timeout S
                                            wait until every Deployment of the backup exists live
  e2e.py check --namespace NS --backup-dir DIR --modifiers FILE --restore NAME --restore-log FILE
               --seen-rs FILE --window S    the assertions; one `CHECK ok|FAIL ...` line each

The API server is reached with the admin client certificate: env KAPI_SERVER, KAPI_CA, KAPI_CERT,
KAPI_KEY. Expected values never come from the plugin: they are read from the backup (tarball and
PodVolumeBackups) and from the resource-modifier rules.
"""

from __future__ import annotations

import argparse
import calendar
import fnmatch
import gzip
import json
import os
import re
import ssl
import sys
import tarfile
import time
import urllib.error
import urllib.request

import yaml

# kind -> (api prefix, plural, namespaced) for the few kinds the suite creates itself.
KINDS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
}


class Api:
    def __init__(self) -> None:
        self.server = os.environ["KAPI_SERVER"].rstrip("/")
        self.ctx = ssl.create_default_context(cafile=os.environ["KAPI_CA"])
        self.ctx.load_cert_chain(os.environ["KAPI_CERT"], os.environ["KAPI_KEY"])

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=15) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            text = err.read()
            try:
                return err.code, json.loads(text)
            except ValueError:
                return err.code, {"message": text.decode(errors="replace")}

    def items(self, path: str) -> list[dict]:
        code, body = self.call("GET", path)
        if code != 200:
            raise RuntimeError(f"GET {path}: {code} {body.get('message')}")
        return body.get("items") or []


def load_docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def cmd_apply(args) -> int:
    api = Api()
    for path in args.files:
        for obj in load_docs(path):
            prefix, plural, namespaced = KINDS[obj["kind"]]
            ns = obj["metadata"].get("namespace", "default")
            url = f"{prefix}/namespaces/{ns}/{plural}" if namespaced else f"{prefix}/{plural}"
            code, body = api.call("POST", url, obj)
            if code not in (200, 201, 409):
                print(f"apply {obj['kind']} {obj['metadata']['name']}: {code} {body.get('message')}", file=sys.stderr)
                return 1
            print(f"apply: {obj['kind']} {ns if namespaced else ''}/{obj['metadata']['name']} ({code})")
    return 0


def cmd_seed(args) -> int:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "fsb-e2e"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "fsb-e2e-secret"),
    )
    s3.create_bucket(Bucket=args.bucket)
    name = os.path.basename(os.path.normpath(args.backup_dir))
    for entry in sorted(os.listdir(args.backup_dir)):
        key = f"backups/{name}/{entry}"
        with open(os.path.join(args.backup_dir, entry), "rb") as fh:
            body = fh.read()
        if entry == "velero-backup.json":
            # The sample's expiration lies in the past; Velero's garbage collector deletes an expired
            # backup as soon as it is synced (gc_controller reconciles on create). Move it 30 days ahead.
            backup = json.loads(body)
            backup["status"]["expiration"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
            body = json.dumps(backup, indent=2).encode()
        s3.put_object(Bucket=args.bucket, Key=key, Body=body)
        print(f"seed: s3://{args.bucket}/{key}")
    return 0


def cmd_watch_rs(args) -> int:
    api = Api()
    seen: set[str] = set()
    while True:
        try:
            for rs in api.items(f"/apis/apps/v1/namespaces/{args.namespace}/replicasets"):
                name = rs["metadata"]["name"]
                if name not in seen:
                    seen.add(name)
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"t": time.time(), "name": name,
                                             "created": rs["metadata"].get("creationTimestamp"),
                                             "labels": rs["metadata"].get("labels", {})}) + "\n")
        except Exception as err:  # the API server may be going away at the end; keep polling
            print(f"watch-rs: {err}", file=sys.stderr)
        time.sleep(0.5)


# ------------------------------------------------------------------------------ backup contents


class Backup:
    """What the crafted backup holds: items from the tarball, pods with FSB data from the PVBs."""

    def __init__(self, backup_dir: str) -> None:
        self.name = os.path.basename(os.path.normpath(backup_dir))
        self.items: dict[tuple[str, str, str], dict] = {}
        with tarfile.open(os.path.join(backup_dir, f"{self.name}.tar.gz")) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                # resources/<gr>/namespaces/<ns>/<name>.json (the unversioned copy a restore reads)
                if len(parts) == 5 and parts[0] == "resources" and parts[2] == "namespaces":
                    obj = json.load(tar.extractfile(member))
                    self.items[(parts[1], parts[3], obj["metadata"]["name"])] = obj
        with gzip.open(os.path.join(backup_dir, f"{self.name}-podvolumebackups.json.gz")) as fh:
            self.pvbs = json.load(fh)

    def of(self, gr: str, ns: str) -> list[dict]:
        return [o for (g, n, _), o in sorted(self.items.items()) if g == gr and n == ns]

    def fsb_volumes(self, ns: str, pod: str) -> list[str]:
        return sorted(p["spec"]["volume"] for p in self.pvbs
                      if p["spec"]["pod"]["namespace"] == ns and p["spec"]["pod"]["name"] == pod
                      and p.get("status", {}).get("snapshotID"))


def pointer_set(doc: dict, tokens: list[str], value) -> None:
    cur = doc
    for t in tokens[:-1]:
        cur = cur.setdefault(t, {})
    cur[tokens[-1]] = value


def rule_value(raw: str):
    """A JSON-patch value as Velero's modifiers read it (facts/velero.md §6.4), for the shapes used here."""
    if raw.startswith("{") or raw.startswith("["):
        return json.loads(raw)
    return raw


def expected_pod_spec_changes(modifiers: str, ns: str, deployment: str) -> dict:
    """The pod-spec fields the Deployment-scoped JSON-patch `add` ops set under /spec/template/spec/,
    replayed in rule order. Ops on the empty member (`/spec/template/spec/`) do not reach a pod field."""
    cm = load_docs(modifiers)[0]
    rules = yaml.safe_load(next(iter(cm["data"].values())))
    out: dict = {}
    for rule in rules["resourceModifierRules"]:
        cond = rule["conditions"]
        if cond["groupResource"] != "deployments.apps":
            continue
        if cond.get("namespaces") and not any(fnmatch.fnmatchcase(ns, g) for g in cond["namespaces"]):
            continue
        if cond.get("resourceNameRegex") and not re.search(cond["resourceNameRegex"], deployment):
            continue
        for op in rule.get("patches", []):
            prefix = "/spec/template/spec/"
            if op["operation"] != "add" or not op["path"].startswith(prefix):
                continue
            tail = op["path"][len(prefix):]
            if not tail or tail.endswith("/"):
                continue
            pointer_set(out, tail.split("/"), rule_value(op["value"]))
    return out


# ------------------------------------------------------------------------------ checks


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def ok(self, cond: bool, what: str, detail: str = "") -> bool:
        print(f"CHECK {'ok  ' if cond else 'FAIL'} {what}{(': ' + detail) if detail else ''}")
        if not cond:
            self.failed.append(what)
        return cond

    def exit_code(self) -> int:
        """0 when every check passed; otherwise names the failed ones and returns 1."""
        if self.failed:
            print("failed: " + "; ".join(self.failed))
            return 1
        return 0


def deployment_of_pod(pod: dict) -> str | None:
    h = pod["metadata"].get("labels", {}).get("pod-template-hash")
    for ref in pod["metadata"].get("ownerReferences", []):
        if ref.get("kind") == "ReplicaSet" and h and ref["name"].endswith("-" + h):
            return ref["name"][: -len(h) - 1]
    return None


def cmd_wait_deployments(args) -> int:
    api, backup = Api(), Backup(args.backup_dir)
    want = {d["metadata"]["name"] for d in backup.of("deployments.apps", args.namespace)}
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        try:
            live = {d["metadata"]["name"] for d in api.items(f"/apis/apps/v1/namespaces/{args.namespace}/deployments")}
        except Exception:
            live = set()
        if want <= live:
            print(f"deployments created: {sorted(want)}")
            return 0
        time.sleep(0.5)
    print(f"timed out waiting for deployments {sorted(want)}", file=sys.stderr)
    return 1


def cmd_check(args) -> int:
    api, backup, c = Api(), Backup(args.backup_dir), Checks()
    ns = args.namespace
    deployments = {d["metadata"]["name"]: d for d in backup.of("deployments.apps", ns)}
    backup_rs = {r["metadata"]["name"] for r in backup.of("replicasets.apps", ns)}
    backup_pods = {p["metadata"]["name"]: p for p in backup.of("pods", ns)}

    live_deps = {d["metadata"]["name"]: d for d in api.items(f"/apis/apps/v1/namespaces/{ns}/deployments")}
    c.ok(set(deployments) <= set(live_deps), "every Deployment of the backup was restored",
         f"backup {sorted(deployments)}, live {sorted(live_deps)}")
    created = [calendar.timegm(time.strptime(d["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
               for d in live_deps.values()]
    if created:
        wait = max(created) + args.window - time.time()
        if wait > 0:
            print(f"waiting {wait:.0f}s so that {args.window}s have passed since the last Deployment was created")
            time.sleep(wait)

    # 1. No new ReplicaSet: every ReplicaSet ever seen in the namespace is one of the backup's.
    seen = []
    if os.path.exists(args.seen_rs):
        with open(args.seen_rs, encoding="utf-8") as fh:
            seen = [json.loads(line)["name"] for line in fh if line.strip()]
    live_rs = {r["metadata"]["name"]: r for r in api.items(f"/apis/apps/v1/namespaces/{ns}/replicasets")}
    new_rs = sorted((set(seen) | set(live_rs)) - backup_rs)
    c.ok(not new_rs, f"no new ReplicaSet within {args.window}s after the Deployments were created",
         f"new: {new_rs}" if new_rs else f"seen {sorted(set(seen) | set(live_rs))}")
    for name, rs in sorted(live_rs.items()):
        owners = [r["name"] for r in rs["metadata"].get("ownerReferences", [])
                  if r.get("kind") == "Deployment" and r.get("controller")]
        want = name.rsplit("-", 1)[0]
        if want in deployments:
            c.ok(owners == [want], f"ReplicaSet {name} adopted by Deployment {want}", f"controller owners {owners}")

    # 2. Restored pods: alive, created by this restore, restore-wait first on FSB pods, and carrying
    #    the rules' pod-spec changes where the rules change their Deployment.
    live_pods = {p["metadata"]["name"]: p for p in api.items(f"/api/v1/namespaces/{ns}/pods")}
    for name, bpod in sorted(backup_pods.items()):
        pod = live_pods.get(name)
        if not c.ok(pod is not None and not pod["metadata"].get("deletionTimestamp"),
                    f"pod {name} restored and not deleted"):
            continue
        labels = pod["metadata"].get("labels", {})
        c.ok(labels.get("velero.io/restore-name") == args.restore, f"pod {name} created by restore {args.restore}",
             f"velero.io/restore-name={labels.get('velero.io/restore-name')}")
        fsb = backup.fsb_volumes(ns, name)
        if fsb:
            inits = pod["spec"].get("initContainers") or []
            first = inits[0] if inits else {}
            mounts = sorted(m["name"] for m in first.get("volumeMounts", []))
            c.ok(first.get("name") == "restore-wait" and set(fsb) <= set(mounts),
                 f"pod {name} has Velero's restore-wait init container first, mounting its FSB volumes {fsb}",
                 f"init containers {[i['name'] for i in inits]}, restore-wait mounts {mounts}")
        deployment = deployment_of_pod(bpod)
        if deployment not in deployments:
            continue
        want = expected_pod_spec_changes(args.modifiers, ns, deployment)
        if not want:
            continue
        for field, value in sorted(want.items()):
            got = pod["spec"].get(field)
            if isinstance(value, list):
                # Admission may add entries of its own (default tolerations); the rule's must all be there.
                good = isinstance(got, list) and all(v in got for v in value)
            else:
                good = got == value
            c.ok(good, f"pod {name} carries the rule's spec.{field} (re-emitted from Deployment {deployment})",
                 "" if good else f"want {json.dumps(value)}, got {json.dumps(got)}")

    # 3. The Deployments carry the rules' change too (Velero applied the modifiers to them).
    for name, dep in sorted(live_deps.items()):
        want = expected_pod_spec_changes(args.modifiers, ns, name)
        for field, value in sorted(want.items()):
            got = dep["spec"]["template"]["spec"].get(field)
            c.ok(got == value, f"Deployment {name} template has the rule's spec.{field}")

    # 4. Our plugin's lines in `velero restore logs`.
    with open(args.restore_log, encoding="utf-8", errors="replace") as fh:
        log = fh.read().splitlines()
    ours = [line for line in log if "pluginName=velero-fsb-guard" in line]
    c.ok(bool(ours), "velero restore logs contain lines from our plugin (pluginName=velero-fsb-guard)",
         f"{len(ours)} lines")
    guarded = sorted(d for d in deployments
                     if expected_pod_spec_changes(args.modifiers, ns, d)
                     and any(backup.fsb_volumes(ns, p) for p, bp in backup_pods.items() if deployment_of_pod(bp) == d))
    for d in guarded:
        lines = [line for line in ours if f'workload="Deployment {ns}/{d}"' in line
                 and re.search(r"level=(info|warning)", line)]
        c.ok(bool(lines), f"restore log has the plugin's decision for Deployment {ns}/{d}",
             lines[-1][:400] if lines else "none")

    # 5. What happened to the file-system restores (reported; they cannot complete without a node agent).
    pvrs = api.items("/apis/velero.io/v1/namespaces/velero/podvolumerestores")
    for p in pvrs:
        pod_uid = p["spec"]["pod"].get("uid")
        pod = live_pods.get(p["spec"]["pod"]["name"])
        same = pod is not None and pod["metadata"]["uid"] == pod_uid
        print(f"INFO PodVolumeRestore {p['metadata']['name']}: pod {p['spec']['pod']['name']} volume {p['spec']['volume']} "
              f"phase={p.get('status', {}).get('phase', '') or 'New'} bound to the live pod={same}")
        c.ok(same, f"PodVolumeRestore {p['metadata']['name']} is bound to the live restored pod")
    print(f"INFO PodVolumeRestores: {len(pvrs)}")

    print(f"CHECKS: failed={len(c.failed)}")
    return c.exit_code()


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("apply")
    p.add_argument("files", nargs="+")
    p = sub.add_parser("seed")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--backup-dir", required=True)
    p = sub.add_parser("watch-rs")
    p.add_argument("--namespace", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("wait-deployments")
    p.add_argument("--namespace", required=True)
    p.add_argument("--backup-dir", required=True)
    p.add_argument("--timeout", type=float, default=300)
    p = sub.add_parser("check")
    for flag in ("--namespace", "--backup-dir", "--modifiers", "--restore", "--restore-log", "--seen-rs"):
        p.add_argument(flag, required=True)
    p.add_argument("--window", type=float, default=30)
    args = ap.parse_args()
    return {"apply": cmd_apply, "seed": cmd_seed, "watch-rs": cmd_watch_rs,
            "wait-deployments": cmd_wait_deployments, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
