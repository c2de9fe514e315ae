#!/usr/bin/env python3
"""The scale restore of tests/e2e/velero/run.sh: 10,000 items through the Velero server, the plugin
killed twice during it (run with the moto venv's python; env KAPI_* as for e2e.py).

  scale.py monitor --plugin PATH --backup NAME --restore NAME --kill-at-items N --out FILE
      Until SIGTERM: (1) watches DownloadRequests and kill -9s our plugin process the moment the
      first one for the backup appears: the plugin creates it inside the Execute of the restore's
      first pod that needs the backup's contents and polls it for Velero's URL, so that kill lands in
      the middle of an Execute; (2) kill -9s it
      again once the Restore's progress reaches N items restored; (3) samples every plugin
      process's VmRSS/VmHWM. On SIGTERM writes FILE (JSON: kills, download requests, peak RSS).

  scale.py check --backup-dir DIR --namespace NS --restore NAME --restore-log FILE --monitor FILE
                 --window S --max-rss-mb M
      After the restore, and a window in which the Deployment controller would roll out: one
      `CHECK ok|FAIL ...` line each, then `VELERO-SCALE: ...`. Expected values come from the backup
      and the monitor, never from the plugin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Api, Backup, Checks, deployment_of_pod  # noqa: E402

VELERO_NS = "velero"


def plugin_pids(path: str) -> list[int]:
    """Processes whose argv[0] is the plugin binary (Velero starts one per plugin per restore)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv0 = fh.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if argv0 == path:
            pids.append(int(entry))
    return pids


