#!/usr/bin/env bash
# benches/sync.sh — initial sync of N ConfigMaps into an empty test cluster: `nomos sync --once`
# against `kubectl apply --server-side -R -f` of the same files against the same kind of server
# (a fresh nomos-testcluster each), in one run; then a resync with nothing changed (writes are
# counted from the cluster's resourceVersion, which every write bumps).
#
# Usage: benches/sync.sh [NOMOS_BIN] [TESTCLUSTER_BIN]   (defaults: target/release/…)
# Environment: OBJECTS (default 10000), NAMESPACES (default 10), WORK (scratch dir).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
nomos="${1:-$repo/target/release/nomos}"
tc="${2:-$repo/target/release/nomos-testcluster}"
objects="${OBJECTS:-10000}"
namespaces="${NAMESPACES:-10}"
work="${WORK:-$(mktemp -d)}"
mkdir -p "$work/src"

# The repository: N ConfigMaps in NAMESPACES namespaces, 100 per file, plus the Namespaces in a
# file kubectl reads first (it applies files in name order and does not order by kind).
python3 - "$work/src" "$objects" "$namespaces" <<'PY'
import sys, os
out, n, nss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(os.path.join(out, "00-namespaces.yaml"), "w") as f:
    for i in range(nss):
        f.write(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{i}\n")
per = 100
for start in range(0, n, per):
    with open(os.path.join(out, f"cm-{start:06d}.yaml"), "w") as f:
        for i in range(start, min(n, start + per)):
            f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench-{i % nss}\n  labels:\n    app: bench\ndata:\n  index: \"{i}\"\n  payload: \"{'x' * 64}\"\n")
PY

start_cluster() { # name -> prints kubeconfig path; pid in $work/$1.pid
  "$tc" --name "$1" --kubeconfig "$work/$1.kubeconfig" > "$work/$1.out" 2>&1 &
  echo $! > "$work/$1.pid"
  for _ in $(seq 50); do [ -s "$work/$1.out" ] && break; sleep 0.1; done
}
stop_cluster() { kill "$(cat "$work/$1.pid")" 2>/dev/null || true; }
trap 'stop_cluster nomos; stop_cluster kubectl' EXIT
rv() { kubectl --kubeconfig "$1" get --raw '/api/v1/configmaps?limit=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])'; }
now() { date +%s.%N; }

start_cluster nomos
start_cluster kubectl
kc_n="$work/nomos.kubeconfig"; kc_k="$work/kubectl.kubeconfig"

t0=$(now); "$nomos" sync --once --path "$work/src" --source-format unstructured --kubeconfig "$kc_n" > "$work/sync1.out"; t1=$(now)
rv1=$(rv "$kc_n")
t2=$(now); "$nomos" sync --once --path "$work/src" --source-format unstructured --kubeconfig "$kc_n" > "$work/sync2.out"; t3=$(now)
rv2=$(rv "$kc_n")
t4=$(now); kubectl --kubeconfig "$kc_k" apply --server-side -R -f "$work/src" > /dev/null; t5=$(now)

n_nomos=$(kubectl --kubeconfig "$kc_n" get configmaps -A -l app=bench --no-headers | wc -l)
n_kubectl=$(kubectl --kubeconfig "$kc_k" get configmaps -A -l app=bench --no-headers | wc -l)
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$rv1" "$rv2" "$objects" "$n_nomos" "$n_kubectl" <<'PY'
import sys
t0,t1,t2,t3,t4,t5 = map(float, sys.argv[1:7]); rv1, rv2, n, nn, nk = map(int, sys.argv[7:12])
sync, resync, kubectl = t1-t0, t3-t2, t5-t4
print(f"objects: {n} ConfigMaps (+ namespaces); present after sync: nomos {nn}, kubectl {nk}")
print(f"nomos sync --once (initial):          {sync:8.3f} s")
print(f"kubectl apply --server-side -R -f:    {kubectl:8.3f} s")
print(f"ratio kubectl / nomos:                {kubectl/sync:8.1f}x")
print(f"nomos sync --once (nothing changed):  {resync:8.3f} s, writes: {rv2-rv1}")
PY
cat "$work/sync1.out" "$work/sync2.out"
