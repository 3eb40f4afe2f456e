#!/usr/bin/env bash
# Measures index_dataset over one large dataset with the working tree and
# with a baseline commit, in the same run: builds bench/indexdataset against
# both, runs the two alternately, and prints a table of every run.
#
# The baseline is a temporary git worktree of $BASE (default HEAD, i.e. the
# code before uncommitted changes; once the new pipeline is committed, set
# BASE to the commit before it). The program is copied into that worktree, so
# it must build against both sides. Both sides index with an id column (the
# baseline needs one); the working tree is also run without one.
#
# Usage: bench/indexdataset/run.sh [runs per side, default 1] [rows, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-1}
rows=${2:-1000000}
base=${BASE:-HEAD}

work=$(mktemp -d "${TMPDIR:-/tmp}/indexdataset-bench.XXXXXX")
tree="$work/tree"
cleanup() {
  git worktree remove --force "$tree" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rev=$(git rev-parse --short "$base")
git worktree add --quiet --detach "$tree" "$rev"
mkdir -p "$tree/bench/indexdataset"
cp bench/indexdataset/main.go "$tree/bench/indexdataset/main.go"
(cd "$tree" && go build -o "$work/baseline" ./bench/indexdataset)
go build -o "$work/lakehouse" ./bench/indexdataset

for i in $(seq "$runs"); do
  echo "run $i of $runs" >&2
  "$work/baseline" -label "baseline ($rev)" -rows "$rows" | tee -a "$work/results.jsonl" >&2
  "$work/lakehouse" -label lakehouse -rows "$rows" | tee -a "$work/results.jsonl" >&2
  "$work/lakehouse" -label lakehouse -rows "$rows" -args '{"text_column":"body"}' | tee -a "$work/results.jsonl" >&2
done
"$work/lakehouse" -report "$work/results.jsonl"
