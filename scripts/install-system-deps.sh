#!/usr/bin/env bash
# Installs the Debian packages the test tiers use (etcd for the benchmark and the control
# plane, prometheus and chromium for the observability checks, iproute2/iptables for
# network-namespace partitions, python3-venv for schemathesis in `make test-api`, docker.io and
# debootstrap to build the image without a registry). Skips apt entirely when everything is
# already present. Installing docker.io starts no daemon here (no init system);
# scripts/lib/private-dockerd.sh starts one with safe flags when needed.
set -euo pipefail
need=()
command -v zsh >/dev/null || need+=(zsh)  # raftctl completion zsh test
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v unshare >/dev/null || need+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v debootstrap >/dev/null || need+=(debootstrap)
# Debian's docker client (/usr/bin/docker) is the one used: it builds with BuildKit without the
# buildx plugin.
need_norec=()
{ command -v dockerd >/dev/null && [ -x /usr/bin/docker ]; } || need_norec+=(docker.io)
if ((${#need[@]} + ${#need_norec[@]} == 0)); then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: need root to install: ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]} ${need_norec[*]}"
apt-get update -qq
if ((${#need[@]} > 0)); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ((${#need_norec[@]} > 0)); then
  # A docker.io install must not start the system's dockerd with its default flags (FORWARD
  # policy DROP, docker0): services stay stopped while it installs (policy-rc.d, also obeyed by
  # deb-systemd-invoke), and --no-install-recommends leaves out cgroupfs-mount and apparmor.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_norec[@]}" >/dev/null
fi
