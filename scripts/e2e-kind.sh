#!/usr/bin/env bash
# `make e2e-kind`: the shared e2e scenario (test/e2e/e2e.test.ts, the same steps as `make e2e`) on a
# kind cluster, as a user with Docker runs it:
#   kind create cluster --config test/e2e/kind-config.yaml [--image $KIND_NODE_IMAGE]
#   docker build -t raftkv:dev .  (and a second build, raftkv:e2e-b, for the rolling update)
#   kind load docker-image raftkv:dev raftkv:e2e-b
#   node scripts/run-tests.mjs dist/test/e2e/e2e.test.js   (with the cluster's kubeconfig; see node.env below)
#   kind delete cluster   (a trap: on success, failure and Ctrl-C)
# The test looks at the node from the host (a member's PV directory, a container's pid for SIGKILL
# and SIGSTOP, Prometheus in the node's network namespace), so it runs on Linux as root, with
# Debian's prometheus, as `make e2e` does.
#
# Docker: the daemon at DOCKER_HOST (or the default socket) when one answers. On a machine without
# one (CI here), a daemon of this tree's own (scripts/lib/private-dockerd.sh, flavor "kind"):
# --iptables=false --bridge=none (the host's iptables stay untouched: the chaos tier's network
# namespaces need the FORWARD policy as it is), the userland proxy publishing kind's API server
# port on 127.0.0.1, and runc behind scripts/kind/runc-fit (root here lacks CAP_SYS_RESOURCE,
# which kind's --privileged node containers ask for) as the default runtime; kind's network is
# made here on a /24 chosen by the tree (below).
# Node image: KIND_NODE_IMAGE when set; else kind's published one (kind's default) with a user's
# Docker, or, with the private daemon (no registry reachable), one built on this machine by
# scripts/ensure-kind-node-image.sh (cached per version).
# Env: CLUSTER_NAME (raftkv-e2e), KIND_NODE_IMAGE, KEEP_CLUSTER=1 (leave the cluster up),
# E2E_KIND_DOCKER=private|user|auto (auto: private when no daemon answers and we are root).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.cache/bin:$PATH"
CLUSTER_NAME="${CLUSTER_NAME:-raftkv-e2e}"
node_name="${CLUSTER_NAME}-control-plane"
state="$repo/.cache/e2e-kind"
key="$(printf '%s' "$state" | sha256sum | cut -c1-8)"
netns="raftkv-kind-$key"
start=$(date +%s)
t_tools=0; t_up=0; t_images=0; t_tests=0
tests_pgid=""
private=0
say() { echo "e2e-kind: $*"; }
fail() { echo "e2e-kind: ERROR: $*" >&2; exit 1; }

