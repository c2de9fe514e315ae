#!/usr/bin/env python3
"""The real node's scenarios (tests/e2e/node/run.sh); run with the moto venv's python (PyYAML, boto3).

  scenarios.py bucket --endpoint URL --bucket B          create the S3 bucket Velero's install expects
  scenarios.py deploy --out EXPECTED                      storage class, fresh PVs, the five workloads; once
                                                          their pods run, write files of known content into
                                                          every volume from inside the pods and record them
  scenarios.py reset --generation N                       the scenarios' namespaces deleted (wait until gone),
                                                          the old PVs deleted, fresh empty ones (new
                                                          directories) created: the bytes can only come back
                                                          through the file-system restore
  scenarios.py rules --out FILE                           the restore's resource-modifier ConfigMap: the
                                                          issue-8578 example's rules plus one rule per scenario
  scenarios.py check --mode plugin|control --restore R --expected EXPECTED --restore-log FILE
             --rules RULES --uploader kopia|restic
                                                          read the files back inside the running pods and
                                                          judge; `CHECK ok|FAIL` lines, a `SCENARIO` line each,
                                                          last `NODE-RESULT files=N ok=N lost=N failed=N`
  scenarios.py namespaces | mappings                      the set's backed-up namespaces (comma list); its
                                                          restore's --namespace-mappings (empty: none)
  scenarios.py drift --round N --state STATE              existing set: the live state a restore starts from
                                                          (rollout to the new image, scale to 0, new bytes in
                                                          every claim); records the drift's bytes and pods
  scenarios.py check-existing --mode plugin|control --restore R --expected EXPECTED --drift STATE
             --restore-log FILE --pv-timeout SECONDS
                                                          existing set: judge one restore into the live
                                                          workloads; `CHECK`/`SCENARIO` lines, last
                                                          `EXISTING-RESULT ok=<names> … lost=N`

The set comes from env NODE_SET: `stage` (default; the five scenarios), `seed` (issue 22: the field
report's own workload, Velero issue 8578, restored into another namespace as the report's was) or
`existing` (issue 20: restores into workloads that still exist, drifted after the backup).

API access as tests/e2e/velero/e2e.py (admin client certificate: KAPI_SERVER, KAPI_CA, KAPI_CERT,
KAPI_KEY). Files are read and written with `ctr tasks exec` in the pod's app container (env NODE_CTR,
NODE_CTR_SOCK): the bytes a restored application sees. Expected values come from what was written
before the backup, never from the plugin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "velero"))
from e2e import Api, Checks, expected_pod_spec_changes, load_docs  # noqa: E402  (shared with stage 2)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
NODE = "fsb-node"
IMAGE = "local/busybox:e2e"
IMAGE_V2 = "local/busybox:e2e-v2"  # the same image under a second tag: the rules' "new image"
SC = "fsb-local"
PV_SIZE = "64Mi"
BLOB = 65536

# One scenario per namespace; one backup and one restore hold them all (Velero runs restores one at
# a time, and users restore whole namespaces sets).
#   kind/name: the workload; replicas: as deployed; volume: emptyDir | claim (one PVC shared by the
#   pods, backed up through one of them) | template (StatefulSet volumeClaimTemplates);
#   rules: the scenario's resource-modifier rules (the 8578 one uses examples/modifiers-8578.yaml);
#   pod_change: what the rules change in the pod template, checked on the pods (path, value);
#   restore_ns: where the restore puts it (--namespace-mappings), default ns; sidecar: a second
#   container (no volume), as the field report's two-container pod had.
def rule(group_resource: str, name: str, ns: str, *patches: tuple[str, str, str]) -> dict:
    """One resource-modifier rule for one workload: JSON-patch (operation, path, value) triples."""
    return {"conditions": {"groupResource": group_resource, "resourceNameRegex": f"^{name}$", "namespaces": [ns]},
            "patches": [{"operation": op, "path": path, "value": value} for op, path, value in patches]}


NEW_IMAGE = ("replace", "/spec/template/spec/containers/0/image", IMAGE_V2)
SCENARIOS = [
    {"name": "8578", "ns": "shop", "kind": "Deployment", "workload": "growi", "replicas": 1,
     "volume": "emptyDir", "rules": None,
     "pod_change": ("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0/key",
                    "storage.example.com/tier")},
    {"name": "image-env", "ns": "billing", "kind": "Deployment", "workload": "api", "replicas": 2,
     "volume": "claim", "rules": [rule("deployments.apps", "api", "billing", NEW_IMAGE, (
         "add", "/spec/template/spec/containers/0/env", '[{"name":"REGION","value":"eu-west-1"}]'))],
     "pod_change": ("/spec/containers/0/image", IMAGE_V2)},
    {"name": "statefulset", "ns": "ledger", "kind": "StatefulSet", "workload": "db", "replicas": 2,
     "volume": "template", "rules": [rule("statefulsets.apps", "db", "ledger", NEW_IMAGE, (
         "add", "/spec/template/spec/containers/0/env", '[{"name":"DB_MODE","value":"restored"}]'))],
     "pod_change": ("/spec/containers/0/image", IMAGE_V2)},
    # Updated once before the backup (pods at pod-template-generation 2); the rule replaces the whole
    # annotation map, so the API server stores generation 1 for the restored DaemonSet: the rollout
    # case (README "Limits"; a template change alone does not roll a restored DaemonSet).
    {"name": "daemonset", "ns": "agents", "kind": "DaemonSet", "workload": "collector", "replicas": 1,
     "volume": "emptyDir", "update_once": True, "rules": [rule(
         "daemonsets.apps", "collector", "agents", ("replace", "/metadata/annotations", '{"team":"observability"}'),
         ("add", "/spec/template/spec/containers/0/env", '[{"name":"SITE","value":"dr"}]'))],
     "pod_change": ("/spec/containers/0/env/0/name", "SITE")},
    {"name": "replicas", "ns": "cache", "kind": "Deployment", "workload": "web", "replicas": 3,
     "volume": "claim", "restored_replicas": 1,
     "rules": [rule("deployments.apps", "web", "cache", ("replace", "/spec/replicas", "1"))],
     "pod_change": None},
]
# Velero issue 8578 as filed (Velero v1.15.0, restic): a Deployment growi-mongodb with two containers
# and a volume `data`, restored from growi-prod: the report's rule selects namespaces gitea-prod and
# growi-prod, yet its failed restic restore names `growi-dev-012579/growi-mongodb-…: data`. Velero
# matches rule namespaces before the namespace mapping, so the report restored growi-prod into
# growi-dev-012579. The rules: the report's conditions, verbatim; its patch list as far as the report
# shows it (the four `{}` adds) and then the example's nodeAffinity and tolerations values (the
# report's own are cut off in the copy we have; examples/modifiers-8578.yaml follows its shape).
REPORT_CONDITIONS = {"groupResource": "deployments.apps",
                     "resourceNameRegex": "^(elasticsearch|growi|gitea-apps-k8s-deployment2|growi-mongodb)$",
                     "namespaces": ["gitea-prod", "growi-prod"]}
SEED = [
    {"name": "seed", "ns": "growi-prod", "restore_ns": "growi-dev-012579", "kind": "Deployment",
     "workload": "growi-mongodb", "replicas": 1, "volume": "claim", "sidecar": "metrics", "rules": None,
     "conditions": REPORT_CONDITIONS, "pod_change": None},
]
# Issue 20: restores into a cluster where the workload still exists (Velero issues 9461, 5242, 1919,
# 6690, 7487). Nothing is deleted: after the backup each workload drifts (`drift`: what a live cluster
# does between a backup and a restore), and the restore runs into the live namespaces. drift: "image"
# (the live Deployment rolled to IMAGE_V2: a new ReplicaSet and pod, the old ReplicaSet kept at 0 in
# the revision history), "zero" (scaled to 0), "live" (still running, its pod <name>-0 exists). In
# every case the files in the claim are overwritten after the backup: only the restore can bring the
# backed-up bytes back. StatefulSets here keep the default OrderedReady policy, as users run them.
EXISTING = [
    {"name": "drift", "ns": "drift", "kind": "Deployment", "workload": "web", "replicas": 1,
     "volume": "claim", "drift": "image", "rules": None, "pod_change": None},
    {"name": "scaled-zero", "ns": "scaled-zero", "kind": "Deployment", "workload": "api", "replicas": 1,
     "volume": "claim", "drift": "zero", "rules": None, "pod_change": None},
    {"name": "sts-zero", "ns": "sts-zero", "kind": "StatefulSet", "workload": "db", "replicas": 1,
     "volume": "template", "drift": "zero", "ordered": True, "rules": None, "pod_change": None},
    {"name": "sts-live", "ns": "sts-live", "kind": "StatefulSet", "workload": "kv", "replicas": 1,
     "volume": "template", "drift": "live", "ordered": True, "rules": None, "pod_change": None},
]
PARKED = "fsb-guard.io/parked"  # the plugin's label on a restored pod it keeps away from the live controller
NODE_SET = os.environ.get("NODE_SET", "stage")
SCENARIOS = {"stage": SCENARIOS, "seed": SEED, "existing": EXISTING}[NODE_SET]
APPS = "/apis/apps/v1"
PLURAL = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def log(msg: str) -> None:
    print(msg, flush=True)


def must(api: Api, method: str, path: str, body: dict | None = None, ok=(200, 201)) -> dict:
    code, out = api.call(method, path, body)
    if code not in ok:
        raise RuntimeError(f"{method} {path}: {code} {out.get('message')}")
    return out


def wait(what: str, timeout: float, fn):
    """Poll fn() every second until it returns something truthy; that value is returned."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except Exception as err:  # the API may hiccup while the node is busy; keep polling
            last = None
            print(f"  ({what}: {err})", file=sys.stderr)
        if last:
            return last
        time.sleep(1)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def pointer(doc, path: str):
    cur = doc
    for tok in path.lstrip("/").split("/"):
        if isinstance(cur, list):
            if not tok.isdigit() or int(tok) >= len(cur):
                return None
            cur = cur[int(tok)]
        elif isinstance(cur, dict):
            cur = cur.get(tok)
        else:
            return None
    return cur


