#!/usr/bin/env bash
# Provides what the real one-node cluster (scripts/cluster.sh) runs besides Kubernetes' own
# binaries (scripts/ensure-k8s-binaries.sh --node) and Debian's containerd/runc/CNI plugins,
# built from source once per machine into ${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools and
# copied into the repo's gitignored .cache/bin (test tooling, never product code):
#   coredns                 github.com/coredns/coredns, from the Go module proxy
#   local-path-provisioner  github.com/rancher/local-path-provisioner (the default StorageClass)
#   pause                   the pod sandbox's process, Kubernetes' own build/pause/linux/pause.c
#                           from the k8s.io/kubernetes module, compiled statically with gcc
# Idempotent; prints what it does and how long it took.
set -euo pipefail
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
K8S_VERSION="${K8S_VERSION:-v1.37.0}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$repo/.cache/bin"
tools="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools"
start=$(date +%s)
say() { echo "ensure-node-tools: $*"; }
fail() { echo "ensure-node-tools: ERROR: $*" >&2; exit 1; }
mkdir -p "$bin_dir" "$tools"
exec 9>"$tools/.node-tools.lock"
flock 9

go_tool() {  # name module version
  local name="$1" module="$2" version="$3" dir="$tools/$1-$3" t0
  if [ ! -x "$dir/$name" ]; then
    command -v go >/dev/null || fail "go is not installed; it is needed to build $name"
    t0=$(date +%s)
    say "building $name $version from the Go module proxy (first time only)"
    mkdir -p "$dir"
    # -p 2: two shared cores.
    GOBIN="$dir" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -p 2 -trimpath -ldflags "-s -w" "$module@$version" \
      || fail "building $module@$version failed"
    [ -x "$dir/$name" ] || fail "go install $module@$version made no $name"
    say "built $name in $(( $(date +%s) - t0 )) s"
  fi
  cp -f "$dir/$name" "$bin_dir/$name"
}

go_tool coredns github.com/coredns/coredns "$COREDNS_VERSION"
go_tool local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_VERSION"

pause_dir="$tools/pause-$K8S_VERSION"
if [ ! -x "$pause_dir/pause" ]; then
  command -v gcc >/dev/null || fail "gcc is needed to compile the pause process"
  src="$(cd "$tools" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')/build/pause/linux/pause.c"
  [ -f "$src" ] || fail "no pause.c in k8s.io/kubernetes@$K8S_VERSION ($src)"
  mkdir -p "$pause_dir"
  gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION" -o "$pause_dir/pause.tmp" "$src" || fail "compiling $src failed"
  strip "$pause_dir/pause.tmp"
  mv -f "$pause_dir/pause.tmp" "$pause_dir/pause"
  say "compiled pause from $src"
fi
cp -f "$pause_dir/pause" "$bin_dir/pause"
"$bin_dir/coredns" -version >/dev/null || fail "coredns does not run"
say "coredns $COREDNS_VERSION, local-path-provisioner $LOCAL_PATH_VERSION, pause $K8S_VERSION in .cache/bin in $(( $(date +%s) - start )) s"
