#!/usr/bin/env bash
# Measures the manifest and queries of a dataset after many small appends
# (1,000 appends of 10 rows by default) with the working tree and with a
# baseline commit, in the same run: builds bench/manifest against both, runs
# the two alternately, and prints a table of the mean of each figure.
#
# The baseline is $BASE, built as bench/baseline.sh says.
#
# Usage: bench/manifest/run.sh [runs per side, default 2] [flags of the program, e.g. -appends 500]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-2}
shift || true
bench=manifest
. bench/baseline.sh

for i in $(seq "$runs"); do
  echo "run $i of $runs" >&2
  "$work/baseline" -label "baseline ($rev)" "$@" | tee -a "$work/results.jsonl" >&2
  "$work/lakehouse" -label lakehouse "$@" | tee -a "$work/results.jsonl" >&2
done
"$work/lakehouse" -report "$work/results.jsonl"
