#!/usr/bin/env bash
# Smoke test of the built image, run as a user runs it (docker run, nothing mounted from the
# repo): the entry points, a 3-member cluster of containers serving a write and a read through
# raftctl from the image, and `docker stop` of the leader: exit 0, leadership handed off, the
# data still there. Containers use --network host and loopback ports (the private daemon has no
# bridge); every container it starts is removed at the end, success or failure.
#   DOCKER_HOST=... bash test/image/smoke.sh raftkv:dev      (scripts/test-image.sh runs it)
# Ends with a line `N passed, N failed`; exits non-zero when any check failed.
set -uo pipefail
image="${1:?usage: smoke.sh IMAGE}"
DOCKER="${DOCKER:-/usr/bin/docker}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="raftkv-smoke-$$"
# Bounds.
LEADER_WAIT_S=60
STOP_TIMEOUT_S=15

passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

cleanup() {
  "$DOCKER" ps -aq --filter "name=^${prefix}-" | xargs -r "$DOCKER" rm -f >/dev/null 2>&1 || true
}
trap cleanup EXIT

raftctl() { "$DOCKER" run --rm --network host --entrypoint raftctl "$image" --endpoints "$endpoints" "$@"; }

# --- entry points ----------------------------------------------------------------------------
help_out="$("$DOCKER" run --rm --network none "$image" --help 2>&1)"; help_code=$?
check "raftkv --help exits 0 and prints the usage" test "$help_code" = 0 -a -n "$(grep -m1 '^usage: raftkv' <<<"$help_out")"
"$DOCKER" run --rm --network none "$image" --no-such-flag >/dev/null 2>&1; bad_code=$?
check "raftkv with an unknown flag exits 2 (got $bad_code)" test "$bad_code" = 2
ctl_out="$("$DOCKER" run --rm --network none --entrypoint raftctl "$image" --help 2>&1)"
check "raftctl --help from the image prints its usage" grep -q '^usage: raftctl' <<<"$ctl_out"
op_out="$("$DOCKER" run --rm --network none --entrypoint raftkv-operator "$image" --no-such-flag 2>&1)"
check "raftkv-operator from the image starts and prints its usage for a bad flag" grep -q '^usage: raftkv-operator' <<<"$op_out"
check "runs as uid 1000 (the chart's runAsNonRoot)" test "$("$DOCKER" run --rm --network none --entrypoint id "$image" -u)" = 1000

# --- a 3-member cluster of containers --------------------------------------------------------
# Six free loopback ports, from the kernel (bind port 0), held by nobody once printed.
mapfile -t ports < <(node -e '
  const net = require("node:net");
  (async () => {
    const servers = [];
    for (let i = 0; i < 6; i++) servers.push(await new Promise((res) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => res(s)); }));
    for (const s of servers) console.log(s.address().port);
    for (const s of servers) s.close();
  })();')
[ "${#ports[@]}" = 6 ] || { echo "smoke: could not find free ports" >&2; exit 1; }
initial=""
endpoints=""
for i in 1 2 3; do
  initial+="${initial:+,}m$i=127.0.0.1:${ports[$((i + 2))]}"
  endpoints+="${endpoints:+,}http://127.0.0.1:${ports[$((i - 1))]}"
done
for i in 1 2 3; do
  "$DOCKER" run -d --name "$prefix-m$i" --network host "$image" \
    --name "m$i" --listen-client "http://127.0.0.1:${ports[$((i - 1))]}" --listen-peer "127.0.0.1:${ports[$((i + 2))]}" \
    --initial-cluster "$initial" --initial-cluster-state new >/dev/null
done

leader_of() {  # prints the leader's name from `raftctl status`, or nothing
  raftctl status 2>/dev/null | sed -n 's/^leader \([^,]*\), term.*/\1/p'
}
wait_leader() {
  local waited=0 l
  while ((waited < LEADER_WAIT_S)); do
    l="$(leader_of)"
    [ -n "$l" ] && { echo "$l"; return 0; }
    sleep 1; waited=$((waited + 1))
  done
  return 1
}
t0=$(date +%s)
leader="$(wait_leader)"
check "a leader is elected ($leader, $(( $(date +%s) - t0 )) s)" test -n "$leader"

check "raftctl put through the cluster" raftctl put smoke/greeting "hello from a container"
endpoints_one="http://127.0.0.1:${ports[2]}"
got="$("$DOCKER" run --rm --network host --entrypoint raftctl "$image" --endpoints "$endpoints_one" get smoke/greeting 2>&1)"
check "a linearizable read from m3 returns the write (got: $got)" test "$got" = "hello from a container"

