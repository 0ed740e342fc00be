#!/usr/bin/env bash
# Builds the image from the repo's Dockerfile, unchanged, as a user does:
#   docker build --network host -t <tag> .
# on this tree's private Docker daemon (scripts/lib/private-dockerd.sh), after loading the base
# image the Dockerfile names (scripts/ensure-base-image.sh; no image registry is reachable here).
#   bash scripts/build-image.sh [--tag raftkv:dev] [--revision R] [--save FILE.tar]
# --revision sets the image's revision label (default: the short commit hash); two builds with
# different revisions are two images (different ids) sharing every layer. --save writes `docker save` of the image (for `ctr -n k8s.io images import`).
# With DOCKER_HOST already set by the caller (scripts/test-image.sh), that daemon is used and left
# running; otherwise the private daemon is started and stopped again at the end, success or not.
# Prints the build time and the image size.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tag=raftkv:dev
save=""
revision=""
while (($#)); do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --save) save="$2"; shift 2 ;;
    --revision) revision="$2"; shift 2 ;;
    *) echo "usage: build-image.sh [--tag NAME:TAG] [--revision R] [--save FILE.tar]" >&2; exit 2 ;;
  esac
done

# shellcheck source=lib/private-dockerd.sh
mkdir -p "$repo/.cache"
source "$repo/scripts/lib/private-dockerd.sh"
if [ -z "${DOCKER_HOST:-}" ]; then
  trap private_dockerd_stop EXIT
  trap 'exit 130' INT TERM
  private_dockerd_start
fi

bash "$repo/scripts/ensure-base-image.sh"

# The extra CA: what a user behind a TLS-inspecting proxy passes (see the Dockerfile); on this
# machine it is the host bundle npm already uses, so the documented path is the one exercised.
secret=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then
  secret=(--secret "id=extra_ca,src=$NODE_EXTRA_CA_CERTS")
fi
[ -n "$revision" ] || revision="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
t0=$(date +%s)
echo "build-image: docker build --network host -t $tag ($repo, revision $revision)"
DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain "${secret[@]}" \
  --build-arg "REVISION=$revision" -t "$tag" "$repo" >"$repo/.cache/image-build.log" 2>&1 \
  || { tail -40 "$repo/.cache/image-build.log" >&2; echo "build-image: docker build failed (full log: .cache/image-build.log)" >&2; exit 1; }
size_mb=$(( $("$DOCKER" image inspect -f '{{ .Size }}' "$tag") / 1000000 ))
echo "build-image: built $tag in $(( $(date +%s) - t0 )) s; image size ${size_mb} MB"
if [ -n "$save" ]; then
  "$DOCKER" save -o "$save" "$tag"
  echo "build-image: saved $tag to $save ($(du -m "$save" | cut -f1) MiB)"
fi