finish() {
  local code=$?
  trap - EXIT INT TERM
  [ -z "$tests_pgid" ] || kill -KILL -- "-$tests_pgid" 2>/dev/null || true
  local t0
  t0=$(date +%s)
  ip netns delete "$netns" 2>/dev/null || true
  if [ "$code" != 0 ] && command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    rm -rf "$repo/.cache/e2e-kind-logs"
    kind export logs "$repo/.cache/e2e-kind-logs" --name "$CLUSTER_NAME" >/dev/null 2>&1 && say "node logs kept in .cache/e2e-kind-logs"
  fi
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
    say "KEEP_CLUSTER=1: leaving kind cluster $CLUSTER_NAME (DOCKER_HOST=${DOCKER_HOST:-} kind delete cluster --name $CLUSTER_NAME)"
  else
    kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
    if [ "$private" = 1 ]; then private_dockerd_stop || code=1; fi
    rm -rf "$state"
  fi
  say "tools ${t_tools} s, cluster up ${t_up} s, images ${t_images} s, tests ${t_tests} s, down $(( $(date +%s) - t0 )) s; all in $(( $(date +%s) - start )) s"
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM

# --- Docker -------------------------------------------------------------------------------------
mode="${E2E_KIND_DOCKER:-auto}"
if [ "$mode" = auto ]; then
  if docker version >/dev/null 2>&1; then mode=user
  elif [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then mode=private
  else fail "no Docker daemon answers (DOCKER_HOST=${DOCKER_HOST:-unset}) and this is not root with dockerd to start one"
  fi
fi
t0=$(date +%s)
if [ "$mode" = private ]; then
  PRIVATE_DOCKERD_FLAVOR=kind
  PRIVATE_DOCKERD_EXTRA_ARGS=(--userland-proxy=true --add-runtime "runc-fit=$repo/scripts/kind/runc-fit" --default-runtime runc-fit)
  # shellcheck source=lib/private-dockerd.sh
  source "$repo/scripts/lib/private-dockerd.sh"
  private=1
  private_dockerd_start
  # kind's own network would take Docker's first free /16 (172.17.0.0/16) and a fixed IPv6 /64 on
  # every daemon; two working trees running this tier at once would put the same routes on two
  # host bridges. So this daemon's kind network is made here, IPv4 only, on a /24 of 172.16.0.0/12
  # chosen by the tree (kind uses a network of that name as it finds it).
  export KIND_EXPERIMENTAL_DOCKER_NETWORK="kind-$key"
  subnet="172.$(( 16 + 16#${key:0:2} % 16 )).$(( 16#${key:2:2} )).0/24"
  docker network inspect "$KIND_EXPERIMENTAL_DOCKER_NETWORK" >/dev/null 2>&1 \
    || docker network create -d bridge --subnet "$subnet" -o com.docker.network.driver.mtu=1500 "$KIND_EXPERIMENTAL_DOCKER_NETWORK" >/dev/null
  say "kind network $KIND_EXPERIMENTAL_DOCKER_NETWORK: $subnet"
fi
command -v kind >/dev/null || bash "$repo/scripts/ensure-kind.sh" >/dev/null
[ "$private" = 0 ] || bash "$repo/scripts/ensure-kind.sh" >/dev/null
bash "$repo/scripts/ensure-helm.sh" >/dev/null
command -v kubectl >/dev/null || fail "kubectl is not installed"
node_image=()
# kind's own CNI (kindnet) unless the node image was built without it (no kindnetd source on this
# machine: scripts/ensure-kind-node-image.sh); then the CNI bridge plugin, configured below.
cni=kindnet
if [ -n "${KIND_NODE_IMAGE:-}" ]; then
  node_image=(--image "$KIND_NODE_IMAGE")
elif [ "$private" = 1 ]; then
  bash "$repo/scripts/ensure-kind-node-image.sh"
  node_image=(--image "raftkv.local/kind-node:v1.37.0")
  cni="$(docker image inspect -f '{{ index .Config.Labels "dev.raftkv.kind-node.cni" }}' raftkv.local/kind-node:v1.37.0)"
  [ -n "$cni" ] || cni=kindnet
fi
t_tools=$(( $(date +%s) - t0 ))

# --- the cluster ----------------------------------------------------------------------------------
t0=$(date +%s)
kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
ip netns delete "$netns" 2>/dev/null || true
rm -rf "$state"
mkdir -p "$state"
if [ "$cni" = kindnet ]; then
  say "kind create cluster --name $CLUSTER_NAME --config test/e2e/kind-config.yaml ${node_image[*]}"
  kind create cluster --name "$CLUSTER_NAME" --config test/e2e/kind-config.yaml "${node_image[@]}" --wait 180s --kubeconfig "$state/kubeconfig"
else
  # The same configuration with kind's default CNI off; the node turns Ready once its CNI
  # configuration exists: the bridge plugin on the podCIDR kind's controller-manager gave it
  # (one node: no routes to other nodes needed), masquerading what leaves the pod network.
  { cat test/e2e/kind-config.yaml; printf 'networking:\n  disableDefaultCNI: true\n'; } >"$state/kind-config.yaml"
  say "no kindnetd in this node image: kind create cluster --name $CLUSTER_NAME --config $state/kind-config.yaml (disableDefaultCNI) ${node_image[*]}, then the CNI bridge plugin"
  kind create cluster --name "$CLUSTER_NAME" --config "$state/kind-config.yaml" "${node_image[@]}" --kubeconfig "$state/kubeconfig"
  pod_cidr=""
  for _ in $(seq 1 60); do
    pod_cidr="$(kubectl --kubeconfig "$state/kubeconfig" get node "$node_name" -o jsonpath='{.spec.podCIDR}' 2>/dev/null || true)"
    [ -z "$pod_cidr" ] || break
    sleep 1
  done
  [ -n "$pod_cidr" ] || fail "the node got no podCIDR within 60 s"
  docker exec -i "$node_name" sh -c 'cat >/etc/cni/net.d/10-raftkv-bridge.conflist' <<EOF
{
  "cniVersion": "1.0.0",
  "name": "raftkv-kind-pods",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$pod_cidr" }]], "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  kubectl --kubeconfig "$state/kubeconfig" wait --for=condition=Ready "node/$node_name" --timeout=180s
  say "CNI bridge plugin on $pod_cidr; node Ready"
fi
t_up=$(( $(date +%s) - t0 ))

# --- the images -----------------------------------------------------------------------------------
t0=$(date +%s)
if [ "$private" = 1 ]; then
  # The Dockerfile unchanged, on this daemon, with the base image made locally (no registry).
  bash "$repo/scripts/build-image.sh" --tag raftkv:dev
  bash "$repo/scripts/build-image.sh" --tag raftkv:e2e-b --revision e2e-b
else
  # The Dockerfile needs BuildKit (a secret mount): the default builder of Docker 23+, asked for
  # explicitly so an older client uses it too instead of failing on the mount.
  DOCKER_BUILDKIT=1 docker build -t raftkv:dev .
  DOCKER_BUILDKIT=1 docker build --build-arg REVISION=e2e-b -t raftkv:e2e-b .
fi
kind load docker-image raftkv:dev raftkv:e2e-b --name "$CLUSTER_NAME"
t_images=$(( $(date +%s) - t0 ))

# --- what the test needs to see the node from the host (test/lib/real-node.ts) -------------------
node_pid="$(docker inspect -f '{{.State.Pid}}' "$node_name")"
node_ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$node_name")"
[ -n "$node_pid" ] && [ "$node_pid" != 0 ] && [ -n "$node_ip" ] || fail "no pid/address for the node container $node_name"
# The node's network namespace by name, for `nsenter --net=/run/netns/<name>` (Prometheus).
ip netns attach "$netns" "$node_pid"
cat >"$state/node.env" <<ENV
NETNS=$netns
CONTAINERD_SOCK=/run/containerd/containerd.sock
LINK_NODE=$node_ip
VOLUMES_DIR=/proc/$node_pid/root/var/local-path-provisioner
NODE_EXEC=docker exec $node_name
NODE_ROOT=/proc/$node_pid/root
SYSTEM_NAMESPACES=kube-system local-path-storage
ENV
docker exec "$node_name" mkdir -p /var/local-path-provisioner

# --- the tests ------------------------------------------------------------------------------------
t0=$(date +%s)
code=0
RAFTKV_E2E_CLUSTER_DIR="$state" HELM="$repo/.cache/bin/helm" setsid -w node "$repo/scripts/run-tests.mjs" --test-concurrency=1 "$repo/dist/test/e2e/e2e.test.js" &
tests_pgid=$!
wait "$tests_pgid" || code=$?
tests_pgid=""
t_tests=$(( $(date +%s) - t0 ))
exit "$code"
