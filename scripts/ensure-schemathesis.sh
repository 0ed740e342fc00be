#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI fuzzer `make test-api` runs) into a venv under .cache/,
# once per pinned version; later runs only check it is there. PyPI through pip, nothing else.
set -euo pipefail
VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.cache/schemathesis-$VERSION"
if [[ -x "$VENV/bin/st" ]] && "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "$VENV/bin/st"
  exit 0
fi
command -v python3 >/dev/null || { echo "ensure-schemathesis: python3 is required (apt-get install python3 python3-venv)" >&2; exit 1; }
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
# pip honours the machine's CA bundle when one is named (registry proxies).
if [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -z "${PIP_CERT:-}" ]]; then export PIP_CERT="$NODE_EXTRA_CA_CERTS"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
"$VENV/bin/st" --version >&2
echo "$VENV/bin/st"