# ------------------------------------------------------------------------------ objects


def labels_of(s: dict) -> dict:
    return {"app": s["workload"]}


def pod_template(s: dict) -> dict:
    volumes = []
    if s["volume"] == "emptyDir":
        volumes = [{"name": "data", "emptyDir": {}}]
    elif s["volume"] == "claim":
        volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": f"{s['workload']}-data"}}]
    return {
        "metadata": {"labels": labels_of(s)},
        "spec": {
            # busybox sleep as PID 1 ignores SIGTERM: a short grace period keeps deletions quick.
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "app", "image": IMAGE, "command": ["sh", "-c", "exec sleep 2147483647"],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]
                          + ([{"name": s["sidecar"], "image": IMAGE, "command": ["sh", "-c", "exec sleep 2147483647"]}]
                             if s.get("sidecar") else []),
            "volumes": volumes,
        },
    }


def workload(s: dict) -> dict:
    spec: dict = {"selector": {"matchLabels": labels_of(s)}, "template": pod_template(s)}
    if s["kind"] != "DaemonSet":
        spec["replicas"] = s["replicas"]
    if s["kind"] == "StatefulSet":
        # Parallel: the controller acts on pods that are not Ready (restored pods wait in restore-wait);
        # with OrderedReady it waits for readiness and a template change rolls only after the volume
        # restore (the data then survives the rollout on its claim, without the plugin too).
        spec.update({"serviceName": s["workload"], "podManagementPolicy": "OrderedReady" if s.get("ordered") else "Parallel",
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "storageClassName": SC,
                         "resources": {"requests": {"storage": PV_SIZE}}}}]})
    return {"apiVersion": "apps/v1", "kind": s["kind"], "metadata": {"name": s["workload"], "namespace": s["ns"]},
            "spec": spec}


