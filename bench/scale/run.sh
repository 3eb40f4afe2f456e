#!/usr/bin/env bash
# The harness of "a million vectors on one machine: bounded memory, restart
# in seconds": bench/vector/run.sh (lakehouse's vector index against hnswlib
# compiled for this CPU, every phase in a process of its own) at each size,
# 100k and 1M x 384-d by default. For each: build time, peak RSS during the
# build, RSS when serving, open time (snapshot plus log replay, through the
# public API, until the first search answers), recall@10 and single-thread
# queries per second at ef 32, 64 and 128, and where every byte of the
# reopened index goes. The tables go to stdout and to $OUT/scale.md.
#
# 1M takes about an hour on the 2-core machine (brute-force truth, then two
# single-threaded builds); run it under nohup and keep other heavy work off
# the machine meanwhile (the load average is printed before and after).
#
# Usage: bench/scale/run.sh [sizes, default "100000 1000000"] [-- flags of bench/vector, e.g. -dim 384]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-${TMPDIR:-/tmp}/lakehouse-scale-bench}
mkdir -p "$out"
sizes=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do sizes+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)

: >"$out/scale.md"
for n in "${sizes[@]}"; do
  echo "== n=$n: $(date -u +%FT%TZ), $(uptime)" >&2
  OUT="$out/n$n" bench/vector/run.sh -n "$n" "$@"
  { echo "### n = $n"; echo; cat "$out/n$n/table.md"; echo; } >>"$out/scale.md"
done
cat "$out/scale.md"
