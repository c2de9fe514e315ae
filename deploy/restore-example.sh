#!/usr/bin/env bash
# Restore the sample backup with the issue-8578 resource modifiers, with velero-fsb-guard installed.
# Prerequisites: Velero with the node agent, the plugin added
#   velero plugin add ghcr.io/fsb-guard/velero-fsb-guard:0.1.0
# and the backup `shop-20260302` visible (`velero backup get`).
# Usage: deploy/restore-example.sh [BACKUP] [RESTORE_NAME]
set -euo pipefail

backup="${1:-shop-20260302}"
restore="${2:-${backup}-restore-$(date +%Y%m%d%H%M%S)}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Optional: see first what the plugin would do, without changing anything:
#   add  --annotations fsb-guard.io/mode=dry-run  to the restore below.

# The resource modifiers live in a ConfigMap in the Velero namespace (exactly one data key).
kubectl -n velero apply -f "$here/resource-modifiers-8578.yaml"

velero restore create "$restore" \
  --from-backup "$backup" \
  --resource-modifier-configmap storage-node-move \
  --wait

# One summary line per Deployment the plugin looked at:
velero restore logs "$restore" | grep fsb-guard || true
# File-system restores should all be Completed, and each Deployment should still have the
# ReplicaSet that was restored (no new pod-template-hash):
velero restore describe "$restore" --details
kubectl -n shop get replicasets,pods
