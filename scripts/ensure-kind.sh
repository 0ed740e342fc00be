#!/usr/bin/env bash
# Builds kind (a test tool, never product code) from the Go module proxy at a pinned release, once,
# into the machine-wide cache, and copies it into the repo's gitignored .cache/bin. The release is
# pinned to the one whose default node image is the Kubernetes version the other tiers use
# (kind v0.33.0 -> kindest/node:v1.37.0; scripts/ensure-k8s-binaries.sh builds v1.37.0).
set -euo pipefail
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
machine_cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/kind-${KIND_VERSION}"
mkdir -p "$repo/.cache/bin" "$machine_cache"
exec 9>"$machine_cache/.lock"
flock 9
if [ ! -x "$machine_cache/kind" ]; then
  command -v go >/dev/null || { echo "ensure-kind: needs Go (https://go.dev/dl) to build kind ${KIND_VERSION}" >&2; exit 1; }
  start=$(date +%s)
  echo "ensure-kind: building kind ${KIND_VERSION} from the Go module proxy (first time only)"
  CGO_ENABLED=0 GOBIN="$machine_cache" GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@${KIND_VERSION}"
  echo "ensure-kind: built in $(( $(date +%s) - start )) s"
fi
if ! cmp -s "$machine_cache/kind" "$repo/.cache/bin/kind"; then
  cp -f "$machine_cache/kind" "$repo/.cache/bin/kind.tmp"
  mv -f "$repo/.cache/bin/kind.tmp" "$repo/.cache/bin/kind"
fi
"$repo/.cache/bin/kind" version
