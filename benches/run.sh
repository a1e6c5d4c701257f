#!/usr/bin/env bash
# benches/run.sh — time `nomos vet` / `nomos hydrate` against `kpt fn source` and plain `cat`
# on the same generated repositories, in one run.
#
# Usage:
#   benches/run.sh [NOMOS_BIN]          # default NOMOS_BIN: <repo>/target/release/nomos
#
# If NOMOS_BIN does not exist, only the baselines (kpt fn source, cat) are measured.
#
# Trees (generated with nomos-gen from this crate, deterministic):
#   hier-<size>   hierarchical, for each size in $SIZES          (default "1k 10k"; add 100k)
#   unstr-<size>  unstructured, for each size in $UNSTRUCTURED_SIZES (default "10k")
#   kube-prometheus  the real-world unstructured tree ../shared/realworld/kube-prometheus/manifests
#
# Commands timed per tree (hyperfine, same trees, same run):
#   nomos vet --path DIR [--source-format unstructured] $NOMOS_VET_FLAGS
#   nomos hydrate --path DIR --output OUT [--source-format unstructured] $NOMOS_HYDRATE_FLAGS
#   kpt fn source DIR > /dev/null
#   find DIR -name '*.yaml' -print0 | xargs -0 cat > /dev/null
# plus the peak memory ("Maximum resident set size" of /usr/bin/time -v) of nomos vet and kpt.
#
# Results: $RESULTS (default /tmp/nomos-bench-results): <tree>.json / <tree>.md (hyperfine
# exports), summary.md and summary.json (means, ratios kpt/nomos and cat/nomos, peak RSS).
# The goal tracked here: `nomos vet` at least 4x faster than `kpt fn source` on hier-10k.
#
# Environment: SIZES, UNSTRUCTURED_SIZES, RUNS (default 10; 3 for 100k trees), WARMUP (default 2),
#   RESULTS, WORK (scratch dir for trees; default a fresh mktemp dir, removed unless KEEP=1),
#   NOMOS_GEN (prebuilt nomos-gen; otherwise built with cargo), NOMOS_VET_FLAGS,
#   NOMOS_HYDRATE_FLAGS, KUBE_PROMETHEUS (path; empty string to skip), KPT (default kpt).
#
# Tools: hyperfine, GNU time (/usr/bin/time) and jq are NOT assumed to be present: when missing
# this script installs them with `apt-get install -y hyperfine time jq` (Debian packages; needs
# root). kpt is expected at /usr/bin/kpt (preinstalled on the project machines).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
nomos="${1:-$repo/target/release/nomos}"
sizes="${SIZES:-1k 10k}"
unstructured_sizes="${UNSTRUCTURED_SIZES:-10k}"
warmup="${WARMUP:-2}"
results="${RESULTS:-/tmp/nomos-bench-results}"
kpt="${KPT:-kpt}"
kube_prometheus="${KUBE_PROMETHEUS-$repo/../shared/realworld/kube-prometheus/manifests}"

