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

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
lists=/var/lib/apt/lists

# The long descriptions live in apt's Translation-en lists, which apt fetches
# only when asked for English translations.
if ! ls "$lists"/*_i18n_Translation-en* >/dev/null 2>&1; then
  $sudo apt-get update -qq -o Acquire::Languages=en
fi
if [ ! -f /usr/share/wordnet/index.noun ]; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null
fi

descs=()
for f in "$lists"/*_i18n_Translation-en*; do
  /usr/lib/apt/apt-helper cat-file "$f" >"$out/$(basename "${f%.*}").txt"
  descs+=("$out/$(basename "${f%.*}").txt")
done

go run ./bench/playbook -descriptions "$(IFS=,; echo "${descs[*]}")" -wordnet /usr/share/wordnet "$@"
