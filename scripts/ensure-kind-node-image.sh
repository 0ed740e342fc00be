#!/usr/bin/env bash
# Builds a kind node image for the pinned kind release on a machine that reaches no image registry,
# and loads it into the Docker daemon at $DOCKER_HOST as $KIND_NODE_IMAGE_LOCAL
# (raftkv.local/kind-node:<k8s version>). Where a registry is reachable, kind's published
# kindest/node image is what users run instead (scripts/e2e-kind.sh without KIND_NODE_IMAGE).
#
# What the image holds, as kind's own node image does (sigs.k8s.io/kind pkg/build/nodeimage and
# images/base were read for the list; nothing is copied from them but the two manifests below):
#   - a Debian bookworm root file system (debootstrap) with systemd, dbus, containerd, runc, the
#     CNI plugins (/opt/cni/bin), iptables, conntrack and the other tools kubelet and kind call;
#   - kubelet, kubeadm, kubectl at K8S_VERSION (scripts/ensure-k8s-binaries.sh --kind) and crictl
#     (sigs.k8s.io/cri-tools), all built from the Go module proxy;
#   - every image kubeadm lists for K8S_VERSION and kind's own (kindnetd, local-path-provisioner,
#     local-path-helper), each built here and tagged with the exact name the release expects, so
#     kubelet never pulls: control-plane images FROM scratch with the static binaries; etcd,
#     CoreDNS at the versions kubeadm names; kube-proxy, kindnetd and the local-path helper on a
#     small bookworm with iptables/sh; pause compiled from Kubernetes' pause.c;
#   - /kind/version and /kind/manifests/default-{cni,storage}.yaml, the manifests kind applies at
#     `kind create cluster`, taken from the pinned kind module's source;
#   - runc behind scripts/kind/runc-fit as containerd's runtime (this machine's root lacks
#     CAP_SYS_RESOURCE, which kube-proxy's privileged container asks for);
#   - an entrypoint of our own (scripts/kind/entrypoint) and a unit that imports the image
#     archives into containerd before kubelet starts (at first boot, ~20 s).
# kindnetd is the one piece not on the Go module proxy (kind's images/kindnetd is a nested module
# with no tags; github.com/aojea/kindnet is refused too): it is built from a kind source tree,
# KIND_SRC (default: a checkout cached in the machine cache; see kind_src below). A machine that
# has none gets a node image without kindnetd, labelled dev.raftkv.kind-node.cni=none (cached
# apart), and scripts/e2e-kind.sh then creates the cluster with kind's `disableDefaultCNI` and puts
# the CNI bridge plugin's configuration on the node: one node needs no overlay.
#
# Cached per version in ${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools/kind-node-<k8s>-kind-<kind>/
# (the root file systems, the binaries, and the node image as a `docker save` archive); loading
# the cached archive into a daemon that lacks the image takes seconds.
# Needs root (debootstrap, chroot). Idempotent; prints what it does and how long it took.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.0}"
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKER="${DOCKER:-/usr/bin/docker}"
KIND_NODE_IMAGE_LOCAL="${KIND_NODE_IMAGE_LOCAL:-raftkv.local/kind-node:${K8S_VERSION}}"
# Bumped when what goes into the image changes, so a stale cached archive is not reused.
RECIPE=4

say() { echo "ensure-kind-node-image: $*"; }
fail() { echo "ensure-kind-node-image: ERROR: $*" >&2; exit 1; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="${XDG_CACHE_HOME:-$HOME/.cache}/raftkv-tools"
cache="$tools/kind-node-${K8S_VERSION}-kind-${KIND_VERSION}"
kind_src="${KIND_SRC:-$tools/kind-src}"
# kindnet when it can be built (or was), else none (see above).
# KIND_NODE_CNI=none builds (and e2e-kind.sh then uses) that image on a machine that has kindnetd.
case "${KIND_NODE_CNI:-auto}" in
  auto) if [ -x "$cache/bin/kindnetd" ] || [ -f "$kind_src/images/kindnetd/go.mod" ]; then cni=kindnet; else cni=none; fi ;;
  none) cni=none ;;
  *) echo "usage: KIND_NODE_CNI=auto|none (not ${KIND_NODE_CNI})" >&2; exit 2 ;;
