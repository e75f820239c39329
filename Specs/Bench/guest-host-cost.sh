#!/usr/bin/env bash
# What a guest host costs (docs/guest-host.md), by hand, as root after ./build.sh:
#   Specs/Bench/guest-host-cost.sh [RUNS] [PROGRAM]
# PROGRAM: the guest host to measure (default out/bin/wasmkata-guest-host; the shim works too, its guest-host mode).
# the wall time of whole confined hello runs (spawn, stage 1, exec, stage 2, engine, compile, guest, exit), and the
# PSS of guest hosts with a sleeping guest, one alone and ten side by side.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
guests=$repo/out/guests
runs=${1:-21}
program=${2:-${WASMKATA_SHIM_DIR:-$repo/out/bin}/wasmkata-guest-host}
uid=2100000
work=$(mktemp -d /tmp/wk-guest-host-cost-XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/rootfs"
chown "$uid:$uid" "$work/rootfs"

guest_host() { # GUEST ARGS... (execs: run it in a subshell)
  local guest=$1
  shift
  exec "$program" guest-host -uid $uid -gid $uid -rootfs-fd 3 -module-fd 4 -report-fd 5 -- "$guest" "$@" \
    3<"$work/rootfs" 4<"$guests/$guest.wasm" 5>/dev/null >/dev/null
}

times=()
for _ in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  (guest_host hello)
  times+=($(( ($(date +%s%N) - start) / 1000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {
  printf "confined hello, wall time: median %.1f ms of %d (min %.1f, max %.1f)\n", a[int((NR+1)/2)]/1000, NR, a[1]/1000, a[NR]/1000 }'

pss_sum() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup"))); done; echo $total; }
for n in 1 10; do
  pids=()
  for _ in $(seq 1 $n); do
    (guest_host sleep 30) &
    pids+=($!)
  done
  sleep 3
  echo "$n guest host(s) with a sleeping guest: PSS $(( $(pss_sum "${pids[@]}") / n )) KiB each," \
    "anonymous $(awk '/^Anonymous:/ {print $2}' "/proc/${pids[0]}/smaps_rollup") KiB," \
    "threads $(awk '/^Threads:/ {print $2}' "/proc/${pids[0]}/status")"
  kill "${pids[@]}"
  wait 2>/dev/null || true
done