def claims(s: dict) -> list[str]:
    if s["volume"] == "claim":
        return [f"{s['workload']}-data"]
    if s["volume"] == "template":
        return [f"data-{s['workload']}-{i}" for i in range(s["replicas"])]
    return []


def pv_count() -> int:
    return sum(len(claims(s)) for s in SCENARIOS)


def create_pvs(api: Api, generation: int) -> None:
    disks = os.environ["NODE_DISKS"]
    for i in range(pv_count()):
        path = os.path.join(disks, f"gen{generation}", f"pv{i}")
        os.makedirs(path, exist_ok=True)
        must(api, "POST", "/api/v1/persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"fsb-gen{generation}-pv{i}", "labels": {"fsb-e2e/generation": str(generation)}},
            "spec": {"capacity": {"storage": PV_SIZE}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": SC,
                     "local": {"path": path},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE]}]}]}}}})


# ------------------------------------------------------------------------------ pods and files


def target_ns(s: dict) -> str:
    """Where the restore puts a scenario's objects (the restore's --namespace-mappings)."""
    return s.get("restore_ns", s["ns"])


def pods_of(api: Api, s: dict, ns: str | None = None) -> list[dict]:
    sel = ",".join(f"{k}={v}" for k, v in labels_of(s).items())
    return api.items(f"/api/v1/namespaces/{ns or s['ns']}/pods?labelSelector={sel}")


def running(pod: dict) -> bool:
    st = pod.get("status", {})
    return (st.get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
            and all(c.get("ready") for c in st.get("containerStatuses", [])))


def app_container_id(pod: dict) -> str:
    for c in pod["status"].get("containerStatuses", []):
        if c["name"] == "app" and c.get("containerID"):
            return c["containerID"].split("://", 1)[1]
    raise RuntimeError(f"pod {pod['metadata']['name']}: no app container")


def pod_exec(pod: dict, script: str, *args: str) -> str:
    """Run `sh -c script` in the pod's app container (containerd's own exec) and return stdout."""
    cmd = [os.environ["NODE_CTR"], "-a", os.environ["NODE_CTR_SOCK"], "-n", "k8s.io", "tasks", "exec",
           "--exec-id", "fsb-" + secrets.token_hex(4), app_container_id(pod), "sh", "-c", script, "sh", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"exec in {pod['metadata']['name']}: {out.stderr.strip() or out.returncode}")
    return out.stdout


def write_files(pod: dict, tag: str) -> dict:
    """A text file with a unique line and a random binary file; returns what a reader must find."""
    text = f"{tag} {secrets.token_hex(16)}\n"
    out = pod_exec(pod, 'printf "%s" "$1" > /data/fsb-text && head -c "$2" /dev/urandom > /data/fsb-blob'
                        ' && sync && sha256sum /data/fsb-blob', text, str(BLOB))
    return {"fsb-text": text, "fsb-blob": out.split()[0]}


def read_files(pod: dict) -> dict:
    out = pod_exec(pod, 'cat /data/fsb-text 2>/dev/null; echo "|"; sha256sum /data/fsb-blob 2>/dev/null || true')
    text, _, rest = out.rpartition("|\n")
    return {"fsb-text": text, "fsb-blob": (rest.split() or [""])[0]}


def claim_of(pod: dict) -> str | None:
    for v in pod["spec"].get("volumes", []):
        if v["name"] == "data" and v.get("persistentVolumeClaim"):
            return v["persistentVolumeClaim"]["claimName"]
    return None


def instances(s: dict, pods: list[dict]) -> dict[str, dict]:
    """Volume instances holding a scenario's data: per pod (emptyDir) or per claim -> one pod to use."""
    out: dict[str, dict] = {}
    for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
        key = f"claim:{claim_of(p)}" if s["volume"] != "emptyDir" else f"pod:{p['metadata']['name']}"
        out.setdefault(key, p)
    return out


def names(api: Api, s: dict, plural: str, ns: str | None = None) -> list[str]:
    """ReplicaSets or ControllerRevisions of a workload: the controllers copy the pod template's
    labels onto them (and Velero restores them with those labels, without owner references)."""
    want = labels_of(s)
    return sorted(i["metadata"]["name"] for i in api.items(f"{APPS}/namespaces/{ns or s['ns']}/{plural}")
                  if all(i["metadata"].get("labels", {}).get(k) == v for k, v in want.items()))


# ------------------------------------------------------------------------------ commands


def cmd_bucket(args) -> int:
    import boto3

    boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1").create_bucket(Bucket=args.bucket)
    log(f"bucket {args.bucket} created at {args.endpoint}")
    return 0


