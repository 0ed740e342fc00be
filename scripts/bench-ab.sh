#!/usr/bin/env bash
# make bench-ab A=<git ref>: builds the ref once into .cache/bench-ab/<commit> (git archive, npm ci,
# tsc) and runs bench/ab.ts: that build's members (A) against this checkout's (B), same machine,
# alternating rounds. Extra arguments go to bench/ab.ts (--rounds, --duration-ms, --connections).
set -euo pipefail
ref="${1:?usage: scripts/bench-ab.sh <git ref> [bench/ab.ts flags]}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
commit="$(git -C "$root" rev-parse --verify "${ref}^{commit}")" || { echo "bench-ab: unknown git ref '$ref'" >&2; exit 2; }
dir="$root/.cache/bench-ab/$commit"
if [[ ! -x "$dir/bin/raftkv" || ! -f "$dir/.built" ]]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  git -C "$root" archive "$commit" | tar -x -C "$dir"
  (cd "$dir" && npm ci --no-audit --no-fund >/dev/null && npx tsc -p tsconfig.json)
  touch "$dir/.built"
fi
echo "bench-ab: A = $ref ($commit), B = this checkout ($(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ', with local changes'))"
exec node "$root/dist/bench/ab.js" --a "$dir" "$@"