log() { printf '==> %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v "$kpt" >/dev/null 2>&1 || { echo "kpt not found (set KPT=...)" >&2; exit 1; }

have_nomos=1
if [ ! -x "$nomos" ]; then
  log "no nomos binary at $nomos: measuring baselines (kpt, cat) only"
  have_nomos=0
fi

# --- generator ---------------------------------------------------------------------------
if [ -z "${NOMOS_GEN:-}" ]; then
  log "building nomos-gen"
  (cd "$repo" && cargo build --release --quiet -p nomos-benches --bin nomos-gen)
  NOMOS_GEN="${CARGO_TARGET_DIR:-$repo/target}/release/nomos-gen"
fi

if [ -n "${WORK:-}" ]; then
  work="$WORK"
  mkdir -p "$work"
else
  work="$(mktemp -d /tmp/nomos-bench.XXXXXX)"
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$results"

# tree list: name|path|format
trees=()
for s in $sizes; do
  "$NOMOS_GEN" hierarchical --preset "$s" --out "$work/trees/hier-$s" --force >&2
  trees+=("hier-$s|$work/trees/hier-$s|hierarchy")
done
for s in $unstructured_sizes; do
  "$NOMOS_GEN" unstructured --preset "$s" --out "$work/trees/unstr-$s" --force >&2
  trees+=("unstr-$s|$work/trees/unstr-$s|unstructured")
done
if [ -n "$kube_prometheus" ] && [ -d "$kube_prometheus" ]; then
  trees+=("kube-prometheus|$(cd "$kube_prometheus" && pwd)|unstructured")
else
  log "kube-prometheus tree not found, skipped"
fi

# peak RSS in KiB of a command (run once, output discarded)
peak_rss() {
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || true
  awk -F': *' '/Maximum resident set size/ {print $2}' "$work/time.txt"
}

summary_json="$results/summary.json"
echo '[]' >"$summary_json"

for entry in "${trees[@]}"; do
  IFS='|' read -r name path format <<<"$entry"
  out="$work/hydrated-$name"
  files=$(find "$path" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | wc -l)
  bytes=$(find "$path" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print0 | xargs -0 cat | wc -c)
  runs="${RUNS:-10}"
  case "$name" in *100k*) runs="${RUNS:-3}" ;; esac
  log "$name: $files files, $bytes bytes, $runs runs"

  fmt_flag=()
  [ "$format" = unstructured ] && fmt_flag=(--source-format unstructured)
  # shellcheck disable=SC2206 # word splitting of the extra flags is intended
  vet=("$nomos" vet --path "$path" "${fmt_flag[@]}" ${NOMOS_VET_FLAGS:-})
  # shellcheck disable=SC2206
  hydrate=("$nomos" hydrate --path "$path" --output "$out" "${fmt_flag[@]}" ${NOMOS_HYDRATE_FLAGS:-})

  cmds=()
  vet_rss="" kpt_rss=""
  if [ "$have_nomos" = 1 ]; then
    if ! "${vet[@]}" >"$work/vet.txt" 2>&1; then
      log "WARNING: nomos vet reported errors on $name (timed anyway):"
      head -n 20 "$work/vet.txt" >&2
    fi
    vet_rss=$(peak_rss "${vet[@]}")
    cmds+=(-n "nomos vet" "${vet[*]} >/dev/null 2>&1")
    cmds+=(-n "nomos hydrate" "${hydrate[*]} >/dev/null 2>&1")
  fi
  kpt_rss=$(peak_rss "$kpt" fn source "$path")
  cmds+=(-n "kpt fn source" "$kpt fn source '$path' > /dev/null")
  cmds+=(-n "cat" "find '$path' -name '*.yaml' -print0 | xargs -0 cat > /dev/null")

  # -i: a failing nomos (e.g. validation errors) must not abort the whole comparison.
  hyperfine -i --warmup "$warmup" --runs "$runs" --prepare "rm -rf '$out'" \
    --export-json "$results/$name.json" --export-markdown "$results/$name.md" \
    "${cmds[@]}" >&2

  jq --arg name "$name" --arg format "$format" --argjson files "$files" --argjson bytes "$bytes" \
    --arg vet_rss "$vet_rss" --arg kpt_rss "$kpt_rss" \
    --slurpfile r "$results/$name.json" '
    . + [{
      tree: $name, format: $format, files: $files, bytes: $bytes,
      mean_s: ($r[0].results | map({key: .command, value: .mean}) | from_entries),
      stddev_s: ($r[0].results | map({key: .command, value: .stddev}) | from_entries),
      peak_rss_kib: {"nomos vet": ($vet_rss | tonumber? // null), "kpt fn source": ($kpt_rss | tonumber? // null)}
    }]' "$summary_json" >"$summary_json.tmp" && mv "$summary_json.tmp" "$summary_json"
done

# --- summary -----------------------------------------------------------------------------
jq -r '
  def ms: if . == null then "-" else (. * 1000 | . * 10 | round / 10 | tostring) end;
  def ratio(a; b): if a == null or b == null or b == 0 then "-" else ((a / b) * 100 | round / 100 | tostring) + "x" end;
  def mib: if . == null then "-" else (. / 1024 | . * 10 | round / 10 | tostring) end;
  "| tree | files | MiB | nomos vet ms | nomos hydrate ms | kpt fn source ms | cat ms | kpt/vet | cat/vet | kpt/hydrate | vet RSS MiB | kpt RSS MiB |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  (.[] | .mean_s as $m |
    "| \(.tree) | \(.files) | \(.bytes / 1048576 | . * 10 | round / 10) | \($m["nomos vet"] | ms) | \($m["nomos hydrate"] | ms) | \($m["kpt fn source"] | ms) | \($m["cat"] | ms) | \(ratio($m["kpt fn source"]; $m["nomos vet"])) | \(ratio($m["cat"]; $m["nomos vet"])) | \(ratio($m["kpt fn source"]; $m["nomos hydrate"])) | \(.peak_rss_kib["nomos vet"] | mib) | \(.peak_rss_kib["kpt fn source"] | mib) |")
' "$summary_json" | tee "$results/summary.md"

if [ "$have_nomos" = 1 ]; then
  jq -r '.[] | select(.tree == "hier-10k") | .mean_s as $m |
    if ($m["kpt fn source"] / $m["nomos vet"]) >= 4
    then "goal met: nomos vet is \($m["kpt fn source"] / $m["nomos vet"] * 100 | round / 100)x faster than kpt fn source on hier-10k (target >= 4x)"
    else "goal NOT met: nomos vet is only \($m["kpt fn source"] / $m["nomos vet"] * 100 | round / 100)x faster than kpt fn source on hier-10k (target >= 4x)"
    end' "$summary_json"
fi
log "results in $results"