def cmd_deploy(args) -> int:
    api = Api()
    must(api, "POST", "/apis/storage.k8s.io/v1/storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": SC},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}, ok=(201, 409))
    create_pvs(api, 0)
    for s in SCENARIOS:
        must(api, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": s["ns"]}})
        for c in claims(s) if s["volume"] == "claim" else []:
            must(api, "POST", f"/api/v1/namespaces/{s['ns']}/persistentvolumeclaims", {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": c},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": SC,
                         "resources": {"requests": {"storage": PV_SIZE}}}})
        must(api, "POST", f"{APPS}/namespaces/{s['ns']}/{PLURAL[s['kind']]}", workload(s))
    expected = {"scenarios": {}}
    for s in SCENARIOS:
        want = s["replicas"]
        pods = wait(f"{s['ns']}/{s['workload']}: {want} pods running", 180,
                    lambda s=s, want=want: [p for p in pods_of(api, s) if running(p)] if
                    len([p for p in pods_of(api, s) if running(p)]) == want else None)
        if s.get("update_once"):
            # One update in the source cluster: the DaemonSet's generation (and its pod's
            # pod-template-generation label) becomes 2, with two ControllerRevisions.
            path = f"{APPS}/namespaces/{s['ns']}/daemonsets/{s['workload']}"
            strategic_patch(api, path, {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": IMAGE_V2}]}}}})
            pods = wait(f"{s['ns']}/{s['workload']}: updated pod running", 180, lambda s=s: [
                p for p in pods_of(api, s) if running(p)
                and p["metadata"]["labels"].get("pod-template-generation") == "2"] or None)
        files = {}
        for key, pod in instances(s, pods).items():
            files[key] = write_files(pod, f"{s['name']}/{key}")
        expected["scenarios"][s["name"]] = {
            "files": files,
            # The source's PersistentVolumes: a restored claim must not be bound to one of them.
            "pvs": {c: must(api, "GET", f"/api/v1/namespaces/{s['ns']}/persistentvolumeclaims/{c}")["spec"]["volumeName"]
                    for c in {claim_of(p) for p in pods} if c},
            "pods": sorted(p["metadata"]["name"] for p in pods),
            "replicasets": names(api, s, "replicasets") if s["kind"] == "Deployment" else [],
            "controllerrevisions": names(api, s, "controllerrevisions") if s["kind"] != "Deployment" else [],
        }
        log(f"deployed {s['name']}: {s['kind']} {s['ns']}/{s['workload']}, pods {expected['scenarios'][s['name']]['pods']}, "
            f"files written in {sorted(files)}")
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(expected, fh, indent=1)
    return 0


def strategic_patch(api: Api, path: str, body: dict) -> None:
    """What `kubectl patch` does by default: containers are merged by name, not replaced."""
    import urllib.request

    req = urllib.request.Request(api.server + path, data=json.dumps(body).encode(), method="PATCH")
    req.add_header("Content-Type", "application/strategic-merge-patch+json")
    with urllib.request.urlopen(req, context=api.ctx, timeout=15) as resp:
        resp.read()


def cmd_reset(args) -> int:
    """The disaster: the restore's target namespaces go (and with them the claims); then new, empty
    disks. A source namespace the restore maps elsewhere stays, with its bound volumes."""
    api = Api()
    gone = sorted({target_ns(s) for s in SCENARIOS})
    for ns in gone:
        must(api, "DELETE", f"/api/v1/namespaces/{ns}", ok=(200, 202, 404))
    for ns in gone:
        wait(f"namespace {ns} deleted", 180, lambda ns=ns: api.call("GET", f"/api/v1/namespaces/{ns}")[0] == 404)

    def spare(pv: dict) -> bool:  # a volume no surviving claim holds
        return pv["spec"].get("storageClassName") == SC and (
            pv.get("status", {}).get("phase") != "Bound" or pv["spec"].get("claimRef", {}).get("namespace") in gone)
    old = [pv["metadata"]["name"] for pv in api.items("/api/v1/persistentvolumes") if spare(pv)]
    for name in old:
        must(api, "DELETE", f"/api/v1/persistentvolumes/{name}", ok=(200, 202, 404))
    wait("old PersistentVolumes gone", 60, lambda: not [
        p for p in api.items("/api/v1/persistentvolumes") if p["metadata"]["name"] in old])
    create_pvs(api, args.generation)
    log(f"fresh empty PersistentVolumes, generation {args.generation}: {pv_count()}")
    return 0


def cmd_rules(args) -> int:
    example = load_docs(os.path.join(REPO, "examples", "modifiers-8578.yaml"))[0]
    rules = yaml.safe_load(next(iter(example["data"].values())))
    for s in SCENARIOS:
        if s.get("conditions"):  # the example's patches under the scenario's own conditions
            for r in rules["resourceModifierRules"]:
                r["conditions"] = s["conditions"]
        rules["resourceModifierRules"].extend(s["rules"] or [])
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fsb-node-rules", "namespace": "velero"},
          "data": {"rules.yaml": yaml.safe_dump(rules, sort_keys=False)}}
    with open(args.out, "w", encoding="utf-8") as fh:
        yaml.safe_dump(cm, fh, sort_keys=False)
    return 0


def cmd_namespaces(args) -> int:
    print(",".join(s["ns"] for s in SCENARIOS))
    return 0


def cmd_mappings(args) -> int:
    print(",".join(f"{s['ns']}:{s['restore_ns']}" for s in SCENARIOS if s.get("restore_ns")))
    return 0


def contains(live, want) -> bool:
    """`want` is part of `live`: dict keys recursively, list items each found in the live list (the API
    server adds default tolerations to pods), digit keys of a replayed JSON pointer as list indexes."""
    if isinstance(want, dict) and isinstance(live, list):
        return all(k.isdigit() and int(k) < len(live) and contains(live[int(k)], v) for k, v in want.items())
    if isinstance(want, dict):
        return isinstance(live, dict) and all(k in live and contains(live[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(live, list) and all(any(contains(x, w) for x in live) for w in want)
    return live == want


def cmd_check(args) -> int:
    api, c = Api(), Checks()
    with open(args.expected, encoding="utf-8") as fh:
        expected = json.load(fh)["scenarios"]
    plugin = args.mode == "plugin"
    restore = must(api, "GET", f"/apis/velero.io/v1/namespaces/velero/restores/{args.restore}")
    phase = restore.get("status", {}).get("phase")
    pvrs = api.items(f"/apis/velero.io/v1/namespaces/velero/podvolumerestores?labelSelector=velero.io/restore-name={args.restore}")
    pvr_phases = sorted(f"{p['spec']['pod']['namespace']}/{p['spec']['pod']['name']}:{p.get('status', {}).get('phase') or 'New'}"
                        for p in pvrs)
    n_instances = sum(len(e["files"]) for e in expected.values())
    uploaders = sorted({p["spec"].get("uploaderType") or "restic" for p in pvrs})  # empty meant restic before 1.10
    log(f"INFO restore {args.restore}: phase {phase}; PodVolumeRestores {len(pvrs)} ({','.join(uploaders)}): {' '.join(pvr_phases)}")
    with open(args.restore_log, encoding="utf-8", errors="replace") as fh:
        ours = [line for line in fh.read().splitlines() if "pluginName=velero-fsb-guard" in line]
    if plugin:
        c.ok(phase == "Completed", f"restore {args.restore} Completed", f"phase {phase}")
        c.ok(len(pvrs) == n_instances and all(p.get("status", {}).get("phase") == "Completed" for p in pvrs),
             f"every PodVolumeRestore Completed ({n_instances} volumes backed up)", " ".join(pvr_phases))
        c.ok(uploaders == [args.uploader], f"the PodVolumeRestores ran the {args.uploader} uploader", ",".join(uploaders))
    total = ok_files = 0
    for s in SCENARIOS:
        e = expected[s["name"]]
        ns = target_ns(s)
        path = f"{APPS}/namespaces/{ns}/{PLURAL[s['kind']]}/{s['workload']}"
        want_pods = s.get("restored_replicas", s["replicas"])
        # Let the restored application start (restore-wait exits once its volumes are restored).
        try:
            wait(f"{ns}/{s['workload']}: {want_pods} running pods", args.pod_timeout,
                 lambda s=s, w=want_pods: len([p for p in pods_of(api, s, ns) if running(p)]) >= w)
        except RuntimeError as err:
            log(f"INFO {err}")
        pods = [p for p in pods_of(api, s, ns) if running(p)]
        all_pods = pods_of(api, s, ns)
        restored = [p["metadata"]["name"] for p in all_pods
                    if p["metadata"].get("labels", {}).get("velero.io/restore-name") == args.restore]
        replaced = sorted(p["metadata"]["name"] for p in all_pods if p["metadata"]["name"] not in restored)
        got_ok = 0
        notes = []
        for key, want in sorted(e["files"].items()):
            if key.startswith("pod:"):
                readers = [p for p in pods if p["metadata"]["name"] == key[4:]]
            else:
                readers = [p for p in pods if claim_of(p) == key[6:]]
            seen = []
            for p in readers:
                try:
                    seen.append(read_files(p))
                except RuntimeError as err:
                    notes.append(str(err))
            for f in ("fsb-text", "fsb-blob"):
                total += 1
                good = bool(seen) and all(r[f] == want[f] for r in seen)
                got_ok += good
                if not good:
                    notes.append(f"{key}/{f}: " + ("no running pod holds it" if not seen else
                                                   f"read {[(r[f][:16] or '<missing>') for r in seen]} in "
                                                   f"{[p['metadata']['name'] for p in readers]}"))
        ok_files += got_ok
        n = 2 * len(e["files"])
        rs_now = names(api, s, "replicasets", ns) if s["kind"] == "Deployment" else []
        cr_now = names(api, s, "controllerrevisions", ns) if s["kind"] != "Deployment" else []
        new_rs = sorted(set(rs_now) - set(e["replicasets"]))
        new_cr = sorted(set(cr_now) - set(e["controllerrevisions"]))
        lines = [l for l in ours if re.search(f'workload="{s["kind"]} ({s["ns"]}|{ns})/{s["workload"]}"', l)
                 and re.search(r"level=(info|warning)", l)]
        obj = api.call("GET", path)[1]
        live_replicas = obj.get("spec", {}).get("replicas")
        # The pods Velero created and bound the volume restores to (PodVolumeRestore spec.pod.uid) must
        # be the ones running now: same name, same UID, never replaced.
        bound = sorted(f"{p['spec']['pod']['name']}/{p['spec']['pod'].get('uid')}" for p in pvrs
                       if p["spec"]["pod"]["namespace"] == ns)
        live = {f"{p['metadata']['name']}/{p['metadata']['uid']}" for p in pods}
        # A restored claim bound to the source's volume would hand back the source's bytes.
        reused = sorted(c for c, pv in e.get("pvs", {}).items()
                        if api.call("GET", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{c}")[1]
                        .get("spec", {}).get("volumeName") == pv)
        # What the rules set in a Deployment's pod template, replayed from the rules file.
        spec_change = expected_pod_spec_changes(args.rules, s["ns"], s["workload"]) if s["kind"] == "Deployment" else {}
        log(f"SCENARIO {s['name']} ({s['kind']} {ns}/{s['workload']}) mode={args.mode}: files {got_ok}/{n} restored; "
            f"running pods {sorted(p['metadata']['name'] for p in pods)}; not from the restore {replaced}; "
            f"new ReplicaSets {new_rs}; new ControllerRevisions {new_cr}; plugin lines {len(lines)}"
            + (f"; {'; '.join(notes)}" if notes else ""))
        if plugin:
            c.ok(got_ok == n, f"{s['name']}: the files' bytes are back in the running restored pods ({got_ok}/{n})",
                 "; ".join(notes))
            c.ok(not replaced and len(pods) == want_pods, f"{s['name']}: the running pods are the restored ones, {want_pods} of them",
                 f"running {sorted(p['metadata']['name'] for p in pods)}, not restored {replaced}")
            c.ok(not new_rs and not new_cr, f"{s['name']}: no new ReplicaSet or ControllerRevision",
                 f"new {new_rs + new_cr}")
            c.ok(bool(lines), f"{s['name']}: velero restore logs hold the plugin's decision for {s['kind']} {s['ns']}/{s['workload']}",
                 lines[-1][:300] if lines else "none")
            c.ok(bool(bound) and all(b in live for b in bound),
                 f"{s['name']}: the pods the PodVolumeRestores were bound to are the running ones (name/UID)",
                 f"bound {bound}, running {sorted(live)}")
            c.ok(not reused, f"{s['name']}: restored claims are on new volumes, not the source's", f"reused {reused}")
            if spec_change:
                tmpl = obj.get("spec", {}).get("template", {}).get("spec", {})
                bad = [p["metadata"]["name"] for p in pods if not contains(p["spec"], spec_change)]
                c.ok(contains(tmpl, spec_change) and not bad,
                     f"{s['name']}: the {s['kind']} and its running pods carry the rules' {sorted(spec_change)}",
                     f"template {json.dumps({k: tmpl.get(k) for k in spec_change})[:300]}; pods without: {bad}")
            if s.get("restored_replicas"):
                c.ok(live_replicas == s["restored_replicas"], f"{s['name']}: {s['kind']} replicas {s['restored_replicas']}",
                     f"spec.replicas {live_replicas}")
            if s["pod_change"]:
                p_path, value = s["pod_change"]
                bad = [p["metadata"]["name"] for p in pods if pointer(p, p_path) != value]
                c.ok(not bad, f"{s['name']}: the restored pods carry the rules' change ({p_path} = {value})",
                     f"missing in {bad}")
    lost = total - ok_files
    log(f"NODE-RESULT files={total} ok={ok_files} lost={lost} failed={len(c.failed)} restore-phase={phase}")
    return c.exit_code()


# ------------------------------------------------------------------------------ existing workloads (issue 20)


def patch(api: Api, path: str, body: dict, ctype: str = "application/merge-patch+json") -> None:
    import urllib.request

    req = urllib.request.Request(api.server + path, data=json.dumps(body).encode(), method="PATCH")
    req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, context=api.ctx, timeout=15) as resp:
        resp.read()


def workload_path(s: dict) -> str:
    return f"{APPS}/namespaces/{s['ns']}/{PLURAL[s['kind']]}/{s['workload']}"


def serving(api: Api, s: dict, n: int) -> list[dict] | None:
    """The workload settled at n pods: every pod of its selector Running and Ready, none terminating,
    the controller's status caught up (a Deployment: all n pods from its current template)."""
    pods = pods_of(api, s)
    up = [p for p in pods if running(p)]
    if len(pods) != n or len(up) != n:
        return None
    w = must(api, "GET", workload_path(s))
    st = w.get("status", {})
    if w["spec"].get("replicas") != n or st.get("observedGeneration", 0) < w["metadata"]["generation"]:
        return None
    if st.get("readyReplicas", 0) != n or (s["kind"] == "Deployment" and st.get("updatedReplicas", 0) != n):
        return None
    return up


def scale(api: Api, s: dict, n: int) -> None:
    patch(api, workload_path(s), {"spec": {"replicas": n}})


def parked_pods(api: Api, s: dict) -> list[str]:
    return sorted(p["metadata"]["name"] for p in api.items(f"/api/v1/namespaces/{s['ns']}/pods?labelSelector={PARKED}"))


def cmd_drift(args) -> int:
    """The live state every restore of the existing set starts from, applied after the backup and again
    before each restore: `image` rolls the Deployment to IMAGE_V2, `zero` scales to 0 after the files
    are overwritten, `live` keeps the pod running; the claim's files always get new content."""
    api = Api()
    state = {}
    for s in SCENARIOS:
        path = workload_path(s)
        for name in parked_pods(api, s):  # left by an earlier restore (its check has reported it)
            must(api, "DELETE", f"/api/v1/namespaces/{s['ns']}/pods/{name}", ok=(200, 202, 404))
            log(f"{s['name']}: deleted pod {name} left labelled {PARKED}")
        if s["drift"] == "image":
            strategic_patch(api, path, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE_V2}]}}}})
        if must(api, "GET", path)["spec"].get("replicas") != 1:
            scale(api, s, 1)
        pods = wait(f"{s['ns']}/{s['workload']} serving 1 pod", 180, lambda s=s: serving(api, s, 1))
        files = {key: write_files(pod, f"drift-{args.round}/{s['name']}/{key}") for key, pod in instances(s, pods).items()}
        pod = pods[0]
        state[s["name"]] = {"files": files, "pod": pod["metadata"]["name"], "uid": pod["metadata"]["uid"],
                            "image": pod["spec"]["containers"][0]["image"]}
        if s["drift"] == "zero":
            scale(api, s, 0)
            wait(f"{s['ns']}/{s['workload']}: no pod left", 120, lambda s=s: not pods_of(api, s))
        rs = names(api, s, "replicasets") if s["kind"] == "Deployment" else []
        log(f"drift {args.round} {s['name']}: files overwritten in {sorted(files)} (pod {pod['metadata']['name']}, "
            f"{state[s['name']]['image']}); replicas {must(api, 'GET', path)['spec'].get('replicas')}"
            + (f"; ReplicaSets {rs}" if rs else ""))
    with open(args.state, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1)
    log(f"drift {args.round}: " + ", ".join(f"{s['name']}={s['drift']}" for s in SCENARIOS))
    return 0


