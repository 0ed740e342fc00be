#!/usr/bin/env bash
# The README's "Install on Kubernetes" steps, typed as a user types them, against the real
# one-node cluster (scripts/cluster.sh up; KUBECONFIG set): pod DNS through CoreDNS, a Service
# through kube-proxy, a PVC from the default StorageClass, then
#   helm install raftkv-operator charts/raftkv-operator (image raftkv:dev, built from the tree)
#   kubectl apply -f k8s/samples/raftcluster.yaml        (spec.image: raftkv:dev)
#   kubectl wait rkv/demo --for=condition=Available
# a write and a read through the client Service from a pod running raftctl from the image, and
# `kubectl delete pod` of the leader: the kubelet's SIGTERM hand-off, the member comes back on its
# PVC and the write is still there; a follower's pod deleted; scale 3->5->3; the KillLeader drill;
# a rolling image update (raftkv:dev -> raftkv:rollout, a second name of the same build, loaded
# when the node has it: scripts/test-node.sh) with the leader replaced last.
# Ends with `N passed, N failed`.
#   KUBECONFIG=... bash test/node/smoke.sh       (scripts/test-node.sh runs it between up and down)
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
: "${KUBECONFIG:?set KUBECONFIG (bash scripts/cluster.sh up prints it)}"
helm="$repo/.cache/bin/helm"
image="${IMAGE_TAG:-raftkv:dev}"
ns=smoke
WAIT=300s

passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
t_start=$(date +%s)
since() { echo "$(( $(date +%s) - t_start )) s"; }

# One-shot pod from the image: prints its output, returns its exit code.
pod_run() {  # name command...
  local name="$1"; shift
  kubectl -n "$ns" run "$name" --image="$image" --image-pull-policy=Never --restart=Never --quiet \
    --command -- "$@" >/dev/null
  local phase="" waited=0 code=1
  while ((waited < 120)); do
    phase="$(kubectl -n "$ns" get pod "$name" -o jsonpath='{.status.phase}' 2>/dev/null)"
    case "$phase" in Succeeded) code=0; break ;; Failed) break ;; esac
    sleep 1; waited=$((waited + 1))
  done
  kubectl -n "$ns" logs "$name" 2>&1
  kubectl -n "$ns" delete pod "$name" --wait=false >/dev/null 2>&1
  return $code
}

kubectl create namespace "$ns" >/dev/null 2>&1 || true
kubectl -n "$ns" wait serviceaccount/default --for=jsonpath='{.metadata.name}'=default --timeout=60s >/dev/null 2>&1 \
  || sleep 5

# --- the node itself ---------------------------------------------------------------------------
check "the node is Ready" kubectl wait --for=condition=Ready node --all --timeout=60s
out="$(pod_run dns getent hosts kubernetes.default.svc.cluster.local)"
check "a pod resolves kubernetes.default.svc.cluster.local through CoreDNS (got: ${out//$'\n'/ })" grep -q '^10\.96\.0\.1 ' <<<"$out"
out="$(pod_run api node -e '
  const https = require("node:https"); const fs = require("node:fs");
  const sa = "/var/run/secrets/kubernetes.io/serviceaccount/";
  https.get({ host: "kubernetes.default.svc", path: "/version", ca: fs.readFileSync(sa + "ca.crt"),
    headers: { authorization: "Bearer " + fs.readFileSync(sa + "token", "utf8") } },
    (r) => { let b = ""; r.on("data", (c) => b += c); r.on("end", () => { console.log(r.statusCode, JSON.parse(b).gitVersion); }); })
   .on("error", (e) => { console.log("error", e.message); process.exit(1); });')"
check "a pod reaches the API server through the kubernetes Service (kube-proxy) with its ServiceAccount token (got: $out)" grep -q '^200 v1.37.0' <<<"$out"

# --- the README's steps --------------------------------------------------------------------------
t0=$(date +%s)
"$helm" install raftkv-operator "$repo/charts/raftkv-operator" -n raftkv-system --create-namespace \
  --set image.repository="${image%%:*}" --set image.tag="${image##*:}" --wait --timeout "$WAIT" >/dev/null
check "helm install raftkv-operator (2 operator pods Ready in $(( $(date +%s) - t0 )) s)" \
  test "$(kubectl -n raftkv-system get deploy raftkv-operator -o jsonpath='{.status.readyReplicas}')" = 2
