#!/usr/bin/env bash
# Runs the Go benchmarks, each against its baseline measured in the same run
# (raw DuckDB, direct index search, an unobserved server, one fsync per
# write), and prints the mean of each figure over the runs. The vector index
# against hnswlib and the embedding quality have their own scripts:
# bench/vector/run.sh and bench/embedquality/run.sh.
# Usage: bench/run.sh [runs]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
{
  go test -run '^$' -bench 'BenchmarkIngestCSV' -benchtime 3x -count "$runs" -timeout 60m ./mcpd/
  go test -run '^$' -bench 'BenchmarkQuerySQL' -benchtime 200x -count "$runs" -timeout 60m ./mcpd/
  go test -run '^$' -bench 'BenchmarkSearchVectors' -benchtime 2000x -count "$runs" -timeout 60m ./mcpd/
  go test -run '^$' -bench 'BenchmarkMatrixSearch' -benchtime 1000x -count "$runs" -timeout 60m ./mcpd/
  go test -run '^$' -bench 'BenchmarkObserverOverhead' -benchtime 5000x -count "$runs" -timeout 60m ./mcpd/
  go test -run '^$' -bench 'BenchmarkObserveCost' -benchtime 200000x -count "$runs" ./tools/
  go test -run '^$' -bench . -benchtime 1x -count "$runs" -timeout 60m ./backends/pathway/
  go test -run '^$' -bench . -count "$runs" -timeout 60m ./backends/eventlog/
} | tee /dev/stderr | awk '
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i++) if ($(i+1) ~ /^(rows\/s|MB\/s|p50-ms|p50-µs|[a-z_]+-p50-ms|[a-z]+-p50-µs|overhead-µs|overhead-%|acked\/s|s\/open|s\/replay)$/) { sum[name " " $(i+1)] += $i; n[name " " $(i+1)]++ }
  }
  END { for (k in sum) printf "%-60s %12.2f\n", k, sum[k] / n[k] }' | sort
