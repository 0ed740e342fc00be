# shellcheck shell=bash
# A Docker daemon of this working tree's own, for building and smoke-testing the image without
# touching the machine's networking (sourced by scripts/build-image.sh and scripts/test-image.sh).
#
# dockerd's defaults would set the host's iptables FORWARD policy to DROP, add NAT rules, turn on
# ip_forward and create a docker0 bridge; other test tiers (the chaos tier's network namespaces)
# and other daemons on the machine depend on those staying as they are. So this daemon runs with
#   --iptables=false --ip-masq=false --ip-forward=false --bridge=none --userland-proxy=false
# (containers and builds use --network host or none), its own --data-root (.cache/docker in the
# working tree, so layers are reused between builds), its own --exec-root, socket, pid file,
# config file, trust key and cgroup parent, so two working trees never share or stop each other's.
#
#   private_dockerd_start   starts it (or reuses one this tree already runs); exports DOCKER_HOST
#   private_dockerd_stop    removes its containers, stops it, and removes its mounts, cgroups
#                           and run directory; safe to call twice and from an EXIT trap
# Debian's docker.io provides dockerd (and the `docker` client with BuildKit, /usr/bin/docker).

#
# PRIVATE_DOCKERD_FLAVOR (set before sourcing) names a second daemon of the same tree with its own
# data root, socket and log (the kind tier's: scripts/e2e-kind.sh), and PRIVATE_DOCKERD_EXTRA_ARGS
# (an array) adds flags to it.
PRIVATE_DOCKERD_REPO="${PRIVATE_DOCKERD_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PRIVATE_DOCKERD_FLAVOR="${PRIVATE_DOCKERD_FLAVOR:-}"
PRIVATE_DOCKERD_SUFFIX="${PRIVATE_DOCKERD_FLAVOR:+-$PRIVATE_DOCKERD_FLAVOR}"
PRIVATE_DOCKERD_KEY="$(printf '%s%s' "$PRIVATE_DOCKERD_REPO" "$PRIVATE_DOCKERD_SUFFIX" | sha256sum | cut -c1-10)"
# Short: a unix socket path must stay under 108 bytes.
PRIVATE_DOCKERD_RUN="/run/raftkv-docker/$PRIVATE_DOCKERD_KEY"
PRIVATE_DOCKERD_DATA="${PRIVATE_DOCKERD_DATA:-$PRIVATE_DOCKERD_REPO/.cache/docker$PRIVATE_DOCKERD_SUFFIX}"
PRIVATE_DOCKERD_LOG="$PRIVATE_DOCKERD_REPO/.cache/dockerd$PRIVATE_DOCKERD_SUFFIX.log"
PRIVATE_DOCKERD_CGROUP="raftkv-docker-$PRIVATE_DOCKERD_KEY"
PRIVATE_DOCKERD_SOCK="unix://$PRIVATE_DOCKERD_RUN/docker.sock"
PRIVATE_DOCKERD_START_TIMEOUT_S=60
PRIVATE_DOCKERD_STOP_TIMEOUT_S=30
DOCKER="${DOCKER:-/usr/bin/docker}"
PRIVATE_DOCKERD_STARTED=0

_pd_say() { echo "private-dockerd: $*"; }

