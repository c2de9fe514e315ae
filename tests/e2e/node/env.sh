# Sourced by build.sh and run.sh: where the node's parts are cached and which versions they are.
CACHE="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
export FSB_CACHE="$CACHE"
K8S_VERSION="${K8S_VERSION:-v1.37.2}"   # the newest release; 1.35+ kubelets need failCgroupV1: false here
# shellcheck source=../velero/versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/../velero/versions.sh"
NODE_CACHE="$CACHE/node"
