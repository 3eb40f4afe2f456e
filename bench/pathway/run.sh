#!/usr/bin/env bash
# The trace memory at scale: adds n generated traces (default 100000) and
# waits for the search index, then opens the memory again in a fresh
# process (its index on disk) and times the open, the first query search
# and the index catching up; peak RSS and CPU of each process.
#
# Usage: bench/pathway/run.sh [n]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/pathway" ./bench/pathway
echo "load: $(uptime)" >&2
"$work/pathway" -phase build -dir "$work/data" -n "$n"
du -sh "$work/data" "$work/data"/* 2>/dev/null >&2 || true
"$work/pathway" -phase open -dir "$work/data"
echo "load: $(uptime)" >&2