def stamp(ts: str | None) -> float | None:
    import calendar

    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) if ts else None


def deleted_by(api: Api, ns: str, pod: str, since: float) -> list[str]:
    """Controllers' SuccessfulDelete events naming the pod since the restore started: who deleted it."""
    out = []
    for ev in api.items(f"/api/v1/namespaces/{ns}/events"):
        times = (ev.get("lastTimestamp"), (ev.get("eventTime") or "")[:19] + "Z", ev["metadata"].get("creationTimestamp"))
        when = max((stamp(t) for t in times if t and len(t) == 20), default=0)
        if ev.get("reason") == "SuccessfulDelete" and when >= since and re.search(rf"\b{re.escape(pod)}\b", ev.get("message", "")):
            out.append(f"{ev['involvedObject']['kind']}/{ev['involvedObject']['name']}")
    return sorted(set(out))


def cmd_check_existing(args) -> int:
    """Judges one restore of the existing set. Expected bytes: written before the backup (deploy);
    the drift's own bytes (drift state) for the live StatefulSet, whose data no restore replaces."""
    api, c = Api(), Checks()
    with open(args.expected, encoding="utf-8") as fh:
        expected = json.load(fh)["scenarios"]
    with open(args.drift, encoding="utf-8") as fh:
        drifted = json.load(fh)
    plugin = args.mode == "plugin"
    restore = must(api, "GET", f"/apis/velero.io/v1/namespaces/velero/restores/{args.restore}")
    st = restore.get("status", {})
    phase = st.get("phase")
    started, ended = stamp(st.get("startTimestamp")), stamp(st.get("completionTimestamp"))
    took = int(ended - started) if started and ended else None
    policy = restore["spec"].get("existingResourcePolicy") or "none"
    pvrs = api.items(f"/apis/velero.io/v1/namespaces/velero/podvolumerestores?labelSelector=velero.io/restore-name={args.restore}")
    pvr_phase = {f"{p['spec']['pod']['namespace']}/{p['spec']['pod']['name']}": p.get("status", {}).get("phase") or "New" for p in pvrs}
    # Velero's count of the plugins' asynchronous operations (a parked pod is one, finished by Progress).
    ops = {k: st.get(f"restoreItemOperations{k}", 0) for k in ("Attempted", "Completed", "Failed")}
    log(f"INFO restore {args.restore} (existingResourcePolicy {policy}): phase {phase} after {took}s; "
        f"PodVolumeRestores {len(pvrs)}: {' '.join(f'{k}:{v}' for k, v in sorted(pvr_phase.items()))}; "
        f"plugin operations {ops}")
    with open(args.restore_log, encoding="utf-8", errors="replace") as fh:
        ours = [line for line in fh.read().splitlines() if "pluginName=velero-fsb-guard" in line]
    base = len(c.failed)
    if plugin:
        c.ok(phase == "Completed", f"restore {args.restore} Completed", f"phase {phase}")
        c.ok(took is not None and took < args.pv_timeout,
             f"the restore ended before the pod-volume timeout ({args.pv_timeout:.0f}s)", f"took {took}s")
        parkable = sum(len(expected[s["name"]]["pods"]) for s in SCENARIOS if s["drift"] != "live")
        c.ok(ops["Attempted"] == ops["Completed"] == parkable and not ops["Failed"],
             f"Velero counted {parkable} asynchronous plugin operations (one per parked pod), all completed", f"{ops}")
    restore_ok = len(c.failed) == base
    # The plugin deletes its parked pods once their volume restores finished (Progress); give it a minute.
    try:
        wait("no parked pod left", 60, lambda: not any(parked_pods(api, s) for s in SCENARIOS))
    except RuntimeError as err:
        log(f"INFO {err}")
    ok_names, files_total, files_back = [], 0, 0
    for s in SCENARIOS:
        e, d = expected[s["name"]], drifted[s["name"]]
        ns, wl = s["ns"], f"{s['kind']} {s['ns']}/{s['workload']}"
        base = len(c.failed)
        mine = {k: v for k, v in pvr_phase.items() if k.startswith(ns + "/")}
        gone = {p: deleted_by(api, ns, p, started or 0) for p in e["pods"]}
        left = parked_pods(api, s)
        replicas = must(api, "GET", workload_path(s))["spec"].get("replicas")
        if s["drift"] == "zero" and replicas != 1:
            scale(api, s, 1)  # the application comes back: it reads the claim
        try:
            pods = wait(f"{ns}/{s['workload']} serving 1 pod", args.pod_timeout, lambda s=s: serving(api, s, 1))
        except RuntimeError as err:
            log(f"INFO {err}")
            pods = [p for p in pods_of(api, s) if running(p)]
        want_files = d["files"] if s["drift"] == "live" else e["files"]
        got, notes = 0, []
        for key, want in sorted(want_files.items()):
            readers = [p for p in pods if claim_of(p) == key[6:]]
            seen = []
            for p in readers:
                try:
                    seen.append(read_files(p))
                except RuntimeError as err:
                    notes.append(str(err))
            for f in ("fsb-text", "fsb-blob"):
                good = bool(seen) and all(r[f] == want[f] for r in seen)
                got += good
                if not good:
                    notes.append(f"{key}/{f}: " + ("no running pod holds it" if not seen else
                                                   f"read {[(r[f][:24] or '<missing>') for r in seen]} in "
                                                   f"{[p['metadata']['name'] for p in readers]}"))
        n = 2 * len(want_files)
        live = [f"{p['metadata']['name']} ({p['spec']['containers'][0]['image']})" for p in pods]
        if s["drift"] != "live":
            files_total += n
            files_back += got
        parked_lines = [l for l in ours if wl in l and "parked" in l and "level=info" in l]
        exists_lines = [l for l in ours if wl in l and "already exists" in l and re.search(r"level=warn", l)]
        log(f"SCENARIO {s['name']} ({wl}, drift {s['drift']}) mode={args.mode} policy={policy}: "
            + (f"files {got}/{n} still the live pod's own (not restored)" if s["drift"] == "live" else f"files {got}/{n} restored")
            + f"; read in {live}; replicas at check {replicas}; PodVolumeRestores {mine or 'none'}; "
            f"backed-up pods {e['pods']} deleted by {gone}; parked left {left}; plugin lines: parked {len(parked_lines)}, "
            f"already-exists {len(exists_lines)}" + (f"; {'; '.join(notes)}" if notes else ""))
        if not plugin:
            continue
        if s["drift"] == "live":
            c.ok(not mine, f"{s['name']}: no PodVolumeRestore (Velero keeps the live pod)", f"{mine}")
            c.ok([p["metadata"]["uid"] for p in pods] == [d["uid"]], f"{s['name']}: the live pod {d['pod']} kept (same UID)",
                 f"running {live}")
            c.ok(got == n, f"{s['name']}: its files are the live ones, not the backup's (nothing restored into a running pod)",
                 "; ".join(notes))
            c.ok(bool(exists_lines), f"{s['name']}: a warning line of the plugin for {wl} says the pod already exists",
                 "none" if not exists_lines else exists_lines[-1][:300])
            c.ok(not parked_lines, f"{s['name']}: no line of the plugin for {wl} says a pod was parked",
                 "none" if not parked_lines else parked_lines[-1][:300])
        else:
            c.ok(len(mine) == 1 and all(v == "Completed" for v in mine.values()),
                 f"{s['name']}: its PodVolumeRestore Completed", f"{mine}")
            c.ok(got == n, f"{s['name']}: the backed-up bytes are read in the live workload's pod ({got}/{n})", "; ".join(notes))
            c.ok(not left, f"{s['name']}: no pod labelled {PARKED} remains", f"{left}")
            c.ok(not any(gone.values()), f"{s['name']}: no controller deleted the restored pod", f"{gone}")
            c.ok(bool(parked_lines), f"{s['name']}: an info line of the plugin for {wl} says the pod was parked",
                 "none" if not parked_lines else parked_lines[-1][:300])
            if s["drift"] == "image" and policy == "none":
                c.ok(bool(pods) and all(p["spec"]["containers"][0]["image"] == IMAGE_V2 for p in pods),
                     f"{s['name']}: the live Deployment still runs {IMAGE_V2} (policy none leaves it)", f"{live}")
        if len(c.failed) == base and restore_ok:
            ok_names.append(s["name"])
    log(f"EXISTING-RESULT mode={args.mode} policy={policy} ok={','.join(ok_names) or '-'} scenarios={len(SCENARIOS)} "
        f"files={files_total} back={files_back} lost={files_total - files_back} failed={len(c.failed)} "
        f"restore-phase={phase} took={took}")
    return c.exit_code()


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("bucket")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", required=True)
    p = sub.add_parser("deploy")
    p.add_argument("--out", required=True)
    p = sub.add_parser("reset")
    p.add_argument("--generation", type=int, required=True)
    p = sub.add_parser("rules")
    p.add_argument("--out", required=True)
    p = sub.add_parser("check")
    p.add_argument("--mode", choices=("plugin", "control"), required=True)
    for flag in ("--restore", "--expected", "--restore-log"):
        p.add_argument(flag, required=True)
    p.add_argument("--rules", required=True)
    p.add_argument("--uploader", choices=("kopia", "restic"), required=True)
    p.add_argument("--pod-timeout", type=float, default=120)
    p = sub.add_parser("drift")
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--state", required=True)
    p = sub.add_parser("check-existing")
    p.add_argument("--mode", choices=("plugin", "control"), required=True)
    for flag in ("--restore", "--expected", "--drift", "--restore-log"):
        p.add_argument(flag, required=True)
    p.add_argument("--pv-timeout", type=float, required=True)
    p.add_argument("--pod-timeout", type=float, default=120)
    sub.add_parser("namespaces")
    sub.add_parser("mappings")
    args = ap.parse_args()
    return {"bucket": cmd_bucket, "deploy": cmd_deploy, "reset": cmd_reset, "rules": cmd_rules,
            "check": cmd_check, "namespaces": cmd_namespaces, "mappings": cmd_mappings, "drift": cmd_drift,
            "check-existing": cmd_check_existing}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
