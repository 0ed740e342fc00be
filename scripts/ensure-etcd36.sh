#!/usr/bin/env bash
# Provides etcd 3.6 and etcd's own benchmark tool (the anchor `make bench` compares raftkv with;
# test tools, never product code) in the repo's gitignored .cache/bin as etcd36 and etcd-benchmark.
#
# Order of sources, cheapest first:
#   1. the machine-wide cache ${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/etcd-<version>/,
#      which survives fresh clones of the repo on this machine (CI clones anew each run).
#   2. a build from the Go module proxy at the pinned release. The server is the package main of
#      go.etcd.io/etcd/server/v3 (ETCD_VERSION). The benchmark tool lives in the root module
#      go.etcd.io/etcd/v3 (tools/benchmark), of which the proxy serves only some versions
#      (ETCD_BENCHMARK_VERSION, the newest served); a throwaway module under the machine cache
#      requires both, so minimal version selection builds the tool against the server's
#      libraries (api, client, pkg, server at ETCD_VERSION).
#
# Idempotent and safe to run concurrently (a lock in the machine cache: one build at a time);
# prints what it does and how long it took; exits non-zero with a reason on failure.
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-v3.6.17}"
ETCD_BENCHMARK_VERSION="${ETCD_BENCHMARK_VERSION:-v3.6.8}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$repo/.cache/bin"
machine_cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/etcd-${ETCD_VERSION}"
start=$(date +%s)

say() { echo "ensure-etcd36: $*"; }
fail() { echo "ensure-etcd36: ERROR: $*" >&2; exit 1; }
finish() { say "$1 in $(( $(date +%s) - start )) s"; }

version_of() { "$1" --version 2>/dev/null | awk '/^etcd Version:/ { print "v" $NF; exit }'; }

mkdir -p "$bin_dir" "$machine_cache"

if [ -x "$bin_dir/etcd36" ] && [ -x "$bin_dir/etcd-benchmark" ] && [ "$(version_of "$bin_dir/etcd36")" = "$ETCD_VERSION" ]; then
  finish "etcd ${ETCD_VERSION} and its benchmark tool already in .cache/bin"
  exit 0
fi

(
  flock 9
  if [ ! -x "$machine_cache/etcd" ] || [ ! -x "$machine_cache/benchmark" ]; then
    command -v go >/dev/null || fail "go is not installed; it is needed to build etcd ${ETCD_VERSION}"
    mod_dir="$machine_cache/build-module"
    mkdir -p "$mod_dir"
    say "building etcd ${ETCD_VERSION} and its benchmark tool (root module ${ETCD_BENCHMARK_VERSION}) from the Go module proxy (first time only; minutes on 2 cores)"
    cat > "$mod_dir/go.mod" <<GOMOD
module raftkv.dev/etcd-tools

go 1.24

require (
	go.etcd.io/etcd/v3 ${ETCD_BENCHMARK_VERSION}
	go.etcd.io/etcd/api/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
)
GOMOD
    cat > "$mod_dir/tools.go" <<'GOSRC'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "go.etcd.io/etcd/v3/tools/benchmark"
)
GOSRC
    (
      cd "$mod_dir"
      rm -f go.sum
      GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>"$mod_dir/tidy.log" || { cat "$mod_dir/tidy.log" >&2; exit 1; }
      # tidy may raise a library past the pinned one; the server must be the pinned release.
      got=$(GOFLAGS=-mod=mod go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
      [ "$got" = "$ETCD_VERSION" ] || { echo "server resolved to $got, not $ETCD_VERSION" >&2; exit 1; }
      for pair in "etcd:go.etcd.io/etcd/server/v3" "benchmark:go.etcd.io/etcd/v3/tools/benchmark"; do
        name="${pair%%:*}"; pkg="${pair#*:}"
        b_start=$(date +%s)
        say "go build $pkg"
        # -p 2: the machine has 2 shared cores; -trimpath/-s -w keep the cached binaries small.
        CGO_ENABLED=0 GOFLAGS=-mod=mod go build -p 2 -trimpath -ldflags "-s -w" -o "$machine_cache/$name.tmp" "$pkg"
        mv -f "$machine_cache/$name.tmp" "$machine_cache/$name"
        say "built $name in $(( $(date +%s) - b_start )) s"
      done
    ) || fail "building etcd ${ETCD_VERSION} failed (module dir: $mod_dir)"
  fi
) 9>"$machine_cache/.lock"

cp -f "$machine_cache/etcd" "$bin_dir/etcd36"
cp -f "$machine_cache/benchmark" "$bin_dir/etcd-benchmark"
[ "$(version_of "$bin_dir/etcd36")" = "$ETCD_VERSION" ] || fail "$bin_dir/etcd36 does not run or is not ${ETCD_VERSION}"
"$bin_dir/etcd-benchmark" --help >/dev/null 2>&1 || fail "$bin_dir/etcd-benchmark does not run"
finish "etcd ${ETCD_VERSION} (.cache/bin/etcd36) and etcd's benchmark tool (.cache/bin/etcd-benchmark)"
