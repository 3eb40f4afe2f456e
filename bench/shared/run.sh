#!/usr/bin/env bash
# Measures the datasets of shared mode (files in a bucket of a real
# versitygw on loopback, read through the node's cache, cold and warm)
# against local mode (files in the data directory), in the same run: the
# ingest of a 1M-row CSV and a GROUP BY over it, the sides alternated round
# by round. Needs versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0).
#
# Usage: bench/shared/run.sh [rounds, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
go test -run '^$' -bench 'BenchmarkShared' -benchtime "${rounds}x" -timeout 60m ./bench/shared/
