#!/usr/bin/env bash
# The context bill side by side: the bytes of initialize, tools/list and one
# typical search or query answer (the whole CallToolResult: text content and
# structuredContent) of mcpd (and of mcpd again with fence_data on, as it
# serves HTTP by default), of the reference memory server (npm
# @modelcontextprotocol/server-memory), of DBHub (npm @bytebase/dbhub, two
# tools, SQLite through node:sqlite) and of a 60-line two-tool SQLite server
# (bench/percall/sqlite-server.mjs), all over stdio with go-sdk's client, on
# comparable data: 50 traces / memory entities / vector items and a
# 1,000-row table of which 100 rows are queried. Prints a markdown table.
# It builds mcpd and runs each server with a fresh data directory, removed
# after. Node 22 and the npm packages are installed on first use (see
# node.sh); the first run needs the npm registry, later ones no network.
#
# Usage: bench/context/run.sh [flags of go run ./bench/context, e.g. -traces 50 -query "..." -v]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/context/node.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mcpd" ./mcpd
go build -o "$work/context" ./bench/context
"$work/context" -mcpd "$work/mcpd" -node "$node" -npm "$npm_dir" -mini bench/percall/sqlite-server.mjs "$@"
