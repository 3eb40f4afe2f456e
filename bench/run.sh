#!/usr/bin/env bash
# Runs mcpd's benchmarks, each against raw DuckDB doing the same work in the
# same run, and prints the mean of each figure over the runs.
# Usage: bench/run.sh [runs]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
{
  go test -run '^$' -bench 'BenchmarkIngestCSV' -benchtime 3x -count "$runs" -timeout 60m ./mcpd/
  go test -run '^$' -bench 'BenchmarkQuerySQL' -benchtime 200x -count "$runs" -timeout 60m ./mcpd/
} | tee /dev/stderr | awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i++) if ($(i+1) ~ /^(rows\/s|MB\/s|p50-ms)$/) { sum[name " " $(i+1)] += $i; n[name " " $(i+1)]++ }
  }
  END { for (k in sum) printf "%-55s %12.2f\n", k, sum[k] / n[k] }' | sort
