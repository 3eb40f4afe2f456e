#!/usr/bin/env bash
# Streams a 1 GiB object through the REST gateway and back, against a plain
# file-to-file copy on the same disk in the same run.
#
# It builds mcpd and starts it with --http on a free loopback port, a fresh
# data directory and LAKEHOUSE_GATEWAY_MAX_BODY_BYTES at 2 GiB (no other
# LAKEHOUSE_* setting of the caller), writes a file of random bytes, and then,
# for each round, puts it (curl -T .../v1/storage/put/big.bin), gets it back
# (curl -o .../v1/storage/get/big.bin) and checks the bytes with cmp, and
# copies it with cat, once with no fsync and once followed by an fsync of the
# copy (the store fsyncs what it acknowledges, so that is the upload's
# baseline; the download's is the copy without fsync, as curl -o does not
# fsync). Odd rounds run the gateway first, even rounds the copies first.
# Each step starts after a sync, so that none pays for the writeback of the
# one before; the file, written first, is read from the page cache by all.
# MB/s are 10^6 bytes per second: curl's own %{speed_upload} and
# %{speed_download}, and the wall time of each step. mcpd's peak RSS (VmHWM)
# is reset before each transfer and read after it. Every file it makes is
# removed on exit, as is the server.
#
# Usage: bench/objects/run.sh [rounds, default 3] [MiB, default 1024]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
mib=${2:-1024}
bytes=$((mib * 1024 * 1024))

