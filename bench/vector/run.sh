#!/usr/bin/env bash
# Benchmarks lakehouse's vector index against hnswlib on the same data:
# n x dim unit vectors from a seeded Gaussian mixture (default 100k x 384),
# 1000 queries, exact top-10 by brute force. Every side (lakehouse with
# float32 vectors, lakehouse with int8 ones, hnswlib) builds
# single-threaded with M=16 and ef_construction=200, answers the queries one
# thread at a time at each ef, saves, and opens again in a fresh process.
# Every phase runs in a process of its own, so each peak RSS is its own.
# Prints a side-by-side table (markdown), also kept in $OUT/table.md.
#
# hnswlib is Debian's libhnswlib-dev (headers; installed with apt-get when
# missing) compiled for this CPU: g++ -O3 -march=native.
#
# Usage: [DEBIAN=1] bench/vector/run.sh [flags of go run ./bench/vector, e.g. -n 20000 -dim 384 -ef 32,64,128]
# Set OUT to keep the data set and results somewhere else (default
# $TMPDIR/lakehouse-vector-bench, reused when the parameters match), PUREGO=1
# to measure lakehouse without its assembly kernels.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-${TMPDIR:-/tmp}/lakehouse-vector-bench}
mkdir -p "$out"

if [ ! -f /usr/include/hnswlib/hnswalg.h ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libhnswlib-dev g++ >/dev/null
fi
echo "hnswlib: libhnswlib-dev $(dpkg-query -W -f='${Version}' libhnswlib-dev 2>/dev/null || echo '?'), $(g++ --version | head -1)" >&2
g++ -O3 -march=native -std=c++17 -o "$out/hnswbench" bench/vector/hnswlib/hnswbench.cpp -lpthread

tags=()
[ "${PUREGO:-}" = 1 ] && tags=(-tags purego)
go build "${tags[@]}" -o "$out/vectorbench" ./bench/vector

# The ef list is the Go side's -ef flag, if given.
efs=32,64,128
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -ef | --ef) efs=${args[i + 1]} ;;
    -ef=* | --ef=*) efs=${args[i]#*=} ;;
  esac
done

# DEBIAN=1: the data set is the default embedder's vectors of Debian's
# package descriptions (bench/debian.sh fetches them), not the mixture.
if [ "${DEBIAN:-}" = 1 ]; then
  . bench/debian.sh
  set -- -descriptions "$descriptions" "$@"
fi

echo "load before the run: $(uptime)" >&2
"$out/vectorbench" -phase data -out "$out" "$@"
for quant in none int8; do
  "$out/vectorbench" -phase build -quant "$quant" -out "$out" "$@"
  "$out/vectorbench" -phase open -quant "$quant" -out "$out" "$@"
done
"$out/hnswbench" build "$out" "$efs"
"$out/hnswbench" load "$out" "$efs"
rm -f "$out/hnswlib.bin"
echo "load after the run: $(uptime)" >&2
"$out/vectorbench" -phase table -out "$out" | tee "$out/table.md"
