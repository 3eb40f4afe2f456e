#!/usr/bin/env bash
# Measures the retrieval quality of the offline embedding providers, hash and
# hybrid, on Debian package descriptions with WordNet synonyms and seeded
# typos (see main.go). Prints MRR and recall@10 for each kind of query, then
# the same for the dense, lexical and hybrid modes of a vector index's search.
#
# Usage: bench/embedquality/run.sh [flags of go run ./bench/embedquality, e.g. -n 20000, -seed 2, -open 100000]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-${TMPDIR:-/tmp}/lakehouse-embedquality}
mkdir -p "$out"

. bench/debian.sh

go run ./bench/embedquality -descriptions "$descriptions" -wordnet "$wordnet" "$@"
