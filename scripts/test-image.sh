#!/usr/bin/env bash
# `make test-image`: builds the image from the Dockerfile on this tree's private Docker daemon
# and smoke-tests it (test/image/smoke.sh); the daemon is stopped at the end, success or not.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tag="${IMAGE_TAG:-raftkv:dev}"
mkdir -p "$repo/.cache"
# shellcheck source=lib/private-dockerd.sh
source "$repo/scripts/lib/private-dockerd.sh"
trap private_dockerd_stop EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
private_dockerd_start
bash "$repo/scripts/build-image.sh" --tag "$tag"
t0=$(date +%s)
bash "$repo/test/image/smoke.sh" "$tag"
echo "test-image: smoke test in $(( $(date +%s) - t0 )) s; all in $(( $(date +%s) - start )) s"
