#!/usr/bin/env bash
# Builds helm (a test tool, never product code) from the Go module proxy at a pinned version,
# once, into a machine-wide cache, and copies it into the repo's gitignored .cache/bin.
# `go install` leaves helm's own version string at its source default (e.g. "v3.22"), so the
# pinned version is stamped in with -ldflags and the cache directory name is the source of truth.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
machine_cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/helm-${HELM_VERSION}"
mkdir -p "$repo/.cache/bin" "$machine_cache"
if [ ! -x "$machine_cache/helm" ]; then
  command -v go >/dev/null || { echo "ensure-helm: needs Go (https://go.dev/dl) to build helm ${HELM_VERSION}" >&2; exit 1; }
  start=$(date +%s)
  echo "ensure-helm: building helm ${HELM_VERSION} from the Go module proxy (first time only)"
  GOBIN="$machine_cache" GOFLAGS=-mod=mod go install \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "ensure-helm: built in $(( $(date +%s) - start )) s"
fi
if ! cmp -s "$machine_cache/helm" "$repo/.cache/bin/helm"; then
  cp -f "$machine_cache/helm" "$repo/.cache/bin/helm.tmp"
  mv -f "$repo/.cache/bin/helm.tmp" "$repo/.cache/bin/helm"
fi
"$repo/.cache/bin/helm" version --short