# --- docker stop of the leader: SIGTERM, hand-off, exit 0 ------------------------------------
if [ -n "$leader" ]; then
  t0=$(date +%s%N)
  "$DOCKER" stop -t "$STOP_TIMEOUT_S" "$prefix-$leader" >/dev/null; stop_code=$?
  stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  exit_code="$("$DOCKER" inspect -f '{{ .State.ExitCode }}' "$prefix-$leader")"
  check "docker stop of the leader exits 0 (took ${stop_ms} ms)" test "$stop_code" = 0
  check "the leader container exited 0 on SIGTERM, not killed (exit code $exit_code)" test "$exit_code" = 0
  check "it stopped well within the 10 s SIGTERM budget" test "$stop_ms" -lt 10000
  endpoints=""
  for i in 1 2 3; do [ "m$i" = "$leader" ] || endpoints+="${endpoints:+,}http://127.0.0.1:${ports[$((i - 1))]}"; done
  t0=$(date +%s)
  new_leader="$(wait_leader)"
  check "another member leads after the hand-off ($new_leader, $(( $(date +%s) - t0 )) s)" test -n "$new_leader" -a "$new_leader" != "$leader"
  got="$(raftctl get smoke/greeting 2>&1)"
  check "the acknowledged write survives the leader's stop (got: $got)" test "$got" = "hello from a container"
  check "the two remaining members take a new write" raftctl put smoke/after "still serving"
  "$DOCKER" start "$prefix-$leader" >/dev/null
  # Asked alone (a serializable read is answered from its own state), so this is the old leader.
  for i in 1 2 3; do [ "m$i" = "$leader" ] && old_leader_url="http://127.0.0.1:${ports[$((i - 1))]}"; done
  waited=0
  until [ "$("$DOCKER" run --rm --network host --entrypoint raftctl "$image" --endpoints "$old_leader_url" get --serializable smoke/after 2>/dev/null)" = "still serving" ] || ((waited >= LEADER_WAIT_S)); do
    sleep 1; waited=$((waited + 1))
  done
  check "the restarted old leader rejoins and has the write made while it was down" test "$waited" -lt "$LEADER_WAIT_S"
fi

# Every member stops cleanly.
for i in 1 2 3; do
  "$DOCKER" stop -t "$STOP_TIMEOUT_S" "$prefix-m$i" >/dev/null 2>&1
  code="$("$DOCKER" inspect -f '{{ .State.ExitCode }}' "$prefix-m$i")"
  check "m$i exits 0 on docker stop (exit code $code)" test "$code" = 0
done

# --- stopped while it starts ------------------------------------------------------------------
# A stop while Node loads the daemon's modules must exit 0 at once, not sit out the stop timeout
# as a PID 1 without a SIGTERM handler does (before bin/raftkv's interim handler, a stop then
# waited for the SIGKILL). The stop is sent as soon as PID 1 has mapped RocksDB's native addon,
# i.e. mid-way through loading the modules. (Node's own boot, before any of our code runs, stays
# a window no handler in the process can cover.)
"$DOCKER" run -d --name "$prefix-early" --network none "$image" --name early >/dev/null
early_pid="$("$DOCKER" inspect -f '{{ .State.Pid }}' "$prefix-early")"
loading=0
for _ in $(seq 1 500); do  # bounded: 500 polls of 20 ms
  grep -q rocksdb "/proc/$early_pid/maps" 2>/dev/null && { loading=1; break; }
  sleep 0.02
done
check "the member's PID 1 loads its modules (RocksDB's addon mapped)" test "$loading" = 1
t0=$(date +%s%N)
"$DOCKER" stop -t "$STOP_TIMEOUT_S" "$prefix-early" >/dev/null
early_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
early_code="$("$DOCKER" inspect -f '{{ .State.ExitCode }}' "$prefix-early")"
served="$("$DOCKER" logs "$prefix-early" 2>&1 | grep -c '"msg":"serving"')"
check "a member stopped while starting exits 0 in ${early_ms} ms (exit code $early_code; reached serving first: $served)" test "$early_code" = 0 -a "$early_ms" -lt 5000

# --- the Dockerfile's install check catches an incomplete npm ci -------------------------------
# What the Dockerfile runs after `npm ci` (npm has exited 0 with nothing installed), against an
# empty node_modules in the same base image: it must fail, or the build would go on without deps.
base="$(sed -n 's/^ARG NODE_IMAGE=//p' "$repo/Dockerfile")"
"$DOCKER" run --rm --network none -v "$repo/package.json:/w/package.json:ro" -v "$repo/package-lock.json:/w/package-lock.json:ro" \
  -w /w "$base" sh -c 'mkdir -p /tmp/w && cp package.json package-lock.json /tmp/w && cd /tmp/w && mkdir node_modules && npm ls --all >/dev/null 2>&1'
incomplete_code=$?
check "the install check fails on an empty node_modules (exit $incomplete_code)" test "$incomplete_code" != 0

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
