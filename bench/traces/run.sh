#!/usr/bin/env bash
# Measures the ranking of search_traces (Pathway.Search) in each mode,
# dense, lexical and hybrid, against the ranking before modes, on generated
# agent traces (see main.go): MRR and recall@10 for queries of exact words,
# synonyms, typos, error codes and identifiers.
#
# Usage: bench/traces/run.sh [flags of go run ./bench/traces, e.g. -n 20000, -seed 2]
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./bench/traces "$@"
