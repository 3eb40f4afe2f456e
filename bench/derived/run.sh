#!/usr/bin/env bash
# Measures ingest_dataset with source.sql (a derived dataset made in one
# call) against DuckDB's own COPY (query) TO 'x.parquet' on the same data,
# in the same run: a GROUP BY over a 10M-row source (100 000 rows out) and a
# plain projection of all 10M rows, one process per measurement (so each
# has its own peak RSS), the two sides alternated over the rounds (which
# goes first swaps every round), same threads and memory limit.
#
# Usage: bench/derived/run.sh [rounds, default 3] [rows, default 10000000] [threads, default 0 = all CPUs]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
rows=${2:-10000000}
threads=${3:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/derived" ./bench/derived
"$work/derived" -side setup -rows "$rows" -threads "$threads" -dir "$work/data"

one() { # side query round
  "$work/derived" -side "$1" -query "$2" -round "$3" -threads "$threads" -dir "$work/data" | tee -a "$work/results.jsonl" >&2
}
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  for q in group project; do
    if (( r % 2 )); then one copy "$q" "$r"; one derived "$q" "$r"; else one derived "$q" "$r"; one copy "$q" "$r"; fi
  done
done
"$work/derived" -report "$work/results.jsonl"
