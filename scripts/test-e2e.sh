#!/usr/bin/env bash
# `make test-e2e`: the e2e tier (test/e2e) on a real one-node Kubernetes. Starts the node once for
# the whole tier (scripts/cluster.sh up: the image built from the Dockerfile as raftkv:dev, and a
# second build, raftkv:e2e-b, for the rolling update), runs the tests against its kubeconfig, and
# takes it down at the end, success or failure (processes, mounts, the network namespace with its
# bridge, veths and kube-proxy's iptables rules, cgroups, the state directory); then checks that
# nothing of it is left on the machine. On failure the node's logs are kept in .cache/e2e-logs.
# Prints the time of each part.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export RAFTKV_CLUSTER_DIR="${RAFTKV_CLUSTER_DIR:-$repo/.cache/e2e-cluster}"
export EXTRA_IMAGE_BUILDS="${EXTRA_IMAGE_BUILDS:-raftkv:e2e-b}"
cluster() { bash "$repo/scripts/cluster.sh" "$@"; }
start=$(date +%s)
t_up=0
t_tests=0
tests_pgid=""
finish() {
  local code=$?
  trap - EXIT INT TERM
  # The tests and everything they started (kubectl, helm, Prometheus) are one process group.
  [ -z "$tests_pgid" ] || kill -KILL -- "-$tests_pgid" 2>/dev/null || true
  if [ "$code" != 0 ] && [ -d "$RAFTKV_CLUSTER_DIR/logs" ]; then
    rm -rf "$repo/.cache/e2e-logs"
    cp -r "$RAFTKV_CLUSTER_DIR/logs" "$repo/.cache/e2e-logs" 2>/dev/null && echo "test-e2e: node logs kept in .cache/e2e-logs"
  fi
  local t0
  t0=$(date +%s)
  cluster down || code=1
  local left
  left="$(cluster leftovers 2>&1 || true)"
  rmdir "$RAFTKV_CLUSTER_DIR" 2>/dev/null || true
  if [ -n "$left" ]; then
    echo "test-e2e: ERROR: left on the machine after cluster down:"
    echo "$left"
    code=1
  fi
  echo "test-e2e: node up ${t_up} s, tests ${t_tests} s, down $(( $(date +%s) - t0 )) s; all in $(( $(date +%s) - start )) s"
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || { echo "test-e2e: needs root (the node's network namespace, containerd, kubelet)" >&2; exit 1; }
# A node of this tier still running (an interrupted run): start from nothing.
[ -z "$(cluster leftovers 2>/dev/null)" ] || cluster down
HELM="$repo/.cache/bin/helm"
bash "$repo/scripts/ensure-helm.sh" >/dev/null
# The S3 server of s3-backup.test.ts (from the machine cache; built once per machine).
bash "$repo/scripts/ensure-versitygw.sh" >/dev/null
t0=$(date +%s)
cluster up
t_up=$(( $(date +%s) - t0 ))
t0=$(date +%s)
code=0
# In the background and waited for, so a SIGTERM or SIGINT reaches the trap at once (bash runs a
# trap only after the foreground command ends); in a session of its own, so the trap can end the
# tests' whole process group.
# E2E_TESTS: the test files or folders to run (default: the whole tier), e.g.
# E2E_TESTS=dist/test/e2e/operator-day2.test.js to rerun one scenario on a fresh node.
# shellcheck disable=SC2086
RAFTKV_E2E_CLUSTER_DIR="$RAFTKV_CLUSTER_DIR" HELM="$HELM" setsid -w node "$repo/scripts/run-tests.mjs" --test-concurrency=1 ${E2E_TESTS:-"$repo/dist/test/e2e"} &
tests_pgid=$!
wait "$tests_pgid" || code=$?
tests_pgid=""
t_tests=$(( $(date +%s) - t0 ))
exit "$code"
