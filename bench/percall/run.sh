#!/usr/bin/env bash
# Per-call overhead: p50/p90/p99 latency and server CPU per call of
# `SELECT 42` through mcpd's query_sql over stdio and over streamable HTTP,
# and through the query tools of two Node SQLite servers over stdio (npm
# @bytebase/dbhub, and sqlite-server.mjs here: the official TypeScript SDK
# on node:sqlite). Real server processes, one client (go-sdk), one call in
# flight, the sides rotated round by round. With Linux perf installed, perf
# then records the mcpd processes (DuckDB's C++ included).
#
# Then where mcpd's time goes, from mcpd's own code through Go's tooling: a
# CPU profile of mcpd's BenchmarkQuerySQL/select42 (go test -cpuprofile;
# query_sql through an in-memory session to mcpd's newServer, alternating
# with the same statement on raw DuckDB), once with -benchtime 1x and once
# with $PROFILE_CALLS (default 20000) calls, and the difference of the two
# by component, in µs per call (bench/percall/profile.go): the benchmark's
# setup, a 1M-row CSV and its ingest, drops out. The profiles and the test
# binary stay in $PROFILE_DIR (default bench/out/percall, which git
# ignores) for go tool pprof, as does perf's data for perf report. About 5
# minutes on the 2-core machine.
#
# Node 22 and the npm packages are installed on first use (see
# bench/context/node.sh); the first run needs the npm registry.
#
# Usage: bench/percall/run.sh [flags of go run ./bench/percall, e.g. -rounds 6 -batch 500 -perf-calls 5000 -sides mcpd-stdio,mini-sqlite -sql "SELECT 42"]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/context/node.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mcpd" ./mcpd
go build -o "$work/percall" ./bench/percall
out=${PROFILE_DIR:-bench/out/percall}
calls=${PROFILE_CALLS:-20000}
mkdir -p "$out"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($1)"; }
perf=()
if command -v perf >/dev/null; then perf=(-perf "$out"); fi
load "before the latency run"
"$work/percall" -mcpd "$work/mcpd" -node "$node" -npm "$npm_dir" -mini bench/percall/sqlite-server.mjs "${perf[@]}" "$@"

echo
load "before the profiles"
bench='BenchmarkQuerySQL/select42$'
go test ./mcpd -run '^$' -bench "$bench" -benchtime 1x -cpuprofile "$out/setup.cpu.pprof" -o "$out/mcpd.test"
go test ./mcpd -run '^$' -bench "$bench" -benchtime "${calls}x" -cpuprofile "$out/cpu.pprof" -o "$out/mcpd.test"
load "after the profiles"
"$work/percall" -pprof "$out/cpu.pprof" -pprof-base "$out/setup.cpu.pprof" -pprof-bin "$out/mcpd.test" -pprof-calls "$calls"
