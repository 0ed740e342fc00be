#!/usr/bin/env bash
# Builds helm (a test tool, never product code) from the Go module proxy at a pinned version,
# once, into a machine-wide cache, and links it into the repo's gitignored .cache/bin.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
machine_cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/helm-${HELM_VERSION}"
mkdir -p "$repo/.cache/bin" "$machine_cache"
if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q "${HELM_VERSION}"; then exit 0; fi
if [ ! -x "$machine_cache/helm" ]; then
  start=$(date +%s)
  echo "ensure-helm: building helm ${HELM_VERSION} from the Go module proxy (first time only)"
  GOBIN="$machine_cache" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "ensure-helm: built in $(( $(date +%s) - start )) s"
fi
cp -f "$machine_cache/helm" "$repo/.cache/bin/helm"
"$repo/.cache/bin/helm" version --short
