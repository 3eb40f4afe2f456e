#!/usr/bin/env bash
# Measures the learning loop of matrix_search (record_playbook, then
# use_playbook) on Debian package descriptions with WordNet synonyms (see
# main.go): MRR of the right answer with and without the playbook, on
# held-out paraphrases and on unrelated questions.
#
# Usage: bench/playbook/run.sh [flags of go run ./bench/playbook, e.g. -n 10000]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-${TMPDIR:-/tmp}/lakehouse-playbook}
mkdir -p "$out"

. bench/debian.sh

go run ./bench/playbook -descriptions "$descriptions" -wordnet "$wordnet" "$@"
