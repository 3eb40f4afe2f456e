#!/usr/bin/env bash
# Puts a mixed load on mcpd, over streamable HTTP (/mcp), over the REST
# gateway (POST /v1/tools/{name}) or over both one after the other on the
# same server and data: 64 clients for 30 s per phase, 16 per tool, calling
# query_sql (a GROUP BY over 1M rows), search_vectors (by text, on 10k
# items), add_trace and get_object. Prints, per transport and phase, calls,
# errors, 503s, p50/p99/max per tool, calls/s and the server's peak RSS.
# It builds mcpd, runs it with a fresh data directory and removes both after.
#
# Usage: bench/load/run.sh [flags of go run ./bench/load, e.g. -transport both -rounds 2 -duration 10s -clients 16]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./bench/load "$@"
