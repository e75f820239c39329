#!/usr/bin/env bash
# What guest_isolation = "process" costs against "thread" (docs/guest-host.md), as root after ./build.sh, on a
# private containerd of its own:
#   Specs/Bench/guest-process-cost.sh [COLD_RUNS] [SLEEPERS]
# 1. cold start: `ctr run --rm` of hello, thread and process runs interleaved (so both see the same machine load),
#    the median of COLD_RUNS (default 9) each and their ratio;
# 2. memory: SLEEPERS (default 10) sleeping containers in one sandbox, each mode: the PSS of the daemon and its
#    guest hosts with one container and with all, and the PSS per extra container.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/Specs/EndToEnd/containerd.sh"
source "$repo/Specs/EndToEnd/oci-image.sh"
source "$repo/Specs/Bench/standalone.sh"
cold_runs=${1:-9}
sleepers=${2:-10}
shim_dir=${WASMKATA_SHIM_DIR:-$repo/out/bin}
guests=$repo/out/guests
bench_private_containerd gp-cost 120

wasmkata_containerd_start --shim-dir "$shim_dir" "$run_dir"
for guest in hello sleep; do
  mkdir -p "$work/$guest"
  cp "$guests/$guest.wasm" "$work/$guest/app.wasm"
  wasmkata_oci_image "localhost/gp-cost/$guest:1" "$work/$guest" "$work/$guest.tar"
  ctr_ images import --snapshotter native "$work/$guest.tar" >/dev/null
done
printf '[wasmkata]\nguest_isolation = "thread"\n' >"$work/thread.toml"
printf '[wasmkata]\nguest_isolation = "process"\n' >"$work/process.toml"

run_hello() { # MODE ID: prints the wall time in us; fails unless hello printed its line
  local t0 out
  t0=$(now_us)
  out=$(ctr_ run --rm --snapshotter native --runtime io.containerd.wasmkata.v2 --runtime-config-path "$work/$1.toml" \
    localhost/gp-cost/hello:1 "$2" </dev/null)
  [[ $out == "hello from wasm" ]] || { echo "$1: hello printed \"$out\"" >&2; return 1; }
  echo $(($(now_us) - t0))
}


# A warm-up of each mode first: the compile cache and the page cache are then warm for both.
run_hello thread "warm-t-$tag" >/dev/null
run_hello process "warm-p-$tag" >/dev/null
thread_us=() process_us=()
for ((i = 1; i <= cold_runs; i++)); do
  thread_us+=("$(run_hello thread "cold-t-$tag-$i")")
  process_us+=("$(run_hello process "cold-p-$tag-$i")")
done
t=$(printf '%s\n' "${thread_us[@]}" | median_ms)
p=$(printf '%s\n' "${process_us[@]}" | median_ms)
echo "cold start, ctr run --rm hello, median of $cold_runs interleaved: thread $t ms, process $p ms, ratio $(awk -v a="$p" -v b="$t" 'BEGIN {printf "%.2f", a/b}')"
echo "  thread runs (us): ${thread_us[*]}"
echo "  process runs (us): ${process_us[*]}"

# PSS (kB) of the sandbox's daemon and every guest host it spawned.
sandbox_pss() { # DAEMON_PID
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo $total
}

for mode in thread process; do
  group="gp-cost-$mode-$tag"
  start_sleeper() {
    ctr_ run -d --snapshotter native --runtime io.containerd.wasmkata.v2 --runtime-config-path "$work/$mode.toml" \
      --annotation "io.kubernetes.cri.sandbox-id=$group" localhost/gp-cost/sleep:1 "$1" /app.wasm 3600 </dev/null >/dev/null
  }
  start_sleeper "$group-1"
  sleep 2
  # The task's pid: a thread of the daemon (thread) or the guest host, a child of the daemon (process).
  pid=$(ctr_ task ls | awk -v id="$group-1" '$1 == id {print $2}')
  if [[ $mode == thread ]]; then
    daemon=$(awk '/^Tgid:/ {print $2}' "/proc/$pid/status")
  else
    daemon=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")
  fi
  one=$(sandbox_pss "$daemon")
  for ((i = 2; i <= sleepers; i++)); do start_sleeper "$group-$i"; done
  sleep 3
  all=$(sandbox_pss "$daemon")
  hosts=$( (pgrep -P "$daemon" || true) | wc -l)
  echo "$mode: PSS of the sandbox (daemon + $hosts guest hosts): 1 container $((one / 1024)) MiB, $sleepers containers $((all / 1024)) MiB," \
    "per extra container $(awk -v a="$all" -v b="$one" -v n="$sleepers" 'BEGIN {printf "%.2f", (a-b)/(n-1)/1024}') MiB"
  mapfile -t ids < <(ctr_ containers ls -q | grep "^$group-")
  ctr_ task delete -f "${ids[@]}" >/dev/null 2>&1 || true
  ctr_ containers rm "${ids[@]}" >/dev/null 2>&1 || true
done
