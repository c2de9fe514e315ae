#!/usr/bin/env bash
# Build fully static velero-fsb-guard binaries (musl) and prove they are static.
#
#   scripts/build-static.sh [TARGET...]      default: the musl target of this machine's arch
#   TARGETs: x86_64-unknown-linux-musl, aarch64-unknown-linux-musl
#
# Output: ${STATIC_OUT:-<repo>/target/static}/<target>/velero-fsb-guard
# Cargo target dir: ${FSB_CACHE:-/var/cache/velero-fsb-guard}/target-static (kept between runs).
#
# C code in the dependency tree (ring, for rustls) needs a C compiler for the target:
# musl-gcc (Debian musl-tools) for x86_64, aarch64-linux-gnu-gcc for aarch64 (it only compiles
# ring's freestanding objects; libc and start files come from Rust's self-contained musl).
# Missing packages are installed with apt-get when running as root.
#
# Fallback when a musl target cannot be installed: FSB_STATIC_FALLBACK=glibc builds the host's
# gnu target with `-C target-feature=+crt-static` (TLS and DNS are pure Rust in this project, so
# no NSS lookup is needed at run time).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
out="${STATIC_OUT:-$repo/target/static}"
target_dir="$cache/target-static"
mkdir -p "$cache" "$out"

host_arch="$(uname -m)"
if [ "$#" -eq 0 ]; then
  set -- "${host_arch}-unknown-linux-musl"
fi

apt_install() {
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || { echo "build-static: need $* (install it)" >&2; return 1; }
  if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

check_static() {
  local bin="$1" desc
  desc="$(file -b "$bin")"
  echo "file: $desc"
  case "$desc" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) echo "build-static: $bin is not static" >&2; return 1 ;;
  esac
  # ldd: "not a dynamic executable" (foreign arch or static) or "statically linked".
  local ldd_out
  ldd_out="$(ldd "$bin" 2>&1 || true)"
  echo "ldd: $ldd_out"
  case "$ldd_out" in
    *"not a dynamic executable"*|*"statically linked"*) ;;
    *) echo "build-static: ldd lists shared libraries for $bin" >&2; return 1 ;;
  esac
}

command -v file >/dev/null || apt_install file

passed=0
failed=0
for target in "$@"; do
  env_target="$(echo "$target" | tr 'a-z-' 'A-Z_')"
  cc_var="CC_$(echo "$target" | tr '-' '_')"
  extra_rustflags=""
  case "$target" in
    x86_64-unknown-linux-musl)
      if [ "$host_arch" = x86_64 ]; then
        command -v musl-gcc >/dev/null || apt_install musl-tools
        export "$cc_var=${!cc_var:-musl-gcc}"
      else
        command -v x86_64-linux-gnu-gcc >/dev/null || apt_install gcc-x86-64-linux-gnu libc6-dev-amd64-cross
        export "$cc_var=${!cc_var:-x86_64-linux-gnu-gcc}"
        export "CARGO_TARGET_${env_target}_LINKER=x86_64-linux-gnu-gcc"
      fi
      ;;
    aarch64-unknown-linux-musl)
      if [ "$host_arch" = aarch64 ]; then
        command -v musl-gcc >/dev/null || apt_install musl-tools
        export "$cc_var=${!cc_var:-musl-gcc}"
      else
        command -v aarch64-linux-gnu-gcc >/dev/null || apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
        export "$cc_var=${!cc_var:-aarch64-linux-gnu-gcc}"
        export "CARGO_TARGET_${env_target}_LINKER=aarch64-linux-gnu-gcc"
      fi
      ;;
    *-unknown-linux-gnu)
      extra_rustflags="-C target-feature=+crt-static"
      ;;
    *) echo "build-static: unsupported target $target" >&2; exit 2 ;;
  esac

  if [[ "$target" == *-musl ]] && command -v rustup >/dev/null; then
    if ! rustup target list --installed | grep -qx "$target"; then
      if ! rustup target add "$target"; then
        if [ "${FSB_STATIC_FALLBACK:-}" = glibc ]; then
          echo "build-static: cannot install $target; falling back to static glibc" >&2
          target="${host_arch}-unknown-linux-gnu"
          env_target="$(echo "$target" | tr 'a-z-' 'A-Z_')"
          extra_rustflags="-C target-feature=+crt-static"
        else
          echo "build-static: cannot install $target (set FSB_STATIC_FALLBACK=glibc to fall back)" >&2
          failed=$((failed + 1))
          continue
        fi
      fi
    fi
  fi

  echo "== building $target"
  # Per-target RUSTFLAGS so build scripts (host) are not affected.
  if [ -n "$extra_rustflags" ]; then
    export "CARGO_TARGET_${env_target}_RUSTFLAGS=$extra_rustflags"
  fi
  if (cd "$repo" && cargo build --release --locked --bin velero-fsb-guard --target "$target" --target-dir "$target_dir"); then
    mkdir -p "$out/$target"
    # Copied beside, then renamed: the e2e's node runs call this script while other stages read the
    # binary (tests/all.sh runs them side by side), and a reader must never see a half-written file.
    cp "$target_dir/$target/release/velero-fsb-guard" "$out/$target/.velero-fsb-guard.$$"
    mv -f "$out/$target/.velero-fsb-guard.$$" "$out/$target/velero-fsb-guard"
    if check_static "$out/$target/velero-fsb-guard"; then
      echo "ok: $out/$target/velero-fsb-guard"
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  else
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
