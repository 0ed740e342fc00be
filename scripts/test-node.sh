#!/usr/bin/env bash
# `make test-node`: brings up the real one-node cluster (scripts/cluster.sh), runs the README's
# install steps against it (test/node/smoke.sh), and takes it down again, success or failure
# (with the node's logs kept in .cache/test-node-logs on failure). Prints the time of each part.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export RAFTKV_CLUSTER_DIR="${RAFTKV_CLUSTER_DIR:-$repo/.cache/test-node-cluster}"
# The smoke test rolls the cluster from raftkv:dev to this second name of the same image.
export EXTRA_IMAGE_TAGS="raftkv:rollout"
start=$(date +%s)
code=0
down() {
  local c=$?
  if [ "$c" != 0 ] || [ "$code" != 0 ]; then
    rm -rf "$repo/.cache/test-node-logs"
    cp -r "$RAFTKV_CLUSTER_DIR/logs" "$repo/.cache/test-node-logs" 2>/dev/null \
      && echo "test-node: node logs kept in .cache/test-node-logs"
  fi
  bash "$repo/scripts/cluster.sh" down
  echo "test-node: all in $(( $(date +%s) - start )) s"
}
trap down EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
bash "$repo/scripts/cluster.sh" up
echo "test-node: cluster up in $(( $(date +%s) - t0 )) s"
bash "$repo/scripts/ensure-helm.sh" >/dev/null
t0=$(date +%s)
KUBECONFIG="$RAFTKV_CLUSTER_DIR/kubeconfig" bash "$repo/test/node/smoke.sh" || code=$?
echo "test-node: smoke test in $(( $(date +%s) - t0 )) s"
exit "$code"
