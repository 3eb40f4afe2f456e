#!/usr/bin/env bash
# Runs the benchmarks of mcpd against raw DuckDB on the same data and prints
# the figures. Usage: bench/run.sh [count]   (default 3 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
go test -run '^$' -bench 'BenchmarkIngestCSV|BenchmarkQuerySQL' -benchtime 3x -count "$count" -timeout 60m ./mcpd/ | tee /dev/stderr |
  awk '/^Benchmark/ {
    name=$1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i++) if ($(i+1) ~ /rows\/s|MB\/s|p50-ms/) { sum[name" "$(i+1)] += $i; n[name" "$(i+1)]++ }
  }
  END {
    print "\nmeans over runs:"
    for (k in sum) printf "  %-55s %12.2f\n", k, sum[k]/n[k]
  }' | sort
