#!/usr/bin/env bash
# Measures index_dataset over one large dataset with the working tree and
# with a baseline commit, in the same run: builds bench/indexdataset against
# both, runs the two alternately, and prints a table of every run.
#
# The baseline is $BASE, built as bench/baseline.sh says. Both sides index
# with an id column (the baseline needs one); the working tree is also run
# without one.
#
# Usage: bench/indexdataset/run.sh [runs per side, default 1] [rows, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-1}
rows=${2:-1000000}
bench=indexdataset
. bench/baseline.sh

for i in $(seq "$runs"); do
  echo "run $i of $runs" >&2
  "$work/baseline" -label "baseline ($rev)" -rows "$rows" | tee -a "$work/results.jsonl" >&2
  "$work/lakehouse" -label lakehouse -rows "$rows" | tee -a "$work/results.jsonl" >&2
  "$work/lakehouse" -label lakehouse -rows "$rows" -args '{"text_column":"body"}' | tee -a "$work/results.jsonl" >&2
done
"$work/lakehouse" -report "$work/results.jsonl"
