#!/usr/bin/env bash
# Measures Engine.Export against DuckDB writing the same result itself
# (COPY ... TO a file), in the same run: a 10M-row result in CSV, Parquet
# and Arrow IPC, one process per measurement (so each has its own peak
# RSS), the two sides alternated over the rounds (which goes first swaps
# every round), same threads and memory limit. Arrow's baseline is COPY to
# Parquet: DuckDB has no Arrow writer. When the duckdb_arrow build works,
# duckdb-go's tagged Arrow API is measured too, for comparison only; and the
# same export through mcpd's REST gateway (POST /v1/sql with Accept) over
# loopback, which adds the HTTP stream.
#
# Usage: bench/export/run.sh [rounds, default 3] [rows, default 10000000] [threads, default 0 = all CPUs]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
rows=${2:-10000000}
threads=${3:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/export" ./bench/export
go build -o "$work/mcpd" ./mcpd
tagged=
if go build -tags duckdb_arrow -o "$work/export-arrow" ./bench/export 2>/dev/null; then
  tagged="$work/export-arrow"
fi

one() { # side format round
  "$work/export" -side "$1" -format "$2" -round "$3" -rows "$rows" -threads "$threads" -dir "$work" -mcpd "$work/mcpd" | tee -a "$work/results.jsonl" >&2
}
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  for f in csv parquet arrow; do
    if (( r % 2 )); then one copy "$f" "$r"; one export "$f" "$r"; one gateway "$f" "$r"; else one gateway "$f" "$r"; one export "$f" "$r"; one copy "$f" "$r"; fi
  done
  if [[ -n $tagged ]]; then
    "$tagged" -side arrowapi -format arrow -round "$r" -rows "$rows" -threads "$threads" -dir "$work" | tee -a "$work/results.jsonl" >&2
  fi
done
"$work/export" -report "$work/results.jsonl"