t0=$(date +%s)
sed "s|^  image: .*|  image: $image|" "$repo/k8s/samples/raftcluster.yaml" | kubectl -n "$ns" apply -f - >/dev/null
kubectl -n "$ns" wait rkv/demo --for=condition=Available --timeout="$WAIT" >/dev/null; code=$?
check "kubectl wait rkv/demo --for=condition=Available ($(( $(date +%s) - t0 )) s after apply)" test "$code" = 0
bound="$(kubectl -n "$ns" get pvc -o jsonpath='{range .items[*]}{.status.phase} {.spec.storageClassName}{"\n"}{end}' | grep -c '^Bound standard$')"
check "3 PVCs Bound from the default StorageClass (local-path provisioner)" test "$bound" = 3

out="$(pod_run put raftctl --endpoints http://demo:2379 put smoke/key "written through the Service")"
check "raftctl put through the client Service from a pod (got: ${out//$'\n'/ })" grep -q '^OK' <<<"$out"
out="$(pod_run get raftctl --endpoints http://demo:2379 get smoke/key)"
check "raftctl get through the client Service returns it (got: $out)" test "$out" = "written through the Service"

# --- kubectl delete pod of the leader: SIGTERM from the kubelet, hand-off, back on its PVC ------
status="$(pod_run status raftctl --endpoints http://demo:2379 status)"
leader="$(sed -n 's/^leader \([^,]*\), term.*/\1/p' <<<"$status")"
check "raftctl status names a leader ($leader)" test -n "$leader"
if [ -n "$leader" ]; then
  uid_before="$(kubectl -n "$ns" get pod "$leader" -o jsonpath='{.metadata.uid}')"
  t0=$(date +%s%N)
  kubectl -n "$ns" delete pod "$leader" --wait=true --timeout=60s >/dev/null
  del_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  check "kubectl delete pod of the leader returns in ${del_ms} ms (SIGTERM hand-off, not the grace-period kill)" test "$del_ms" -lt 20000
  kubectl -n "$ns" wait "pod/$leader" --for=condition=Ready --timeout=180s >/dev/null 2>&1
  uid_after="$(kubectl -n "$ns" get pod "$leader" -o jsonpath='{.metadata.uid}' 2>/dev/null)"
  check "the StatefulSet brought $leader back as a new pod, Ready" test -n "$uid_after" -a "$uid_after" != "$uid_before"
  out="$(pod_run get2 raftctl --endpoints "http://$leader.demo-peer:2379" get --serializable smoke/key 2>&1)"
  check "$leader, back on its PVC, has the write (reached by its pod DNS name; got: $out)" test "$out" = "written through the Service"
  kubectl -n "$ns" wait rkv/demo --for=condition=Available --timeout="$WAIT" >/dev/null 2>&1
  out="$(pod_run put2 raftctl --endpoints http://demo:2379 put smoke/after "after the restart")"
  check "the cluster takes writes again" grep -q '^OK' <<<"$out"
fi

# --- a follower's pod deleted, then the README's scale and drill --------------------------------
follower=""
for m in demo-0 demo-1 demo-2; do [ "$m" != "$leader" ] && { follower="$m"; break; }; done
t0=$(date +%s%N)
kubectl -n "$ns" delete pod "$follower" --wait=true --timeout=60s >/dev/null
del_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kubectl -n "$ns" wait "pod/$follower" --for=condition=Ready --timeout=180s >/dev/null 2>&1
out="$(pod_run get3 raftctl --endpoints "http://$follower.demo-peer:2379" get --serializable smoke/after 2>&1)"
check "a deleted follower ($follower, gone in ${del_ms} ms) comes back on its PVC with every write (got: $out)" test "$out" = "after the restart"