_pd_pid() {
  local pid
  pid="$(cat "$PRIVATE_DOCKERD_RUN/dockerd.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

private_dockerd_start() {
  command -v dockerd >/dev/null || { echo "private-dockerd: dockerd is missing (apt-get install docker.io)" >&2; return 1; }
  [ -x "$DOCKER" ] || { echo "private-dockerd: $DOCKER is missing (apt-get install docker.io)" >&2; return 1; }
  export DOCKER_HOST="$PRIVATE_DOCKERD_SOCK"
  if [ -n "$(_pd_pid)" ] && "$DOCKER" version >/dev/null 2>&1; then
    _pd_say "reusing the daemon already running for this tree ($DOCKER_HOST)"
    return 0
  fi
  mkdir -p "$PRIVATE_DOCKERD_RUN" "$PRIVATE_DOCKERD_DATA"
  # Its own config file, so a machine-wide /etc/docker/daemon.json changes nothing here; the
  # trust key goes to the run directory instead of /etc/docker/key.json.
  printf '{ "deprecated-key-path": "%s/key.json" }\n' "$PRIVATE_DOCKERD_RUN" >"$PRIVATE_DOCKERD_RUN/daemon.json"
  local t0 waited=0
  t0=$(date +%s)
  # setsid: its own process group, so a Ctrl-C meant for make reaches it only through our trap.
  setsid dockerd \
    --config-file "$PRIVATE_DOCKERD_RUN/daemon.json" \
    --host "$PRIVATE_DOCKERD_SOCK" \
    --data-root "$PRIVATE_DOCKERD_DATA" \
    --exec-root "$PRIVATE_DOCKERD_RUN/exec" \
    --pidfile "$PRIVATE_DOCKERD_RUN/dockerd.pid" \
    --iptables=false --ip-masq=false --ip-forward=false --bridge=none --userland-proxy=false \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$PRIVATE_DOCKERD_CGROUP" \
    --storage-driver overlay2 --log-level warn ${PRIVATE_DOCKERD_EXTRA_ARGS[@]+"${PRIVATE_DOCKERD_EXTRA_ARGS[@]}"} \
    >"$PRIVATE_DOCKERD_LOG" 2>&1 </dev/null &
  local child=$!
  PRIVATE_DOCKERD_STARTED=1
  until "$DOCKER" version >/dev/null 2>&1; do
    if ! kill -0 "$child" 2>/dev/null; then
      tail -20 "$PRIVATE_DOCKERD_LOG" >&2
      echo "private-dockerd: dockerd exited at start (log above: $PRIVATE_DOCKERD_LOG)" >&2
      return 1
    fi
    if ((waited >= PRIVATE_DOCKERD_START_TIMEOUT_S)); then
      tail -20 "$PRIVATE_DOCKERD_LOG" >&2
      echo "private-dockerd: dockerd did not answer within ${PRIVATE_DOCKERD_START_TIMEOUT_S} s (log above: $PRIVATE_DOCKERD_LOG)" >&2
      return 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  _pd_say "dockerd up in $(( $(date +%s) - t0 )) s ($DOCKER_HOST, data in $PRIVATE_DOCKERD_DATA)"
}

private_dockerd_stop() {
  local pid waited=0 m d
  pid="$(_pd_pid || true)"
  if [ -n "$pid" ]; then
    DOCKER_HOST="$PRIVATE_DOCKERD_SOCK" "$DOCKER" ps -aq 2>/dev/null | xargs -r env DOCKER_HOST="$PRIVATE_DOCKERD_SOCK" "$DOCKER" rm -f -v >/dev/null 2>&1 || true
    # Networks (kind's bridge) go with their host interfaces.
    DOCKER_HOST="$PRIVATE_DOCKERD_SOCK" "$DOCKER" network prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
      if ((waited >= PRIVATE_DOCKERD_STOP_TIMEOUT_S)); then
        _pd_say "dockerd ($pid) still running after ${PRIVATE_DOCKERD_STOP_TIMEOUT_S} s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        # Its containerd (and any shim) are in its process group (setsid above).
        kill -KILL -- "-$pid" 2>/dev/null || true
        break
      fi
      sleep 1; waited=$((waited + 1))
    done
  fi
  # A daemon that died leaves its overlay and netns mounts behind; deepest first.
  for m in $(awk -v d="$PRIVATE_DOCKERD_DATA" -v r="$PRIVATE_DOCKERD_RUN" \
      'index($2, d) == 1 || index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  for d in /sys/fs/cgroup/*/"$PRIVATE_DOCKERD_CGROUP" /sys/fs/cgroup/"$PRIVATE_DOCKERD_CGROUP"; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$PRIVATE_DOCKERD_RUN"
  rmdir /run/raftkv-docker 2>/dev/null || true
  [ -n "$pid" ] && _pd_say "dockerd stopped"
  return 0
}