def memory_kb(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def cmd_monitor(args) -> int:
    api = Api()
    lock = threading.Lock()
    state = {"kills": [], "download_requests": [], "peak_kb": {}, "samples": 0, "t0": time.time()}

    def progress() -> int:
        code, body = api.call("GET", f"/apis/velero.io/v1/namespaces/{VELERO_NS}/restores/{args.restore}")
        return int(((body.get("status") or {}).get("progress") or {}).get("itemsRestored") or 0) if code == 200 else 0

    def kill(trigger: str) -> None:
        pids = plugin_pids(args.plugin)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        items = progress()
        with lock:
            state["kills"].append({"t": round(time.time() - state["t0"], 2), "trigger": trigger,
                                   "pids": pids, "items_restored": items})

    def watch_download_requests() -> None:
        prefix = f"{args.backup}-fsb-guard-"
        url = (f"{api.server}/apis/velero.io/v1/namespaces/{VELERO_NS}/downloadrequests"
               "?watch=1&timeoutSeconds=3600")
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        killed = False
        with urllib.request.urlopen(req, context=api.ctx) as resp:
            for line in resp:
                event = json.loads(line)
                name = event.get("object", {}).get("metadata", {}).get("name", "")
                if event.get("type") != "ADDED" or not name.startswith(prefix):
                    continue
                if not killed:
                    killed = True
                    kill("first DownloadRequest (inside the Execute of the first pod that needs the backup)")
                with lock:
                    state["download_requests"].append({"t": round(time.time() - state["t0"], 2), "name": name})

    def sample() -> None:
        killed = False
        last_progress = 0.0
        while True:
            pids = plugin_pids(args.plugin)
            with lock:
                state["samples"] += 1
                for pid in pids:
                    _, hwm = memory_kb(pid)
                    state["peak_kb"][str(pid)] = max(state["peak_kb"].get(str(pid), 0), hwm)
            if not killed and time.time() - last_progress >= 1:
                last_progress = time.time()
                try:
                    if progress() >= args.kill_at_items and pids:
                        killed = True
                        kill(f"progress reached {args.kill_at_items} items")
                except Exception as err:  # the API may be slow under load; try again
                    print(f"monitor: {err}", file=sys.stderr)
            time.sleep(0.2)

    def finish(*_):
        with lock:
            with open(args.out, "w") as fh:
                json.dump(state, fh, indent=1)
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    threading.Thread(target=watch_download_requests, daemon=True).start()
    threading.Thread(target=sample, daemon=True).start()
    while True:
        time.sleep(3600)


def cmd_check(args) -> int:
    api, backup, c = Api(), Backup(args.backup_dir), Checks()
    ns = args.namespace
    with open(args.monitor) as fh:
        mon = json.load(fh)
    with open(args.restore_log, encoding="utf-8", errors="replace") as fh:
        log = fh.read().splitlines()
    code, restore = api.call("GET", f"/apis/velero.io/v1/namespaces/{VELERO_NS}/restores/{args.restore}")
    status = restore.get("status") or {}
    phase = status.get("phase", "?")
    c.ok(phase in ("Completed", "PartiallyFailed"), "the restore finished", f"phase {phase}")

    kills = mon["kills"]
    c.ok(len(kills) == 2 and all(k["pids"] for k in kills), "the plugin process was killed twice during the restore",
         "; ".join(f"{k['trigger']} at {k['items_restored']} items, pids {k['pids']}" for k in kills))
    restarts = sum("Plugin process exited - restarting." in line for line in log)
    c.ok(restarts >= len(kills), "Velero restarted the plugin after each kill",
         f"{restarts} 'Plugin process exited - restarting.' lines in the restore log")

    time.sleep(args.window)
    want = {gr: {o["metadata"]["name"] for o in backup.of(gr, ns)} for gr in ("deployments.apps", "replicasets.apps", "pods")}
    live = {
        "deployments.apps": {d["metadata"]["name"] for d in api.items(f"/apis/apps/v1/namespaces/{ns}/deployments")},
        "replicasets.apps": {r["metadata"]["name"] for r in api.items(f"/apis/apps/v1/namespaces/{ns}/replicasets")},
        "pods": {p["metadata"]["name"] for p in api.items(f"/api/v1/namespaces/{ns}/pods")},
    }
    items = 1 + sum(len(v) for v in want.values())
    lost = sorted(f"{gr}/{name}" for gr in want for name in want[gr] - live[gr])
    errors = [line for line in log if "level=error" in line]
    unexplained = [item for item in lost if not any(item.split("/", 1)[1] in line for line in errors)]
    c.ok(len(lost) <= len(kills), "at most one item lost per kill (the one whose Execute was in flight)",
         f"lost {lost or 'none'}")
    c.ok(not unexplained, "every lost item is named by an error in the restore log",
         f"unexplained {unexplained}" if unexplained else f"{len(lost)} named")
    c.ok(any(item.startswith("pods/") for item in lost),
         "the kill inside an Execute lost that item (Velero does not create an item whose Execute failed)",
         f"lost pods {[i for i in lost if i.startswith('pods/')]}")
    # A Deployment whose ReplicaSet was lost gets a new one from the controller; any other new
    # ReplicaSet is a rollout over restored pods.
    new_rs = sorted(live["replicasets.apps"] - want["replicasets.apps"])
    lost_rs_deployments = {i.split("/", 1)[1].rsplit("-", 1)[0] for i in lost if i.startswith("replicasets.apps/")}
    rollouts = [rs for rs in new_rs if rs.rsplit("-", 1)[0] not in lost_rs_deployments]
    c.ok(not rollouts, f"no Deployment rolled out within {args.window:.0f} s",
         f"{len(rollouts)} new ReplicaSets: {rollouts[:5]}" if rollouts else f"{len(live['replicasets.apps'])} ReplicaSets, all from the backup")

    ours = [line for line in log if "pluginName=velero-fsb-guard" in line]
    summaries = set()
    for line in ours:
        if "level=info" in line and "kept off the rollout path" in line:
            m = re.search(r'workload="?Deployment ([^" ]+)', line)
            if m:
                summaries.add(m.group(1))
    # The guarded Deployments: those whose backed-up pods have FSB data (from the PodVolumeBackups).
    pods = {p["metadata"]["name"]: p for p in backup.of("pods", ns)}
    fsb_deployments = {deployment_of_pod(pods[p["spec"]["pod"]["name"]]) for p in backup.pvbs
                       if p["spec"]["pod"]["name"] in pods}
    guarded = {f"{ns}/{d}" for d in fsb_deployments & live["deployments.apps"]}
    c.ok(summaries == guarded, "one restore-log summary per restored FSB Deployment, none for the others",
         f"{len(summaries & guarded)} of {len(guarded)}; others {sorted(summaries - guarded)[:5]}")
    warns = [line for line in ours if "level=warning" in line or "level=error" in line]
    for line in warns[:5]:
        print(f"  plugin {line[:300]}")

    peak_mb = max(mon["peak_kb"].values(), default=0) / 1024
    c.ok(0 < peak_mb <= args.max_rss_mb, f"every plugin process stayed under {args.max_rss_mb} MiB resident",
         f"peak {peak_mb:.0f} MiB over {len(mon['peak_kb'])} processes, {mon['samples']} samples")
    print(f"VELERO-SCALE: items={items} restored={items - len(lost)} lost={len(lost)} kills={len(kills)} "
          f"restarts={restarts} phase={phase} rollouts={len(rollouts)} summaries={len(summaries)} "
          f"plugin-warnings={len(warns)} plugin-peak-rss-mb={peak_mb:.0f} downloads={len(mon['download_requests'])}")
    return c.exit_code()


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("monitor")
    for flag in ("--plugin", "--backup", "--restore", "--out"):
        p.add_argument(flag, required=True)
    p.add_argument("--kill-at-items", type=int, required=True)
    p = sub.add_parser("check")
    for flag in ("--backup-dir", "--namespace", "--restore", "--restore-log", "--monitor"):
        p.add_argument(flag, required=True)
    p.add_argument("--window", type=float, default=30)
    p.add_argument("--max-rss-mb", type=float, default=128)
    args = ap.parse_args()
    return {"monitor": cmd_monitor, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
