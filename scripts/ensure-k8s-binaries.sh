#!/usr/bin/env bash
# Provides kube-apiserver, kube-controller-manager and kube-scheduler (test tools for the
# operator and e2e tiers, never product code) in the repo's gitignored .cache/bin; with --node
# also kubelet and kube-proxy, for the real one-node cluster (scripts/cluster.sh); with --kind
# kubelet, kubeadm and kubectl, for the kind node image (scripts/ensure-kind-node-image.sh).
#
# Order of sources, cheapest first:
#   1. $KUBEBUILDER_ASSETS, when set: its binaries are copied as they are.
#   2. the machine-wide cache ${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/kubernetes-<version>/,
#      which survives fresh clones of the repo on this machine (CI clones anew each run).
#   3. a build from the Go module proxy at the pinned release. k8s.io/kubernetes requires its
#      staging modules (k8s.io/api, apimachinery, ...) at v0.0.0 and resolves them through
#      replace directives that only apply inside its own repo, so a throwaway module under the
#      machine cache re-pins each of them to the matching v0.X.Y release.
#
# Idempotent; prints what it does and how long it took; exits non-zero with a reason on failure.
# etcd is not built here: it is Debian's etcd-server (/usr/bin/etcd, scripts/install-system-deps.sh).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.0}"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
if [ "${1:-}" = "--node" ]; then
  BINARIES+=(kubelet kube-proxy)
elif [ "${1:-}" = "--kind" ]; then
  BINARIES+=(kube-proxy kubelet kubeadm kubectl)
elif [ -n "${1:-}" ]; then
  echo "usage: ensure-k8s-binaries.sh [--node|--kind]" >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$repo/.cache/bin"
machine_cache="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/kubernetes-${K8S_VERSION}"
start=$(date +%s)

say() { echo "ensure-k8s-binaries: $*"; }
fail() { echo "ensure-k8s-binaries: ERROR: $*" >&2; exit 1; }
finish() { say "$1 in $(( $(date +%s) - start )) s"; }

mkdir -p "$bin_dir"

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in "${BINARIES[@]}"; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || fail "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b"
    cp -f "$KUBEBUILDER_ASSETS/$b" "$bin_dir/$b"
  done
  finish "copied ${BINARIES[*]} from KUBEBUILDER_ASSETS"
  exit 0
fi

# Already in the repo at the pinned version: nothing to do.
# kubeadm and kubectl have no --version flag: their `version` subcommand prints the same string.
version_of() {
  case "$(basename "$1")" in
    kubeadm) "$1" version -o short ;;
    kubectl) "$1" version --client 2>/dev/null | sed -n 's/^Client Version: //p' ;;
    *) "$1" --version ;;
  esac
}
up_to_date=1
for b in "${BINARIES[@]}"; do
  if [ ! -x "$bin_dir/$b" ] || ! version_of "$bin_dir/$b" 2>/dev/null | grep -q "${K8S_VERSION}\$"; then
    up_to_date=0
  fi
done
if [ "$up_to_date" = 1 ]; then
  finish "${BINARIES[*]} ${K8S_VERSION} already in .cache/bin"
  exit 0
fi

# Two working trees (or CI and an engineer) asking at once: one builds, the other waits.
mkdir -p "$machine_cache"
exec 9>"$machine_cache/.lock"
flock 9

missing=()
for b in "${BINARIES[@]}"; do
  [ -x "$machine_cache/$b" ] || missing+=("$b")
done

if ((${#missing[@]} > 0)); then
  command -v go >/dev/null || fail "go is not installed; it is needed to build ${missing[*]}"
  staging_version="v0.${K8S_VERSION#v1.}"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  mod_dir="$machine_cache/build-module"
  mkdir -p "$mod_dir"
  say "building ${missing[*]} ${K8S_VERSION} from the Go module proxy (first time only; ~tens of minutes on 2 cores)"

  # The staging modules k8s.io/kubernetes requires at v0.0.0 are read from its own go.mod,
  # so a new release that adds one needs no edit here.
  kube_mod=$(cd "$mod_dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$kube_mod" ] || fail "could not download k8s.io/kubernetes@${K8S_VERSION} from the module proxy"
  staging=$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$kube_mod" | sort -u)
  [ -n "$staging" ] || fail "found no staging modules in $kube_mod"
  go_directive=$(awk '$1 == "go" { print $2; exit }' "$kube_mod")

  {
    echo "module raftkv.dev/k8s-binaries"
    echo
    echo "go ${go_directive}"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $staging_version"; done
    echo ")"
  } > "$mod_dir/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    for b in "${missing[@]}"; do echo "import _ \"k8s.io/kubernetes/cmd/$b\""; done
  } > "$mod_dir/tools.go"

  (
    cd "$mod_dir"
    rm -f go.sum
    GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>"$mod_dir/tidy.log" || { cat "$mod_dir/tidy.log" >&2; exit 1; }
    for b in "${missing[@]}"; do
      b_start=$(date +%s)
      say "go build $b"
      # -p 2: the machine has 2 shared cores; -trimpath/-s -w keep the cached binaries small.
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -p 2 -trimpath \
        -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}" \
        -o "$machine_cache/$b.tmp" "k8s.io/kubernetes/cmd/$b"
      mv -f "$machine_cache/$b.tmp" "$machine_cache/$b"
      say "built $b in $(( $(date +%s) - b_start )) s"
    done
  ) || fail "building ${missing[*]} failed (module dir: $mod_dir)"
fi

for b in "${BINARIES[@]}"; do
  cp -f "$machine_cache/$b" "$bin_dir/$b"
  version_of "$bin_dir/$b" >/dev/null 2>&1 || fail "$bin_dir/$b does not run"
done
finish "${BINARIES[*]} ${K8S_VERSION} in .cache/bin ($("$bin_dir/kube-apiserver" --version))"
