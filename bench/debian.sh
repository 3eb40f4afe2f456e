# Sourced by the benchmarks that read Debian package descriptions and
# WordNet: fetches apt's English translation lists (the long descriptions)
# and WordNet 3.0's database if they are missing, unpacks the lists into
# $out, and sets descriptions (a comma-separated list of the unpacked files)
# and wordnet (the database's folder).
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
lists=/var/lib/apt/lists

# The long descriptions live in apt's Translation-en lists, which apt fetches
# only when asked for English translations.
if ! ls "$lists"/*_i18n_Translation-en* >/dev/null 2>&1; then
  $sudo apt-get update -qq -o Acquire::Languages=en
fi
wordnet=/usr/share/wordnet
if [ ! -f "$wordnet/cntlist.rev" ] || [ ! -f "$wordnet/index.noun" ]; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wordnet-base >/dev/null
fi

descs=()
for f in "$lists"/*_i18n_Translation-en*; do
  /usr/lib/apt/apt-helper cat-file "$f" >"$out/$(basename "${f%.*}").txt"
  descs+=("$out/$(basename "${f%.*}").txt")
done
descriptions=$(IFS=,; echo "${descs[*]}")