esac
flavor=""
[ "$cni" = kindnet ] || flavor="-nocni"
image_tar="$cache/node-image-r${RECIPE}${flavor}.tar"
start=$(date +%s)

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap and chroot make the root file systems)"
[ -n "${DOCKER_HOST:-}" ] || fail "DOCKER_HOST is not set (scripts/e2e-kind.sh starts the daemon)"
mkdir -p "$cache/bin"

# Already in this daemon, made from this recipe: nothing to do.
have="$("$DOCKER" image inspect -f '{{ index .Config.Labels "dev.raftkv.kind-node.recipe" }}' "$KIND_NODE_IMAGE_LOCAL" 2>/dev/null || true)"
if [ "$have" = "${K8S_VERSION}-${KIND_VERSION}-r${RECIPE}${flavor}" ]; then
  say "$KIND_NODE_IMAGE_LOCAL already loaded in $(( $(date +%s) - start )) s"
  exit 0
fi

exec 9>"$cache/.lock"
flock 9
if [ -f "$image_tar" ]; then
  say "loading $KIND_NODE_IMAGE_LOCAL from the machine cache ($image_tar)"
  "$DOCKER" load -i "$image_tar" >/dev/null
  say "$KIND_NODE_IMAGE_LOCAL loaded in $(( $(date +%s) - start )) s"
  exit 0
fi
say "building $KIND_NODE_IMAGE_LOCAL (first time only)"

kind_mod="$(cd "$cache" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@${KIND_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[ -d "$kind_mod/pkg/build/nodeimage" ] || fail "could not download sigs.k8s.io/kind@${KIND_VERSION} from the module proxy"

# --- 1. binaries -------------------------------------------------------------------------------
bash "$repo/scripts/ensure-k8s-binaries.sh" --kind
bash "$repo/scripts/ensure-node-tools.sh" >/dev/null   # pause (compiled), local-path-provisioner
bin="$repo/.cache/bin"
kubeadm_images="$("$bin/kubeadm" config images list --kubernetes-version "$K8S_VERSION")"
image_named() { grep -m1 "/$1:" <<<"$kubeadm_images" || fail "kubeadm lists no $1 image"; }
img_apiserver="$(image_named kube-apiserver)"
img_cm="$(image_named kube-controller-manager)"
img_scheduler="$(image_named kube-scheduler)"
img_proxy="$(image_named kube-proxy)"
img_coredns="$(image_named coredns)"
img_pause="$(image_named pause)"
img_etcd="$(image_named etcd)"
coredns_version="${img_coredns##*:}"
etcd_version="v${img_etcd##*:}"; etcd_version="${etcd_version%-*}"
# kind's own images, by the names the pinned release's manifests use.
kind_image() { sed -n "s/^const $1 = \"\(.*\)\"$/\1/p" "$kind_mod/pkg/build/nodeimage/$2" | grep . || fail "no $1 in kind's $2"; }
img_kindnetd="$(kind_image kindnetdImage const_cni.go)"
img_lpp="$(kind_image storageProvisionerImage const_storage.go)"
img_lph="$(kind_image storageHelperImage const_storage.go)"

