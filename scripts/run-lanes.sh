#!/usr/bin/env bash
# Runs make targets side by side, each in its own process group, its output prefixed live with
# the target's name and kept in .cache/lanes/<target>.log; waits for every one (a failure in one
# lane does not cut the others short: each tier is bounded on its own) and exits non-zero if any
# failed, naming which. make test uses it for tiers that mostly wait (the operator tier waits on
# kube-apiserver and reconcile passes) next to a tier that mostly computes (chaos), so the two
# 2-core-machine budgets overlap instead of adding up.
#   usage: scripts/run-lanes.sh [VAR=value...] LANE [LANE...]
#   LANE: a target, or targets joined by commas, run one after the other in that lane
#   (test-operator,test-api); VAR=value goes to every lane's make.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
vars=() targets=()
for a in "$@"; do
  case "$a" in
    *=*) vars+=("$a") ;;
    *) targets+=("$a") ;;
  esac
done
if [ "${#targets[@]}" -lt 1 ]; then
  echo "usage: scripts/run-lanes.sh [VAR=value...] LANE [LANE...]   (LANE: target[,target...])" >&2
  exit 2
fi
logs="$repo/.cache/lanes"
mkdir -p "$logs"
declare -a pgids=() names=()
stop_all() {
  for g in "${pgids[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM

for target in "${targets[@]}"; do
  [[ "$target" =~ ^[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*$ ]] || { echo "run-lanes: not a lane: $target" >&2; stop_all; exit 2; }
  lane_targets="${target//,/ }"
  log="$logs/$target.log"
  : >"$log"
  rm -f "$logs/$target.status"
  # setsid: the lane and everything it starts share one process group, so an interrupt stops it
  # whole; sed -u keeps the prefixed copy live.
  setsid bash -c "t0=\$(date +%s); cd '$repo' && make --no-print-directory ${vars[*]:-} $lane_targets 2>&1 | tee '$log' | sed -u 's/^/[$target] /'; code=\${PIPESTATUS[0]}; echo \"\$code \$(( \$(date +%s) - t0 ))\" >'$logs/$target.status'; exit \$code" &
  pgids+=("$!")
  names+=("$target")
done

failed=()
for i in "${!pgids[@]}"; do
  code=0
  wait "${pgids[$i]}" || code=$?
  secs="?"
  [ -f "$logs/${names[$i]}.status" ] && secs="$(cut -d' ' -f2 "$logs/${names[$i]}.status")"
  if [ "$code" = 0 ]; then
    echo "run-lanes: ${names[$i]} passed in ${secs} s (log: .cache/lanes/${names[$i]}.log)"
  else
    echo "run-lanes: ${names[$i]} FAILED (exit $code) after ${secs} s (log: .cache/lanes/${names[$i]}.log)"
    failed+=("${names[$i]}")
  fi
done
trap - INT TERM
if [ "${#failed[@]}" -gt 0 ]; then
  echo "run-lanes: failed: ${failed[*]}" >&2
  exit 1
fi
