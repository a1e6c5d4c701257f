#!/usr/bin/env bash
# benches/syncer-scale.sh — nomos-syncer resident memory and convergence time, against
# nomos-testcluster in another process (so the server's memory is not counted):
#   1. one cluster, OBJECTS ConfigMaps (default 10000): time to converge, syncer VmRSS after it;
#   2. CLUSTERS clusters (default 50) × PER_CLUSTER ConfigMaps (default 1000) in one syncer
#      process: time until every cluster reports synced, syncer VmRSS.
# Usage: benches/syncer-scale.sh [SYNCER_BIN] [TESTCLUSTER_BIN] (defaults: target/release/…)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
syncer="${1:-$repo/target/release/nomos-syncer}"
tc="${2:-$repo/target/release/nomos-testcluster}"
objects="${OBJECTS:-10000}"; clusters="${CLUSTERS:-50}"; per="${PER_CLUSTER:-1000}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

gen() { # dir count
  python3 - "$1" "$2" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2]); os.makedirs(out, exist_ok=True)
nss = 10
with open(os.path.join(out, "00-namespaces.yaml"), "w") as f:
    for i in range(nss): f.write(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{i}\n")
for s in range(0, n, 100):
    with open(os.path.join(out, f"cm-{s:06d}.yaml"), "w") as f:
        for i in range(s, min(n, s + 100)):
            f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench-{i % nss}\ndata:\n  index: \"{i}\"\n  payload: \"{'x' * 64}\"\n")
PY
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }
wait_synced() { # log count timeout_s -> prints seconds waited
  local log=$1 want=$2 t0; t0=$(now)
  while :; do
    n=$(grep 'synced=true' "$log" 2>/dev/null | grep -o ' cluster=[^ ]*' | sort -u | wc -l || true)
    [ "${n:-0}" -ge "$want" ] && break
    if python3 -c "import sys; sys.exit(0 if $(now)-$t0 > $3 else 1)"; then echo "timeout waiting for $want synced clusters ($n)" >&2; return 1; fi
    sleep 0.05
  done
  python3 -c "print(f'{$(now)-$t0:.2f}')"
}

# 1. one cluster, N objects.
gen "$work/one" "$objects"
"$tc" --kubeconfig "$work/one.kc" > "$work/tc1.out" 2>&1 & pids+=($!)
sleep 0.5
"$syncer" --source "$work/one" --source-format unstructured --kubeconfig "$work/one.kc" --log-format text > "$work/s1.log" 2>&1 & spid=$!; pids+=($spid)
t1=$(wait_synced "$work/s1.log" 1 120)
sleep 1
echo "one cluster, $objects ConfigMaps: converged in ${t1} s (including start-up); syncer VmRSS $(rss_mib "$spid") MiB"
kill "$spid"

# 2. many clusters.
gen "$work/many" "$per"
"$tc" --clusters "$clusters" --kubeconfig "$work/many.kc" > "$work/tc2.out" 2>&1 & pids+=($!)
sleep 1
"$syncer" --source "$work/many" --source-format unstructured --kubeconfig "$work/many.kc" --all-contexts --log-format text > "$work/s2.log" 2>&1 & spid=$!; pids+=($spid)
t2=$(wait_synced "$work/s2.log" "$clusters" 300)
sleep 1
echo "$clusters clusters x $per ConfigMaps: all synced in ${t2} s (including start-up); syncer VmRSS $(rss_mib "$spid") MiB"
