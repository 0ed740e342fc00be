#!/usr/bin/env bash
# Installs the Debian packages the test tiers use (etcd for the benchmark and the control
# plane, prometheus and chromium for the observability checks, iproute2/iptables for
# network-namespace partitions, python3-venv for schemathesis in `make test-api`). Skips apt entirely when everything is already present.
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
if ((${#need[@]} == 0)); then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: need root to install: ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
