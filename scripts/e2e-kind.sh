#!/usr/bin/env bash
# End-to-end on a real Kubernetes (kind), for a machine with Docker and kind (`make e2e-kind`):
#   kind cluster (k8s/kind/kind-config.yaml) → docker build + kind load → helm install the operator
#   chart → sample RaftCluster (k8s/samples/raftcluster.yaml) Available → write/read through the
#   client Service → scale 3→5→3 (data kept) → KillLeader drill Succeeded → teardown (trap).
# Needs: docker, kind, kubectl, helm (PATH or .cache/bin; else bash scripts/ensure-helm.sh builds it).
# Env: CLUSTER_NAME (raftkv-e2e), IMAGE (raftkv:e2e), KIND_NODE_IMAGE (kind's default node image),
#      KEEP_CLUSTER=1 (leave the cluster up for debugging), TIMEOUT_S (bound of each wait, default 600).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.cache/bin:$PATH"
CLUSTER_NAME="${CLUSTER_NAME:-raftkv-e2e}"
IMAGE="${IMAGE:-raftkv:e2e}"
TIMEOUT_S="${TIMEOUT_S:-600}"
TIMEOUT="${TIMEOUT_S}s"
NS=raftkv-e2e
OPERATOR_NS=raftkv-system
RC=demo
KCTX="kind-${CLUSTER_NAME}"
started=$(date +%s)

log() { printf '[e2e-kind %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
die() { log "FAIL: $*"; exit 1; }
k() { kubectl --context "$KCTX" "$@"; }

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (this suite needs Docker and kind; see README 'Install')"
done
command -v helm >/dev/null || bash scripts/ensure-helm.sh >/dev/null
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable"

diagnostics() {
  log "diagnostics:"
  k get rkv,drill,statefulset,pods,pvc -n "$NS" -o wide || true
  k describe rkv "$RC" -n "$NS" || true
  k get events -n "$NS" --sort-by=.lastTimestamp | tail -n 40 || true
  k logs -n "$OPERATOR_NS" -l app.kubernetes.io/name=raftkv-operator --tail=200 --prefix || true
}
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then diagnostics; fi
  if [ "${KEEP_CLUSTER:-0}" = "1" ]; then
    log "KEEP_CLUSTER=1: leaving kind cluster $CLUSTER_NAME (kind delete cluster --name $CLUSTER_NAME)"
  else
    log "deleting kind cluster $CLUSTER_NAME"
    kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
  fi
  if [ "$rc" -eq 0 ]; then log "PASSED"; else log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# raftctl inside the cluster, from the image under test, against the client Service.
raftctl() {
  k run "raftctl-$RANDOM$RANDOM" -n "$NS" --image="$IMAGE" --image-pull-policy=Never --restart=Never --rm -i --quiet \
    --command -- raftctl --endpoints "http://${RC}.${NS}.svc:2379" "$@"
}
wait_ready() {
  local n=$1
  log "waiting for $n ready members and Available"
  k wait -n "$NS" "rkv/$RC" --for=jsonpath='{.status.readyReplicas}'="$n" --timeout="$TIMEOUT"
  k wait -n "$NS" "rkv/$RC" --for=condition=Available --timeout="$TIMEOUT"
  local voters
  voters=$(raftctl members list | awk '$2 == "voter"' | wc -l)
  [ "$voters" -eq "$n" ] || die "expected $n voters, raftctl members list shows $voters"
}

log "creating kind cluster $CLUSTER_NAME"
kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
kind create cluster --name "$CLUSTER_NAME" --config k8s/kind/kind-config.yaml --wait 180s ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}

log "building $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"

log "installing the operator chart"
helm --kube-context "$KCTX" install raftkv-operator charts/raftkv-operator --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never --wait --timeout "$TIMEOUT"
deadline=$(( $(date +%s) + TIMEOUT_S ))
until [ -n "$(k get -n "$OPERATOR_NS" lease/raftkv-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "no operator replica took the Lease within $TIMEOUT"
  sleep 2
done
log "operator leader: $(k get -n "$OPERATOR_NS" lease/raftkv-operator -o jsonpath='{.spec.holderIdentity}')"

log "applying the sample RaftCluster"
k create namespace "$NS"
sed -e "s|image: ghcr.io/raftkv/raftkv:.*|image: ${IMAGE}|" -e "s|imagePullPolicy: IfNotPresent|imagePullPolicy: Never|" k8s/samples/raftcluster.yaml \
  | k apply -n "$NS" -f -
wait_ready 3

log "write and read through the client Service"
raftctl put e2e/greeting hello-from-kind >/dev/null
got=$(raftctl get e2e/greeting)
[ "$got" = "hello-from-kind" ] || die "read back '$got'"

log "scaling 3 → 5"
k scale -n "$NS" "rkv/$RC" --replicas=5
wait_ready 5
raftctl put e2e/at5 five >/dev/null

log "scaling 5 → 3"
k scale -n "$NS" "rkv/$RC" --replicas=3
wait_ready 3
k wait -n "$NS" --for=delete pod/"$RC"-4 pod/"$RC"-3 --timeout="$TIMEOUT" >/dev/null 2>&1 || true
[ "$(raftctl get e2e/greeting)" = "hello-from-kind" ] || die "e2e/greeting lost after scaling"
[ "$(raftctl get e2e/at5)" = "five" ] || die "e2e/at5 lost after scaling"

log "KillLeader drill"
leader_before=$(k get -n "$NS" "rkv/$RC" -o jsonpath='{.status.leader}')
k apply -n "$NS" -f k8s/samples/drill-kill-leader.yaml
drill=demo-kill-leader
deadline=$(( $(date +%s) + TIMEOUT_S ))
while :; do
  phase=$(k get -n "$NS" "drill/$drill" -o jsonpath='{.status.phase}')
  case "$phase" in
    Succeeded) break ;;
    Failed) die "drill Failed: $(k get -n "$NS" "drill/$drill" -o jsonpath='{.status.message}')" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || die "drill still '$phase' after $TIMEOUT"
  sleep 5
done
k get -n "$NS" "drill/$drill"
lost=$(k get -n "$NS" "drill/$drill" -o jsonpath='{.status.lostWrites}')
[ "${lost:-0}" = "0" ] || die "drill lost $lost acknowledged writes"
leader_after=$(k get -n "$NS" "drill/$drill" -o jsonpath='{.status.leaderAfter}')
log "leader before the drill: $leader_before, after: $leader_after"
wait_ready 3
[ "$(raftctl get e2e/greeting)" = "hello-from-kind" ] || die "e2e/greeting lost after the drill"
