#!/usr/bin/env bash
# Measures the manifest and queries of a dataset after many small appends
# (1,000 appends of 10 rows by default) with the working tree and with a
# baseline commit, in the same run: builds bench/manifest against both, runs
# the two alternately, and prints a table of the mean of each figure.
#
# The baseline is a temporary git worktree of $BASE (default HEAD, i.e. the
# code before uncommitted changes; once the manifest log is committed, set
# BASE to the commit before it). The program is copied into that worktree, so
# it must build against both sides.
#
# Usage: bench/manifest/run.sh [runs per side, default 2] [flags of the program, e.g. -appends 500]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-2}
shift || true
base=${BASE:-HEAD}

work=$(mktemp -d "${TMPDIR:-/tmp}/manifest-bench.XXXXXX")
tree="$work/tree"
cleanup() {
  git worktree remove --force "$tree" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rev=$(git rev-parse --short "$base")
git worktree add --quiet --detach "$tree" "$rev"
mkdir -p "$tree/bench/manifest"
cp bench/manifest/main.go "$tree/bench/manifest/main.go"
(cd "$tree" && go build -o "$work/baseline" ./bench/manifest)
go build -o "$work/lakehouse" ./bench/manifest

for i in $(seq "$runs"); do
  echo "run $i of $runs" >&2
  "$work/baseline" -label "baseline ($rev)" "$@" | tee -a "$work/results.jsonl" >&2
  "$work/lakehouse" -label lakehouse "$@" | tee -a "$work/results.jsonl" >&2
done
"$work/lakehouse" -report "$work/results.jsonl"
