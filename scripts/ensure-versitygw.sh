#!/usr/bin/env bash
# Provides versitygw (Versity S3 Gateway), the real S3 server the backup tests talk to (a test
# tool, never product code), in the repo's gitignored .cache/bin.
#
# Order of sources, cheapest first:
#   1. $VERSITYGW_BIN, when set: that binary is copied as it is.
#   2. the machine-wide cache ${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/versitygw-<version>/,
#      which survives fresh clones of the repo on this machine (CI clones anew each run).
#   3. a build from the Go module proxy at the pinned release (CGO off: the RDMA/GPU paths it
#      would need are stubbed out; -p 1 because the machine's 2 cores are shared).
#
# Idempotent and safe to run concurrently (a lock in the machine cache: one build at a time);
# prints what it does and how long it took; exits non-zero with a reason on failure.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$repo/.cache/bin"
tools_cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools"
machine_cache="$tools_cache/versitygw-${VERSITYGW_VERSION}"
start=$(date +%s)

say() { echo "ensure-versitygw: $*"; }
fail() { echo "ensure-versitygw: ERROR: $*" >&2; exit 1; }
finish() { say "$1 in $(( $(date +%s) - start )) s"; }

mkdir -p "$bin_dir" "$machine_cache"

if [ -n "${VERSITYGW_BIN:-}" ]; then
  [ -x "$VERSITYGW_BIN" ] || fail "VERSITYGW_BIN=$VERSITYGW_BIN is not executable"
  cp -f "$VERSITYGW_BIN" "$bin_dir/versitygw"
  finish "copied versitygw from VERSITYGW_BIN"
  exit 0
fi

version_of() { "$1" --version 2>/dev/null | awk '/^Version/ { print $NF; exit }'; }

if [ -x "$bin_dir/versitygw" ] && [ "$(version_of "$bin_dir/versitygw")" = "$VERSITYGW_VERSION" ]; then
  finish "versitygw ${VERSITYGW_VERSION} already in .cache/bin"
  exit 0
fi

(
  flock 9
  if [ ! -x "$machine_cache/versitygw" ]; then
    command -v go >/dev/null || fail "go is not installed; it is needed to build versitygw"
    say "building versitygw ${VERSITYGW_VERSION} from the Go module proxy (first time only; a few minutes on 2 cores)"
    gobin="$machine_cache/gobin.tmp"
    rm -rf "$gobin"
    # The module's own version variables are set by its Makefile; do the same so --version tells.
    CGO_ENABLED=0 GOBIN="$gobin" go install -p 1 -trimpath \
      -ldflags "-s -w -X main.Version=${VERSITYGW_VERSION} -X main.Build=raftkv-tools -X main.BuildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}" \
      || fail "go install github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION} failed"
    mv -f "$gobin/versitygw" "$machine_cache/versitygw"
    rm -rf "$gobin"
    say "built versitygw in $(( $(date +%s) - start )) s"
  fi
) 9>"$machine_cache/.lock"

cp -f "$machine_cache/versitygw" "$bin_dir/versitygw"
"$bin_dir/versitygw" --version >/dev/null 2>&1 || fail "$bin_dir/versitygw does not run"
finish "versitygw $(version_of "$bin_dir/versitygw") in .cache/bin"