command -v curl >/dev/null || { echo "objects: curl is missing (apt-get install -y curl)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/objects-bench.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# now is the time in seconds, to the nanosecond.
now() { date +%s.%N; }
# mbps is MB/s of $bytes in $1 seconds.
mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
# status is field $1 (VmRSS, VmHWM) of mcpd's /proc status, in MiB.
status() { awk -v f="$1:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
# cpu is mcpd's user + system time so far, in clock ticks (getconf CLK_TCK).
cpu() { sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }
tck=$(getconf CLK_TCK)
# reset_peak makes VmHWM start again from the current RSS.
reset_peak() { echo 5 >"/proc/$pid/clear_refs"; }

go build -o "$work/mcpd" ./mcpd
mkdir "$work/data"
# The server's only configuration: none of the caller's LAKEHOUSE_*.
unset $(env | sed -n 's/^\(LAKEHOUSE_[^=]*\)=.*/\1/p') 2>/dev/null || true
LAKEHOUSE_DATA="$work/data" LAKEHOUSE_GATEWAY_MAX_BODY_BYTES=$((2 << 30)) \
  "$work/mcpd" --http 127.0.0.1:0 2>"$work/mcpd.log" &
pid=$!
# Port 0: the kernel picks a free one, and mcpd says which.
for _ in $(seq 200); do
  addr=$(sed -n 's|^mcpd listening on http://\([^:]*:[0-9]*\):.*|\1|p' "$work/mcpd.log")
  [[ -n $addr ]] && curl -sf "http://$addr/health" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "objects: mcpd exited:" >&2; cat "$work/mcpd.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $addr ]] || { echo "objects: mcpd did not start" >&2; cat "$work/mcpd.log" >&2; exit 1; }
url="http://$addr/v1/storage"

start=$(now)
head -c "$bytes" /dev/urandom >"$work/file"
echo "wrote $mib MiB of random bytes in $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s; mcpd at $addr, RSS $(status VmRSS) MiB (peak $(status VmHWM) MiB)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# settle writes back every dirty page, so that no step pays for the last
# one's writeback.
settle() { sync; }

put() {
  settle
  reset_peak
  local t0 out code speed c0
  c0=$(cpu)
  t0=$(now)
  out=$(curl -sS -T "$work/file" -o "$work/put.json" -w '%{http_code} %{speed_upload}' "$url/put/big.bin")
  wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
  read -r code speed <<<"$out"
  if [[ $code != 200 ]]; then
    echo "objects: PUT big.bin answered $code: $(head -c 500 "$work/put.json")" >&2
    exit 1
  fi
  rm -f "$work/put.json"
  printf 'round %d  put   curl %7.1f MB/s  wall %7.1f MB/s  %6.2fs  mcpd CPU %5.2fs, peak RSS %s MiB (VmHWM), RSS after %s MiB\n' \
    "$round" "$(awk -v s="$speed" 'BEGIN { print s / 1e6 }')" "$(mbps "$wall")" "$wall" "$(awk -v a="$c0" -v b="$(cpu)" -v t="$tck" 'BEGIN { print (b - a) / t }')" "$(status VmHWM)" "$(status VmRSS)"
  put_rows+=("$speed $wall $(status VmHWM)")
}

get() {
  settle
  reset_peak
  local t0 out code speed c0 c1
  c0=$(cpu)
  t0=$(now)
  out=$(curl -sS -o "$work/out" -w '%{http_code} %{speed_download}' "$url/get/big.bin")
  wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
  read -r code speed <<<"$out"
  if [[ $code != 200 ]]; then
    echo "objects: GET big.bin answered $code: $(head -c 500 "$work/out")" >&2
    exit 1
  fi
  local peak rss
  peak=$(status VmHWM) rss=$(status VmRSS) c1=$(cpu)
  if ! cmp -s "$work/file" "$work/out"; then
    echo "objects: round $round: the bytes got back differ from the file put (cmp: $(cmp "$work/file" "$work/out" 2>&1 | head -1))" >&2
    exit 1
  fi
  rm -f "$work/out"
  printf 'round %d  get   curl %7.1f MB/s  wall %7.1f MB/s  %6.2fs  mcpd CPU %5.2fs, peak RSS %s MiB (VmHWM), RSS after %s MiB; cmp: equal\n' \
    "$round" "$(awk -v s="$speed" 'BEGIN { print s / 1e6 }')" "$(mbps "$wall")" "$wall" "$(awk -v a="$c0" -v b="$c1" -v t="$tck" 'BEGIN { print (b - a) / t }')" "$peak" "$rss"
  get_rows+=("$speed $wall $peak")
}

copy() {
  local t0 t1 t2
  settle
  t0=$(now)
  cat "$work/file" >"$work/copy"
  t1=$(now)
  rm -f "$work/copy"
  settle
  t0b=$(now)
  cat "$work/file" >"$work/copy"
  sync "$work/copy"
  t2=$(now)
  rm -f "$work/copy"
  local plain synced
  plain=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  synced=$(awk -v a="$t0b" -v b="$t2" 'BEGIN { print b - a }')
  printf 'round %d  cat                     wall %7.1f MB/s  %6.2fs;  cat + fsync: wall %7.1f MB/s  %6.2fs\n' \
    "$round" "$(mbps "$plain")" "$plain" "$(mbps "$synced")" "$synced"
  cat_rows+=("$plain $synced")
}

put_rows=() get_rows=() cat_rows=()
for round in $(seq "$rounds"); do
  if ((round % 2)); then
    put; get; copy
  else
    copy; put; get
  fi
done

# Medians of the rounds.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { local n=$1; shift; printf '%s\n' "$@" | awk -v n="$n" '{ print $n }'; }
echo
echo "median of $rounds rounds, $mib MiB:"
printf '| transfer | MB/s (curl) | MB/s (wall) | mcpd peak RSS, max of rounds |\n|---|---|---|---|\n'
printf '| PUT /v1/storage/put | %.1f | %s | %s MiB |\n' "$(col 1 "${put_rows[@]}" | median | awk '{ print $1 / 1e6 }')" \
  "$(mbps "$(col 2 "${put_rows[@]}" | median)")" "$(col 3 "${put_rows[@]}" | sort -g | tail -1)"
printf '| GET /v1/storage/get | %.1f | %s | %s MiB |\n' "$(col 1 "${get_rows[@]}" | median | awk '{ print $1 / 1e6 }')" \
  "$(mbps "$(col 2 "${get_rows[@]}" | median)")" "$(col 3 "${get_rows[@]}" | sort -g | tail -1)"
printf '| cat file > copy | | %s | |\n' "$(mbps "$(col 1 "${cat_rows[@]}" | median)")"
printf '| cat file > copy; sync copy | | %s | |\n' "$(mbps "$(col 2 "${cat_rows[@]}" | median)")"
echo "mcpd RSS at the end $(status VmRSS) MiB; server log: $(grep -c 'level=\(WARN\|ERROR\)' "$work/mcpd.log" || true) WARN/ERROR lines"
grep 'level=\(WARN\|ERROR\)' "$work/mcpd.log" | head -5 || true
