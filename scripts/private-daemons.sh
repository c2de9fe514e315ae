# shellcheck shell=bash
# Sourced (bash): Debian packages installed without starting their services, and Debian's dockerd /
# containerd started privately — their own network namespace (loopback only: nothing can be pulled)
# and mount namespace (a tmpfs on /run, so no host daemon's socket is seen and their mounts vanish
# with them), every directory under one given DIR, stopped by PID. Used by scripts/build-image.sh,
# tests/arm64/image.sh and the real-node test (tests/e2e/node).
#
#   debian_install <package...>         apt-get install, as root, of those not installed yet
#   private_dockerd_start <dir> <log>   sets dockerd_pid; `docker` then talks to it (BuildKit on)
#   private_containerd_start <dir> <log> sets containerd_pid; `private_ctr` talks to it (namespace fsb)
#   private_stop <pid...>               SIGTERM, up to 20 s to exit, then SIGKILL

debian_install() {
  local missing=() p rc=0 policy=false
  for p in "$@"; do
    # dpkg -s also succeeds for a removed package whose configuration files are left
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) == 0 ]] || { echo "need root to install ${missing[*]}" >&2; return 1; }
  # policy-rc.d keeps apt from starting dockerd/containerd services on the host.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=true
  fi
  # A fresh machine has no package lists; stale lists name versions the mirror no longer has: on a
  # failed install, update the lists once and try again.
  compgen -G '/var/lib/apt/lists/*Packages*' >/dev/null || apt-get update -qq || rc=$?
  if [[ $rc -eq 0 ]] && ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  fi
  if $policy; then rm -f /usr/sbin/policy-rc.d; fi
  return "$rc"
}

# private_run <pid var> <log> <command...>: the command in the background, in new network and
# mount namespaces; unshare and sh exec it, so the PID is the command's own.
private_run() {
  local var="$1" log="$2"; shift 2
  unshare -n -m --propagation private -- sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' sh "$@" > "$log" 2>&1 &
  printf -v "$var" %s "$!"
}

# private_wait <seconds> <pid> <command...>: until the command succeeds; fails at once if pid exits.
private_wait() {
  local end=$(( SECONDS + $1 )) pid="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited while waiting for: $*" >&2; return 1; }
    (( SECONDS < end )) || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}

private_stop() {
  local p
  for p in "$@"; do
    kill "$p" 2>/dev/null || continue
    timeout 20 tail --pid="$p" -f /dev/null || kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

private_dockerd_start() {
  local dir="$1"
  mkdir -p "$dir"
  echo '{}' > "$dir/daemon.json"   # not /etc/docker/daemon.json: nothing of the host's configuration
  PRIVATE_DOCKER_SOCK="$dir/docker.sock"
  private_run dockerd_pid "$2" dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" \
    --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" -H "unix://$PRIVATE_DOCKER_SOCK" \
    --iptables=false --ip6tables=false --bridge=none --ip-masq=false
  # shellcheck disable=SC2154 # set by private_run
  private_wait 60 "$dockerd_pid" docker version
}
docker() { DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$PRIVATE_DOCKER_SOCK" "$@"; }

private_containerd_start() {
  local dir="$1"
  mkdir -p "$dir"
  PRIVATE_CONTAINERD_SOCK="$dir/containerd.sock"
  # Only the content store, metadata and snapshotters are needed: no CRI, no runtime.
  cat > "$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$PRIVATE_CONTAINERD_SOCK"
EOF
  private_run containerd_pid "$2" /usr/bin/containerd --config "$dir/config.toml"
  # shellcheck disable=SC2154 # set by private_run
  private_wait 60 "$containerd_pid" private_ctr version
}
private_ctr() { /usr/bin/ctr -a "$PRIVATE_CONTAINERD_SOCK" -n fsb "$@"; }