go_build_into() {  # name: builds with the module in the current directory
  local name="$1" pkg="$2" t0
  t0=$(date +%s)
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -p 2 -trimpath -ldflags "-s -w ${3:-}" -o "$cache/bin/$name.tmp" "$pkg" || return 1
  mv -f "$cache/bin/$name.tmp" "$cache/bin/$name" || return 1
  say "built $name in $(( $(date +%s) - t0 )) s"
}
build_tool_module() {  # name package requires... : a throwaway module that requires exactly these
  local name="$1" pkg="$2" d="$cache/build-$1"; shift 2
  [ -x "$cache/bin/$name" ] && return 0
  say "building $name ($pkg) from the Go module proxy"
  mkdir -p "$d"
  { echo "module raftkv.dev/kind-$name"; echo; echo "go 1.24"; echo; echo "require ("; printf '\t%s\n' "$@"; echo ")"; } >"$d/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$d/tools.go"
  (cd "$d" && rm -f go.sum && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log && go_build_into "$name" "$pkg") \
    || fail "building $name failed (module dir: $d)"
}
build_tool_module crictl sigs.k8s.io/cri-tools/cmd/crictl "sigs.k8s.io/cri-tools $CRICTL_VERSION"
build_tool_module coredns github.com/coredns/coredns "github.com/coredns/coredns $coredns_version"
build_tool_module etcd go.etcd.io/etcd/server/v3 "go.etcd.io/etcd/server/v3 $etcd_version" "go.etcd.io/etcd/api/v3 $etcd_version" \
  "go.etcd.io/etcd/client/pkg/v3 $etcd_version" "go.etcd.io/etcd/client/v3 $etcd_version" "go.etcd.io/etcd/pkg/v3 $etcd_version"

# kindnetd: from kind's source tree (its own go.mod; dependencies from the module proxy). KIND_SRC
# names a directory holding kind's images/kindnetd (a checkout of github.com/kubernetes-sigs/kind at
# the release) and, under modules/, checkouts of the dependencies its go.mod pins at commits the
# proxy does not serve (sigs.k8s.io/kube-network-policies), each used through a replace directive.
# Default: the copy kept in the machine cache. Without one: no kindnetd (cni=none above).
if [ "$cni" = none ]; then
  if [ "${KIND_NODE_CNI:-auto}" = none ]; then say "KIND_NODE_CNI=none: building the node image without kindnetd"
  else say "no kind source tree with images/kindnetd at $kind_src (KIND_SRC): building the node image without kindnetd"; fi
  say "(scripts/e2e-kind.sh gives such a cluster the CNI bridge plugin instead)"
