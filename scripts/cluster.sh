#!/usr/bin/env bash
# A real one-node Kubernetes on this machine, for people (`make cluster-up` / `make cluster-down`)
# and for tests: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd + runc
# with the CNI bridge plugin, kubelet, kube-proxy (iptables mode), CoreDNS and the local-path
# provisioner (the default StorageClass), with the image built from the working tree loaded into
# containerd as raftkv:dev.
#
#   bash scripts/cluster.sh up      start it (building what is missing); prints `export KUBECONFIG=...`
#   bash scripts/cluster.sh down    stop every process it started, remove what it created
#   bash scripts/cluster.sh status
#
# The whole node lives in a network namespace of its own (raftkv-node-<key>): the pod bridge
# (10.244.0.0/24), the Service range (10.96.0.0/24), kube-proxy's iptables rules, the sysctls it
# sets and every listening port (6443, 10250, 53...) are inside it, so the host's iptables and
# routes are never touched and two working trees can each run one. A veth pair links it to the
# host, which reaches the API server at the node's end of that link. Processes run in the host's
# mount namespace (containerd and kubelet must see each other's mounts); their mounts are under
# the state directory and are removed on `down`, as are the cgroups (under raftkv-node-<key>).
#
# Environment: RAFTKV_CLUSTER_DIR (state, default <repo>/.cache/cluster), IMAGE_TAG (raftkv:dev),
# SKIP_IMAGE=1 (do not build the image), EXTRA_IMAGE_TAGS (more names for it, space-separated),
# EXTRA_IMAGE_BUILDS (more builds of the Dockerfile, each under its own name with its own revision
# label, so a distinct image: a rollout from one build to another), READY_TIMEOUT_S (each wait,
# default 180). `up` also writes <state>/node.env (network namespace, containerd socket, links)
# for tests that look at the node from the host.
# Pinned: Kubernetes v1.37.0 (scripts/ensure-k8s-binaries.sh --node), CoreDNS, local-path-provisioner
# and pause (scripts/ensure-node-tools.sh); containerd, runc, CNI plugins and etcd from Debian.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
state="${RAFTKV_CLUSTER_DIR:-$repo/.cache/cluster}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
key="$(printf '%s' "$state" | sha256sum | cut -c1-8)"
netns="raftkv-node-$key"
run_dir="/run/raftkv-node/$key"
cgroup_root="raftkv-node-$key"
veth_host="rkvh$key"
veth_node="rkvn$key"
# The host/node link: a /30 in 169.254.0.0/16 (link-local: routed nowhere), chosen by the key.
link_octet=$(( 16#${key:0:2} % 250 + 1 ))
link_host="169.254.$link_octet.1"
link_node="169.254.$link_octet.2"
node_name="raftkv-node"
bridge=rkvbr0
pod_cidr=10.244.0.0/24
node_ip=10.244.0.1
service_cidr=10.96.0.0/24
service_api_ip=10.96.0.1
api_port=6443
image_tag="${IMAGE_TAG:-raftkv:dev}"
base_image="node:20.19.5-bookworm-slim"
pause_image="raftkv.local/pause:v1.37.0"
READY_TIMEOUT_S="${READY_TIMEOUT_S:-180}"
bin="$repo/.cache/bin"
logs="$state/logs"
pids="$state/pids"
kubeconfig="$state/kubeconfig"
containerd_sock="$run_dir/containerd.sock"
t_start=$(date +%s)

say() { echo "cluster: $*"; }
fail() { echo "cluster: ERROR: $*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - t_start )) s"; }
in_node() { nsenter --net="/run/netns/$netns" -- "$@"; }
kc() { "$(command -v kubectl)" --kubeconfig "$kubeconfig" "$@"; }

# Starts one long-running process in the node's network namespace, in a session of its own,
# logging to $logs/NAME.log; its pid goes to $pids/NAME.
start_proc() {
  local name="$1"; shift
  nsenter --net="/run/netns/$netns" -- setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name"
}

proc_alive() { local p; p="$(cat "$pids/$1" 2>/dev/null || true)"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

wait_for() {  # what process-or-"-" command...: until the command succeeds, while the process lives
  local what="$1" proc="$2" waited=0; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$proc" = - ] || need_alive "$proc"
    ((waited >= READY_TIMEOUT_S)) && { echo "cluster: ERROR: $what not ready after ${READY_TIMEOUT_S} s" >&2; return 1; }
    sleep 1; waited=$((waited + 1))
  done
  say "$what ready ($(elapsed))"
}

need_alive() { proc_alive "$1" || { tail -30 "$logs/$1.log" >&2; fail "$1 exited (log above: $logs/$1.log)"; }; }

# --- down ----------------------------------------------------------------------------------------
stop_proc() {  # name [timeout_s]
  local name="$1" timeout="${2:-20}" p waited=0
  p="$(cat "$pids/$name" 2>/dev/null || true)"
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    while kill -0 "$p" 2>/dev/null && ((waited < timeout * 10)); do sleep 0.1; waited=$((waited + 1)); done
    kill -0 "$p" 2>/dev/null && { say "$name did not stop in ${timeout} s; killing it"; kill -KILL "$p" 2>/dev/null || true; }
    ((waited > 30)) && say "$name took $((waited / 10)).$((waited % 10)) s to stop"
  fi
  rm -f "$pids/$name"
}

# Processes whose command line names this cluster's run or state directory (containerd's shims,
# a provisioner helper left behind): found by that exact path, killed by pid.
kill_by_path() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd="$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null || true)"
    case "$cmd" in
      *"$run_dir"*|*"$state/"*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
    esac
  done
}

# SIGTERM to all the named processes at once, then waits for each (SIGKILL after `timeout` s).
stop_procs() {  # timeout name...
  local timeout="$1" name p; shift
  for name in "$@"; do
    p="$(cat "$pids/$name" 2>/dev/null || true)"
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  for name in "$@"; do stop_proc "$name" "$timeout"; done
}

down() {
  local t0 m d
  t0=$(date +%s)
  # The node's agents first, together, so nothing restarts a pod while the pods are removed.
  stop_procs 20 local-path-provisioner coredns kube-proxy kubelet kube-scheduler kube-controller-manager
  # Every pod's processes: the shims are containerd's children in their own sessions.
  if proc_alive containerd; then
    local ids id killers=()
    ids="$(ctr --address "$containerd_sock" -n k8s.io tasks ls -q 2>/dev/null || true)"
    for id in $ids; do
      ctr --address "$containerd_sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 &
      killers+=($!)
    done
    ((${#killers[@]} == 0)) || wait "${killers[@]}" 2>/dev/null || true
  fi
  stop_proc containerd 30
  # Nothing is kept (the state directory goes below), so the API server's graceful drain of its
  # watches (~7 s) is not waited for.
  stop_procs 3 kube-apiserver etcd
  kill_by_path
  local t_procs=$(( $(date +%s) - t0 ))
  # Mounts under the state and run directories (overlay snapshots, pod volumes, the kubelet's
  # rshared bind mount, pod network namespaces), deepest first; twice for stacked mounts.
  for _ in 1 2; do
    for m in $(awk -v s="$state/" -v r="$run_dir/" -v s0="$state" \
        'index($2, s) == 1 || index($2, r) == 1 || $2 == s0 { print $2 }' /proc/self/mounts | sort -r); do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
  for d in /sys/fs/cgroup/*/"$cgroup_root" /sys/fs/cgroup/unified/"$cgroup_root"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Deleting the namespace removes the bridge, the pods' veths, kube-proxy's rules and the node
  # end of the host link; the host end goes with its peer.
  ip netns del "$netns" 2>/dev/null || true
  ip link del "$veth_host" 2>/dev/null || true
  rm -rf "$run_dir"
  rmdir /run/raftkv-node 2>/dev/null || true
  local t_files
  t_files=$(date +%s)
  rm -rf "$state"
  say "down in $(( $(date +%s) - t0 )) s (processes ${t_procs} s, files $(( $(date +%s) - t_files )) s)"
}

leftovers() {  # prints what of this cluster is still on the machine
  local p
  for p in "$pids"/*; do [ -f "$p" ] && proc_alive "$(basename "$p")" && echo "process $(basename "$p") ($(cat "$p"))"; done
  ip netns list 2>/dev/null | grep -q "^$netns\b" && echo "network namespace $netns"
  ip link show "$veth_host" >/dev/null 2>&1 && echo "interface $veth_host"
  awk -v s="$state" -v r="$run_dir" 'index($2, s) == 1 || index($2, r) == 1 { print "mount " $2 }' /proc/self/mounts
  ls -d /sys/fs/cgroup/*/"$cgroup_root" 2>/dev/null | sed 's/^/cgroup /'
  return 0
}

# --- up ------------------------------------------------------------------------------------------
tools() {
  local t0
  t0=$(date +%s)
  [ "$(id -u)" = 0 ] || fail "needs root (network namespace, containerd, kubelet)"
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v nsenter >/dev/null || need+=(util-linux)
  command -v openssl >/dev/null || need+=(openssl)
  command -v conntrack >/dev/null || need+=(conntrack)
  if ((${#need[@]})); then
    say "installing ${need[*]} (Debian)"
    apt-get update -qq
    # policy-rc.d keeps the system's containerd from being started by the package.
    local made=0
    [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ "$made" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
  bash "$repo/scripts/ensure-k8s-binaries.sh" --node
  bash "$repo/scripts/ensure-node-tools.sh"
  command -v kubectl >/dev/null || fail "kubectl is not installed"
  say "tools ready in $(( $(date +%s) - t0 )) s"
}

images() {
  local t0 archive="$state/images.tar"
  t0=$(date +%s)
  # shellcheck source=lib/private-dockerd.sh
  source "$repo/scripts/lib/private-dockerd.sh"
  private_dockerd_start
  if [ "${SKIP_IMAGE:-0}" != 1 ]; then
    bash "$repo/scripts/build-image.sh" --tag "$image_tag"
  else
    bash "$repo/scripts/ensure-base-image.sh"
  fi
  # The pod sandbox image: Kubernetes' pause process alone.
  local ctx
  ctx="$(mktemp -d)"
  cp "$bin/pause" "$ctx/pause"
  tar -C "$ctx" -cf "$ctx/pause.tar" pause
  "$DOCKER" import --change 'ENTRYPOINT ["/pause"]' "$ctx/pause.tar" "$pause_image" >/dev/null
  rm -rf "$ctx"
  # EXTRA_IMAGE_TAGS: more names for the same image (a rollout from one tag to another).
  local extra=()
  for t in ${EXTRA_IMAGE_TAGS:-}; do "$DOCKER" tag "$image_tag" "$t"; extra+=("$t"); done
  local rev
  rev="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  for t in ${EXTRA_IMAGE_BUILDS:-}; do
    [ "${SKIP_IMAGE:-0}" != 1 ] || fail "EXTRA_IMAGE_BUILDS needs the image build (SKIP_IMAGE=1 given)"
    bash "$repo/scripts/build-image.sh" --tag "$t" --revision "$rev+${t##*:}"
    extra+=("$t")
  done
  "$DOCKER" save -o "$archive" "$image_tag" "${extra[@]}" "$base_image" "$pause_image"
  private_dockerd_stop
  say "images built and saved in $(( $(date +%s) - t0 )) s ($(du -m "$archive" | cut -f1) MiB)"
}

certs() {
  local pki="$state/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=raftkv-node-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  cat >"$pki/apiserver.ext" <<EOF
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$node_ip,IP:$service_api_ip,IP:$link_node
extendedKeyUsage=serverAuth
EOF
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
    -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # Bearer tokens: the admin (system:masters) for people and tests; each component its own.
  : >"$pki/tokens.csv"
  local who
  for who in admin kube-controller-manager kube-scheduler kubelet kube-proxy coredns local-path-provisioner; do
    local tok
    tok="$(openssl rand -hex 16)"
    case "$who" in
      admin) echo "$tok,admin,admin,system:masters" ;;
      kubelet) echo "$tok,system:node:$node_name,kubelet,system:nodes" ;;
      kube-controller-manager) echo "$tok,system:kube-controller-manager,kcm" ;;
      kube-scheduler) echo "$tok,system:kube-scheduler,sched" ;;
      kube-proxy) echo "$tok,system:kube-proxy,kube-proxy,system:node-proxier" ;;
      *) echo "$tok,system:$who,$who,system:masters" ;;
    esac >>"$pki/tokens.csv"
    write_kubeconfig "$state/$who.kubeconfig" "https://$node_ip:$api_port" "$tok"
  done
  # People and tests on the host reach the API server over the host link.
  write_kubeconfig "$kubeconfig" "https://$link_node:$api_port" "$(awk -F, '$2 == "admin" { print $1 }' "$pki/tokens.csv")"
}

write_kubeconfig() {  # path server token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
current-context: raftkv-node
clusters:
- name: raftkv-node
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 <"$state/pki/ca.crt")
users:
- name: user
  user:
    token: $3
contexts:
- name: raftkv-node
  context: {cluster: raftkv-node, user: user, namespace: default}
EOF
  chmod 600 "$1"
}

network() {
  ip netns add "$netns"
  ip link add "$veth_host" type veth peer name "$veth_node"
  ip link set "$veth_node" netns "$netns"
  ip addr add "$link_host/30" dev "$veth_host"
  ip link set "$veth_host" up
  in_node ip addr add "$link_node/30" dev "$veth_node"
  in_node ip link set "$veth_node" up
  in_node ip link set lo up
  in_node ip link add "$bridge" type bridge
  in_node ip addr add "$node_ip/24" dev "$bridge"
  in_node ip link set "$bridge" up
  # Inside the namespace only: pods reach Services backed by other pods through the node.
  in_node sysctl -qw net.ipv4.ip_forward=1
  # The node's own processes reach Service IPs too, as on a node with a default route: kube-apiserver
  # calls admission webhooks (the operator's eviction webhook) at their Service's ClusterIP, which
  # kube-proxy DNATs in OUTPUT only once a route for it exists ("network is unreachable" without).
  in_node ip route add "$service_cidr" dev "$bridge"
  say "network namespace $netns: bridge $bridge $node_ip/24, host link $veth_host $link_host <-> $link_node"
}

control_plane() {
  local pki="$state/pki"
  mkdir -p "$state/etcd"
  start_proc etcd etcd --name node --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster node=http://127.0.0.1:2380 --log-level warn
  start_proc kube-apiserver "$bin/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --advertise-address="$node_ip" --secure-port="$api_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --token-auth-file="$pki/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" --service-cluster-ip-range="$service_cidr" \
    --allow-privileged=true --enable-admission-plugins=NodeRestriction --enable-priority-and-fairness=false \
    --kubelet-preferred-address-types=InternalIP --v=1
}

# After the API server answers: the controllers and the scheduler.
controllers() {
  local pki="$state/pki"
  wait_for kube-apiserver kube-apiserver kc get --raw /readyz
  need_alive etcd
  start_proc kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/kube-controller-manager.kubeconfig" --authorization-kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --controllers='*' --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --service-cluster-ip-range="$service_cidr" --allocate-node-cidrs=false --cert-dir="$state/kcm-certs" --v=1
  start_proc kube-scheduler "$bin/kube-scheduler" --kubeconfig="$state/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/kube-scheduler.kubeconfig" --authorization-kubeconfig="$state/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --cert-dir="$state/sched-certs" --v=1
}

# runc behind a wrapper that fits each container's config.json to what root may do on this
# machine, then execs runc unchanged. Root here lacks CAP_SYS_RESOURCE, so runc fails a
# container ("can't get final child's PID from pipe", "unable to apply caps") that asks for
# - a negative oom_score_adj (every pod sandbox: -998; Guaranteed pods: -997): raised to ours;
# - CAP_SYS_RESOURCE (privileged containers): removed from its capability sets.
# Where root has the capability, the wrapper changes nothing.
write_runc_wrapper() {
  local node_bin runc_bin
  node_bin="$(command -v node)"
  runc_bin="$(command -v runc)"
  cat >"$state/runc-wrapper" <<EOF
#!/bin/bash
bundle=""; prev=""
for a in "\$@"; do
  case "\$prev" in --bundle|-b) bundle="\$a" ;; esac
  case "\$a" in --bundle=*) bundle="\${a#--bundle=}" ;; esac
  prev="\$a"
done
if [ -n "\$bundle" ] && [ -f "\$bundle/config.json" ]; then
  "$node_bin" "$state/fit-oci-config.cjs" "\$bundle/config.json" || exit 1
fi
exec "$runc_bin" "\$@"
EOF
  cat >"$state/fit-oci-config.cjs" <<'EOF'
// Fits an OCI config.json to this machine's root (see write_runc_wrapper in scripts/cluster.sh).
const fs = require('node:fs');
const file = process.argv[2];
const config = JSON.parse(fs.readFileSync(file, 'utf8'));
const capBnd = BigInt('0x' + /^CapBnd:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
if ((capBnd & (1n << 24n)) !== 0n) process.exit(0); // CAP_SYS_RESOURCE held: nothing to fit
const proc = config.process ?? {};
let changed = false;
const ours = Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'));
if (typeof proc.oomScoreAdj === 'number' && proc.oomScoreAdj < ours) {
  proc.oomScoreAdj = ours;
  changed = true;
}
for (const set of Object.keys(proc.capabilities ?? {})) {
  const kept = proc.capabilities[set].filter((c) => c !== 'CAP_SYS_RESOURCE');
  if (kept.length !== proc.capabilities[set].length) { proc.capabilities[set] = kept; changed = true; }
}
if (changed) fs.writeFileSync(file, JSON.stringify(config));
EOF
  chmod +x "$state/runc-wrapper"
}

runtime() {
  mkdir -p "$run_dir" "$state/containerd" "$state/cni/net.d" "$state/cni/ipam"
  write_runc_wrapper
  # Image layers and container file systems on a tmpfs: unpacking ~1 GB of node_modules-heavy
  # layers and removing them again took a minute on this shared disk; a tmpfs goes at umount.
  mkdir -p "$state/containerd/root"
  mount -t tmpfs -o size=8g,mode=0700 raftkv-node-images "$state/containerd/root"
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$run_dir/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$run_dir/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$state/runc-wrapper"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
  cat >"$state/cni/net.d/10-raftkv.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "raftkv-pods",
  "plugins": [
    { "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$state/cni/ipam",
                "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$node_ip" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  start_proc containerd containerd --config "$state/containerd/config.toml"
  wait_for containerd containerd ctr --address "$containerd_sock" version
  local t0
  t0=$(date +%s)
  ctr --address "$containerd_sock" -n k8s.io images import "$state/images.tar" >/dev/null
  rm -f "$state/images.tar"
  say "images imported into containerd in $(( $(date +%s) - t0 )) s: $(ctr --address "$containerd_sock" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# The kubelet's cgroupRoot must exist in every hierarchy; a new cpuset cgroup starts with no
# CPUs or memory nodes, so it gets its parent's.
make_cgroup_root() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -L "${h%/}" ] && continue
    mkdir -p "$h$cgroup_root"
    if [ -f "${h}cpuset.cpus" ]; then
      cat "${h}cpuset.cpus" >"$h$cgroup_root/cpuset.cpus"
      cat "${h}cpuset.mems" >"$h$cgroup_root/cpuset.mems"
    fi
  done
}

node_agents() {
  mkdir -p "$state/kubelet" "$state/pod-logs"
  make_cgroup_root
  cat >"$state/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
containerRuntimeEndpoint: unix://$containerd_sock
address: 0.0.0.0
readOnlyPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
clusterDNS: [$node_ip]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $state/pod-logs
podCIDR: $pod_cidr
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
rotateCertificates: false
EOF
  start_proc kubelet "$bin/kubelet" --config="$state/kubelet-config.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
    --root-dir="$state/kubelet" --cert-dir="$state/kubelet/pki" --hostname-override="$node_name" --node-ip="$node_ip" --v=1
  cat >"$state/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $state/kube-proxy.kubeconfig}
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
bindAddress: $node_ip
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
iptables: {masqueradeAll: true}
# 0: leave the conntrack table size and timeouts as they are (the table size is machine-wide).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start_proc kube-proxy "$bin/kube-proxy" --config="$state/kube-proxy-config.yaml" --v=1
  wait_for "node $node_name" kubelet kc wait --for=condition=Ready "node/$node_name" --timeout=1s
}

addons() {
  # CoreDNS on the node's bridge address: what clusterDNS names, so pods resolve Service and
  # pod names exactly as on any cluster.
  cat >"$state/Corefile" <<EOF
.:53 {
    bind $node_ip
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $state/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
  start_proc coredns "$bin/coredns" -conf "$state/Corefile"
  wait_for coredns coredns in_node bash -c 'exec 3<>/dev/tcp/127.0.0.1/8181 && printf "GET /ready HTTP/1.0\r\n\r\n" >&3 && grep -q "200 OK" <&3'
  # The default StorageClass: local-path volumes under the state directory; the helper pods that
  # make and remove the directories run the base image (sh, mkdir, rm), already in containerd.
  mkdir -p "$state/volumes"
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: local-path-storage}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: local-path-provisioner-service-account, namespace: local-path-storage}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: local-path-storage}
data:
  config.json: |-
    {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$state/volumes"]}]}
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: helper-pod
    spec:
      containers:
      - name: helper-pod
        image: $base_image
        imagePullPolicy: Never
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
  start_proc local-path-provisioner "$bin/local-path-provisioner" start --kubeconfig "$state/local-path-provisioner.kubeconfig" \
    --namespace local-path-storage --helper-image "$base_image" --service-account-name local-path-provisioner-service-account
  sleep 2
  need_alive local-path-provisioner
  wait_for "default ServiceAccount" kube-controller-manager kc -n default get serviceaccount default
}

on_exit() {
  local code=$?
  if [ "$code" != 0 ]; then
    echo "cluster: up failed (exit $code); removing everything it created" >&2
    declare -F private_dockerd_stop >/dev/null && private_dockerd_stop
    [ -d "$logs" ] && cp -r "$logs" "/tmp/raftkv-cluster-logs-$key" 2>/dev/null && echo "cluster: logs kept in /tmp/raftkv-cluster-logs-$key" >&2
    down
  fi
}

up() {
  if [ -f "$pids/kube-apiserver" ] && proc_alive kube-apiserver; then
    say "already running; export KUBECONFIG=$kubeconfig"
    return 0
  fi
  # A previous run that died half-way: clear what it left before starting again.
  [ -n "$(leftovers)" ] && { say "removing what a previous run left behind"; down; mkdir -p "$state"; }
  trap on_exit EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$logs" "$pids"
  tools
  images
  network
  certs
  control_plane
  # containerd and the image import while the API server starts.
  runtime
  controllers
  node_agents
  addons
  cat >"$state/node.env" <<EOF
NETNS=$netns
CONTAINERD_SOCK=$containerd_sock
LINK_NODE=$link_node
LINK_HOST=$link_host
NODE_IP=$node_ip
POD_CIDR=$pod_cidr
SERVICE_CIDR=$service_cidr
VOLUMES_DIR=$state/volumes
POD_LOGS_DIR=$state/pod-logs
EOF
  trap - EXIT INT TERM
  say "up in $(elapsed): $(kc get nodes --no-headers | awk '{print $1, $2, $5}')"
  echo "export KUBECONFIG=$kubeconfig"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status)
    if proc_alive kube-apiserver 2>/dev/null; then kc get nodes,pods -A -o wide; else echo "cluster: not running"; fi
    l="$(leftovers)"; [ -n "$l" ] && { echo "on the machine:"; echo "$l"; }
    true ;;
  leftovers) leftovers ;;
  *) echo "usage: cluster.sh up|down|status|leftovers" >&2; exit 2 ;;
esac
