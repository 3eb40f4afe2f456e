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

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
lists=/var/lib/apt/lists

# The long descriptions live in apt's Translation-en lists, which apt fetches
# only when asked for English translations.
if ! ls "$lists"/*_i18n_Translation-en* >/dev/null 2>&1; then
  $sudo apt-get update -qq -o Acquire::Languages=en
fi
# WordNet 3.0's database, for the synonyms.
if [ ! -f /usr/share/wordnet/cntlist.rev ]; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null
fi

descs=()
for f in "$lists"/*_i18n_Translation-en*; do
  /usr/lib/apt/apt-helper cat-file "$f" >"$out/$(basename "${f%.*}").txt"
  descs+=("$out/$(basename "${f%.*}").txt")
done

go run ./bench/embedquality -descriptions "$(IFS=,; echo "${descs[*]}")" -wordnet /usr/share/wordnet "$@"