ready_count() { kubectl -n "$ns" get rkv demo -o jsonpath='{.status.readyReplicas}' 2>/dev/null; }
wait_ready_count() {  # n: until the RaftCluster reports n ready members (bounded)
  local waited=0
  until [ "$(ready_count)" = "$1" ] && [ "$(kubectl -n "$ns" get sts demo -o jsonpath='{.status.readyReplicas}')" = "$1" ]; do
    ((waited >= 300)) && return 1
    sleep 2; waited=$((waited + 2))
  done
}
t0=$(date +%s)
kubectl -n "$ns" scale rkv demo --replicas=5 >/dev/null
wait_ready_count 5; code=$?
check "kubectl scale rkv demo --replicas=5: 5 members ready in $(( $(date +%s) - t0 )) s" test "$code" = 0
members="$(pod_run members raftctl --endpoints http://demo:2379 members list 2>&1)"
check "5 voters after the scale-up" test "$(awk '$2 == "voter"' <<<"$members" | wc -l)" = 5
t0=$(date +%s)
kubectl -n "$ns" scale rkv demo --replicas=3 >/dev/null
wait_ready_count 3; code=$?
check "kubectl scale rkv demo --replicas=3: back to 3 in $(( $(date +%s) - t0 )) s" test "$code" = 0
members="$(pod_run members3 raftctl --endpoints http://demo:2379 members list 2>&1)"
check "3 members, all voters, after the scale-down (got: $(awk 'NR > 1 { printf "%s:%s ", $1, $2 }' <<<"$members"))" \
  test "$(awk 'NR > 1' <<<"$members" | wc -l)" = 3 -a "$(awk '$2 == "voter"' <<<"$members" | wc -l)" = 3
t0=$(date +%s)
kubectl -n "$ns" apply -f "$repo/k8s/samples/drill-kill-leader.yaml" >/dev/null
phase=""
for _ in $(seq 1 90); do
  phase="$(kubectl -n "$ns" get drill demo-kill-leader -o jsonpath='{.status.phase}' 2>/dev/null)"
  case "$phase" in Succeeded|Failed) break ;; esac
  sleep 2
done
lost="$(kubectl -n "$ns" get drill demo-kill-leader -o jsonpath='{.status.lostWrites}' 2>/dev/null)"
check "the KillLeader drill Succeeded in $(( $(date +%s) - t0 )) s (phase $phase, lost ${lost:-?})" test "$phase" = Succeeded -a "${lost:-x}" = 0
# --- a rolling image update: raftkv:dev -> raftkv:rollout, followers first, the leader last ----
# (the same build under a second name: the pods' image changes, so each is replaced)
if [ -n "$(kubectl get node -o jsonpath='{.items[0].status.images[*].names}' | grep -o 'raftkv:rollout')" ]; then
  status="$(pod_run status2 raftctl --endpoints http://demo:2379 status)"
  old_leader="$(sed -n 's/^leader \([^,]*\), term.*/\1/p' <<<"$status")"
  t0=$(date +%s)
  kubectl -n "$ns" patch rkv demo --type merge -p '{"spec":{"image":"raftkv:rollout"}}' >/dev/null
  waited=0
  until [ "$(kubectl -n "$ns" get pods -l app.kubernetes.io/name=raftkv,app.kubernetes.io/instance=demo -o jsonpath='{range .items[*]}{.spec.containers[0].image}{" "}{.status.containerStatuses[0].ready}{"\n"}{end}' | grep -c '^raftkv:rollout true$')" = 3 ] || ((waited >= 300)); do
    sleep 2; waited=$((waited + 2))
  done
  check "kubectl patch spec.image: all 3 members run raftkv:rollout and are Ready in $(( $(date +%s) - t0 )) s" test "$waited" -lt 300
  last="$(kubectl -n "$ns" get pods -l app.kubernetes.io/name=raftkv,app.kubernetes.io/instance=demo --sort-by=.metadata.creationTimestamp -o jsonpath='{.items[-1:].metadata.name}')"
  check "the leader before the update ($old_leader) was replaced last ($last)" test -n "$old_leader" -a "$last" = "$old_leader"
  kubectl -n "$ns" wait rkv/demo --for=condition=Available --timeout="$WAIT" >/dev/null 2>&1
fi
out="$(pod_run get4 raftctl --endpoints http://demo:2379 get smoke/key)"
check "after all that, the first write reads back through the Service" test "$out" = "written through the Service"

# --- uninstall as a user would -----------------------------------------------------------------
kubectl -n "$ns" delete rkv demo --wait=true --timeout=120s >/dev/null 2>&1
"$helm" uninstall raftkv-operator -n raftkv-system --wait --timeout 120s >/dev/null 2>&1
kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
echo "node smoke test in $(since)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