elif [ ! -x "$cache/bin/kindnetd" ]; then
  say "building kindnetd from $kind_src/images/kindnetd"
  build="$cache/build-kindnetd"
  rm -rf "$build" && cp -a "$kind_src/images/kindnetd" "$build"
  for m in "$kind_src"/modules/*/go.mod; do
    [ -f "$m" ] || continue
    (cd "$build" && go mod edit -replace "$(awk '$1 == "module" { print $2; exit }' "$m")=$(dirname "$m")")
  done
  (cd "$build" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log && go_build_into kindnetd ./cmd/kindnetd) || fail "building kindnetd failed (dir: $build)"
fi

# --- 2. root file systems ---------------------------------------------------------------------
# The node's, and a small one for the images that need a shell or iptables.
debootstrap_tar() {  # tar include-list
  local tar="$1" include="$2" work root t0
  [ -f "$tar" ] && return 0
  command -v debootstrap >/dev/null || fail "debootstrap is missing (scripts/install-system-deps.sh installs it)"
  work="$(mktemp -d "$cache/work.XXXXXX")"
  root="$work/rootfs"
  t0=$(date +%s)
  say "debootstrap $SUITE with $include"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; umount_under "$root"; rm -rf "$work"; fail "debootstrap failed (log above)"; }
  umount_under "$root"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/* \
    "$root"/etc/hostname "$root"/etc/resolv.conf "$root"/etc/hosts
  tar --numeric-owner --xattrs -C "$root" -cf "$tar.tmp" .
  mv -f "$tar.tmp" "$tar"
  rm -rf "$work"
  say "$(basename "$tar") made in $(( $(date +%s) - t0 )) s ($(du -m "$tar" | cut -f1) MiB)"
}
umount_under() {
  local m
  for m in $(awk -v r="$1" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
}
node_pkgs=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,iptables,nftables,iproute2,ethtool,socat,conntrack,ebtables,kmod,mount,util-linux,procps,ca-certificates,jq,libseccomp2,bash,findutils,less
debootstrap_tar "$cache/rootfs-node.tar" "$node_pkgs" &
p_node=$!
debootstrap_tar "$cache/rootfs-tools.tar" iptables,nftables,iproute2,conntrack,ca-certificates,bash,coreutils &
p_tools=$!
wait "$p_node" || fail "the node's root file system failed"
wait "$p_tools" || fail "the tools root file system failed"

# --- 3. the images kubelet runs --------------------------------------------------------------
ctx="$(mktemp -d "$cache/ctx.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
"$DOCKER" import "$cache/rootfs-tools.tar" raftkv.local/kind-tools-base:bookworm >/dev/null
# One small Dockerfile per image: the binary and the command it runs.
image_from() {  # name base binary-path-in-image source-binary entrypoint...
  local name="$1" base="$2" dest="$3" src="$4" d; shift 4
  d="$ctx/$(echo "$name" | tr '/:' '__')"
  mkdir -p "$d"
  { echo "FROM $base"
    if [ "$src" != - ]; then cp "$src" "$d/bin"; echo "COPY bin $dest"; fi
    printf 'ENTRYPOINT ['; local first=1 a
    for a in "$@"; do [ $first = 1 ] || printf ', '; printf '"%s"' "$a"; first=0; done; echo ']'; } >"$d/Dockerfile"
  "$DOCKER" build -q -t "$name" "$d" >/dev/null || fail "docker build of $name failed"
}
t0=$(date +%s)
image_from "$img_apiserver" scratch /usr/local/bin/kube-apiserver "$bin/kube-apiserver" /usr/local/bin/kube-apiserver
image_from "$img_cm" scratch /usr/local/bin/kube-controller-manager "$bin/kube-controller-manager" /usr/local/bin/kube-controller-manager
image_from "$img_scheduler" scratch /usr/local/bin/kube-scheduler "$bin/kube-scheduler" /usr/local/bin/kube-scheduler
image_from "$img_proxy" raftkv.local/kind-tools-base:bookworm /usr/local/bin/kube-proxy "$bin/kube-proxy" /usr/local/bin/kube-proxy
image_from "$img_etcd" scratch /usr/local/bin/etcd "$cache/bin/etcd" /usr/local/bin/etcd
image_from "$img_coredns" scratch /coredns "$cache/bin/coredns" /coredns
image_from "$img_pause" scratch /pause "$bin/pause" /pause
[ "$cni" = none ] || image_from "$img_kindnetd" raftkv.local/kind-tools-base:bookworm /bin/kindnetd "$cache/bin/kindnetd" /bin/kindnetd
image_from "$img_lpp" raftkv.local/kind-tools-base:bookworm /usr/bin/local-path-provisioner "$bin/local-path-provisioner" /usr/bin/local-path-provisioner
# The helper runs its setup/teardown scripts with sh.
image_from "$img_lph" raftkv.local/kind-tools-base:bookworm - - /bin/sh
all_images=("$img_apiserver" "$img_cm" "$img_scheduler" "$img_proxy" "$img_etcd" "$img_coredns" "$img_pause" "$img_lpp" "$img_lph")
[ "$cni" = none ] || all_images+=("$img_kindnetd")
mkdir -p "$ctx/node/kind/images"
"$DOCKER" save -o "$ctx/node/kind/images/preload.tar" "${all_images[@]}"
say "built and saved ${#all_images[@]} images in $(( $(date +%s) - t0 )) s ($(du -m "$ctx/node/kind/images/preload.tar" | cut -f1) MiB)"

# --- 4. the node image -----------------------------------------------------------------------
n="$ctx/node"
# The two manifests kind applies at cluster creation, as the pinned release's node image has them
# (Go string constants in its source, with the image names spliced in).
manifest_from_go() {  # const file image-constants...
  local const="$1" file="$2"
  python3 - "$kind_mod/pkg/build/nodeimage/$file" "$const" "$img_kindnetd" "$img_lpp" "$img_lph" <<'PY'
import re, sys
src, const, kindnetd, lpp, lph = sys.argv[1:]
text = open(src).read()
# The constant ends at a backtick alone on its line; image names are spliced in with ` + name + `.
body = re.search(r'const ' + const + r' = `(.*?\n)`\n', text, re.S).group(1)
for name, value in (('kindnetdImage', kindnetd), ('storageProvisionerImage', lpp), ('storageHelperImage', lph)):
    body = body.replace('` + ' + name + ' + `', value)
assert '`' not in body, 'unexpected Go expression left in ' + const
sys.stdout.write(body)
PY
}
mkdir -p "$n/kind/manifests" "$n/kind/bin" "$n/etc/containerd" "$n/etc/systemd/system/kubelet.service.d" "$n/usr/bin" "$n/usr/local/bin"
manifest_from_go defaultCNIManifest const_cni.go >"$n/kind/manifests/default-cni.yaml"
manifest_from_go defaultStorageManifest const_storage.go >"$n/kind/manifests/default-storage.yaml"
printf '%s' "$K8S_VERSION" >"$n/kind/version"
for b in kubelet kubeadm kubectl; do cp "$bin/$b" "$n/usr/bin/$b"; done
cp "$cache/bin/crictl" "$n/usr/bin/crictl"
cp "$repo/scripts/kind/runc-fit" "$n/usr/local/bin/runc-fit"
cp "$repo/scripts/kind/entrypoint" "$n/usr/local/bin/entrypoint"
cp "$repo/scripts/kind/preload-images" "$n/kind/bin/preload-images"
sed "s|@PAUSE_IMAGE@|$img_pause|" "$repo/scripts/kind/containerd-config.toml" >"$n/etc/containerd/config.toml"
cp "$repo/scripts/kind/units/"*.service "$repo/scripts/kind/units/"*.slice "$n/etc/systemd/system/"
cp "$repo/scripts/kind/units/kubelet.service.d/"*.conf "$n/etc/systemd/system/kubelet.service.d/"
printf 'runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\n' >"$n/etc/crictl.yaml"
"$DOCKER" import "$cache/rootfs-node.tar" raftkv.local/kind-node-base:bookworm >/dev/null
cat >"$n/Dockerfile" <<EOF
FROM raftkv.local/kind-node-base:bookworm
COPY . /
RUN chmod 0755 /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl /usr/bin/crictl /usr/local/bin/runc-fit /usr/local/bin/entrypoint /kind/bin/preload-images \\
 && rm -f /Dockerfile \\
 && mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin \\
 && mkdir -p /etc/cni/net.d /var/lib/kubelet /etc/kubernetes/manifests \\
 && systemctl enable containerd.service kubelet.service kind-preload-images.service \\
 && systemctl mask getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \\
      systemd-modules-load.service systemd-logind.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ENV container=docker
STOPSIGNAL SIGRTMIN+3
LABEL dev.raftkv.kind-node.recipe=${K8S_VERSION}-${KIND_VERSION}-r${RECIPE}${flavor} dev.raftkv.kind-node.cni=${cni}
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
EOF
t0=$(date +%s)
"$DOCKER" build -q -t "$KIND_NODE_IMAGE_LOCAL" "$n" >/dev/null || fail "docker build of the node image failed"
say "node image built in $(( $(date +%s) - t0 )) s"
"$DOCKER" save -o "$image_tar.tmp" "$KIND_NODE_IMAGE_LOCAL"
# An archive of an older recipe is never loaded again (1.5 GB each).
if [ -z "$flavor" ]; then
  find "$cache" -maxdepth 1 -name 'node-image-r*.tar' ! -name '*-nocni.tar' ! -name "$(basename "$image_tar")" -delete
else
  find "$cache" -maxdepth 1 -name 'node-image-r*-nocni.tar' ! -name "$(basename "$image_tar")" -delete
fi
mv -f "$image_tar.tmp" "$image_tar"
"$DOCKER" rmi "${all_images[@]}" raftkv.local/kind-tools-base:bookworm raftkv.local/kind-node-base:bookworm >/dev/null 2>&1 || true
# The node image this replaced, now untagged.
"$DOCKER" image prune -f >/dev/null 2>&1 || true
say "$KIND_NODE_IMAGE_LOCAL built and cached ($(du -m "$image_tar" | cut -f1) MiB) in $(( $(date +%s) - start )) s"
