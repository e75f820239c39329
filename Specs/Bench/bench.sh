#!/usr/bin/env bash
# WasmKata's benchmark: the wasm shim against runc, side by side on ONE private containerd.
#   Specs/Bench/bench.sh [--shim-dir DIR] [--guests DIR] [--out DIR] [--quick] [--only SECTION,...]
#   ./build.sh bench     builds, then runs this with out/bin, out/guests and out/bench
# Writes OUT/results.md (also printed), OUT/samples.tsv (every raw sample, in microseconds), OUT/containerd.log.
# Measures, each with its baseline from the same run:
#   1. cold start   `ctr run --rm` of hello.wasm vs runc busybox `echo hi`, interleaved, median/p90
#                   (plus the same in a sandbox whose shim already runs, to show the per-container floor)
#   2. density      N sleeping containers in one sandbox (io.kubernetes.cri.sandbox-id): shims, RSS, threads
#   2b. pods        N pods, each its own sandbox with one sleeping container: memory (PSS) and idle CPU per pod
#   3. throughput   containers created, run to exit and deleted per second, 4 in parallel
#   4. I/O          64 MiB from the container's stdout through containerd's FIFOs and ctr to a reader
#   5. kill         `ctr task kill -s SIGKILL` to the task's exit event, for spinning and sleeping guests
#   6. breakdown    one traced cold start each (perf sched tracepoints; skipped when perf cannot trace)
#   7. yosys        a real 30 MB module (Yosys from npm) against Node's WASI: first start, cached start, compute
#                   (Specs/Bench/bench-yosys.sh)
#   8. isolation    guest_isolation = "process" against "thread": cold start, PSS per extra container, guest host
#                   start to ready, and the same with the shim as guest host (Specs/Bench/bench-isolation.sh)
# Needs root, containerd (ctr, runc), busybox-static and the built shim and guests.
# Tunables (environment): BENCH_SNAPSHOTTER (overlayfs), BENCH_COLD_N (9), BENCH_DENSITY_N (100),
#   BENCH_TPUT_N (40 per worker), BENCH_TPUT_WORKERS (4), BENCH_TPUT_SECONDS (20), BENCH_IO_MIB (64),
#   BENCH_IO_N (3), BENCH_KILL_N (20), BENCH_PODS_N (10), BENCH_PODS_IDLE_SECONDS (20). --quick shrinks them all for a smoke run; --only runs some sections
#   (cold, density, pods, throughput, io, kill, breakdown, yosys, isolation).
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME must use a '.'

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/../.." && pwd)
source "$REPO/Specs/EndToEnd/containerd.sh"
source "$REPO/Specs/EndToEnd/oci-image.sh"

SHIM_DIR="$REPO/out/bin"
GUESTS_DIR="$REPO/out/guests"
OUT_DIR="$REPO/out/bench"
QUICK=0
SECTIONS="cold density pods throughput io kill breakdown yosys isolation"
BENCH_COMMAND=${BENCH_COMMAND:-"Specs/Bench/bench.sh${*:+ $*}"}
while (($# > 0)); do
  case $1 in
    --shim-dir) SHIM_DIR=$(realpath "$2"); shift 2 ;;
    --guests) GUESTS_DIR=$(realpath "$2"); shift 2 ;;
    --out) OUT_DIR=$(realpath -m "$2"); shift 2 ;;
    --quick) QUICK=1; shift ;;
    --only) SECTIONS=${2//,/ }; shift 2 ;;
    -h | --help) sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SNAPSHOTTER=${BENCH_SNAPSHOTTER:-overlayfs}
if ((QUICK)); then
  COLD_N=${BENCH_COLD_N:-3} DENSITY_N=${BENCH_DENSITY_N:-10} TPUT_N=${BENCH_TPUT_N:-5}
  TPUT_SECONDS=${BENCH_TPUT_SECONDS:-10} IO_MIB=${BENCH_IO_MIB:-16} IO_N=${BENCH_IO_N:-1} KILL_N=${BENCH_KILL_N:-3}
else
  COLD_N=${BENCH_COLD_N:-9} DENSITY_N=${BENCH_DENSITY_N:-100} TPUT_N=${BENCH_TPUT_N:-40}
  TPUT_SECONDS=${BENCH_TPUT_SECONDS:-20} IO_MIB=${BENCH_IO_MIB:-64} IO_N=${BENCH_IO_N:-3} KILL_N=${BENCH_KILL_N:-20}
fi
TPUT_WORKERS=${BENCH_TPUT_WORKERS:-4}
PODS_N=${BENCH_PODS_N:-10}
PODS_IDLE_SECONDS=${BENCH_PODS_IDLE_SECONDS:-$((QUICK ? 10 : 20))}

WASM_RUNTIME=io.containerd.wasmkata.v2
WASM_SHIM=containerd-shim-wasmkata-v2
WASM_DAEMON=wasmkata-shimd # the name the shim takes when it serves as a sandbox's daemon (its /proc/PID/comm)
RUNC_SHIM=containerd-shim-runc-v2
GROUP_ANNOTATION=io.kubernetes.cri.sandbox-id
# Its own containerd, apart from the tests' (/tmp/wk-e2e-*) and the demo's (/run/wasmkata-demo).
RUN_DIR=/run/wasmkata-bench
ROOT_DIR=/var/lib/wasmkata-bench
SOCK="$RUN_DIR/containerd.sock"
NS=wasmkata-bench
WORK="$OUT_DIR/work"
SAMPLES="$OUT_DIR/samples.tsv"
RESULTS="$OUT_DIR/results.md"
TAG=$$ # in every container id and sandbox id of this run

IMG_HELLO=localhost/wasmkata-bench/hello:1
IMG_SLEEP=localhost/wasmkata-bench/sleep:1
IMG_SPIN=localhost/wasmkata-bench/spin:1
IMG_BIGOUT=localhost/wasmkata-bench/bigout:1
IMG_BUSYBOX=localhost/wasmkata-bench/busybox:static

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------
# Numbers. Times are integer microseconds from $EPOCHREALTIME (a builtin: no fork around the timed command).

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# µs -> "12.3" (ms, one decimal, rounded)
ms() {
  local tenths=$((($1 + 50) / 100))
  printf '%d.%d' $((tenths / 10)) $((tenths % 10))
}

# a/b with two decimals ("n/a" when b is 0)
ratio() {
  (($2 != 0)) || { echo "n/a"; return; }
  local r=$((($1 * 100 + $2 / 2) / $2))
  printf '%d.%02d' $((r / 100)) $((r % 100))
}

# Nearest-rank percentile P of the (unsorted) values: the smallest value with at least P% of them at or below.
percentile() {
  local p=$1; shift
  (($# > 0)) || { echo 0; return; }
  local sorted rank
  mapfile -t sorted < <(printf '%s\n' "$@" | sort -n)
  rank=$(((p * ${#sorted[@]} + 99) / 100))
  ((rank >= 1)) || rank=1
  echo "${sorted[rank - 1]}"
}

sample() { # SECTION KIND VALUE [NOTE]: one raw sample, kept in samples.tsv
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$SAMPLES"
}

# ---------------------------------------------------------------------------------------------------------
# containerd, images, processes

ctr_() { timeout -k 5 120 ctr -a "$SOCK" -n "$NS" "$@"; }

# Background processes this script started and has not reaped yet (reaped ones are forgotten: pids get reused).
BG_PIDS=()

forget() {
  local keep=() pid
  for pid in "${BG_PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  BG_PIDS=("${keep[@]}")
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${BG_PIDS[@]}"; do
    pkill -KILL -P "$pid" 2>/dev/null || true # its ctr/timeout children, by parent id
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -d $RUN_DIR ]]; then
    cp "$RUN_DIR/containerd.log" "$OUT_DIR/containerd.log" 2>/dev/null || true
    log "stopping the bench containerd"
    wasmkata_containerd_stop "$RUN_DIR"
  fi
  exit "$status"
}

build_images() {
  local dir="$WORK/images" guest
  rm -rf "$dir"
  for guest in hello sleep spin bigout; do
    [[ -f $GUESTS_DIR/$guest.wasm ]] || die "$GUESTS_DIR/$guest.wasm is missing (run ./build.sh)"
    mkdir -p "$dir/$guest"
    cp "$GUESTS_DIR/$guest.wasm" "$dir/$guest/app.wasm"
  done
  wasmkata_oci_image "$IMG_HELLO" "$dir/hello" "$dir/hello.tar"
  wasmkata_oci_image "$IMG_SLEEP" "$dir/sleep" "$dir/sleep.tar"
  wasmkata_oci_image "$IMG_SPIN" "$dir/spin" "$dir/spin.tar"
  wasmkata_oci_image "$IMG_BIGOUT" "$dir/bigout" "$dir/bigout.tar"

  # The runc baseline: Debian's static busybox alone, as in Specs/EndToEnd/OciImages.cs.
  local bb="$dir/busybox" applet
  mkdir -p "$bb"/{bin,proc,sys,dev,tmp,etc}
  cp /bin/busybox "$bb/bin/busybox"
  for applet in sh echo sleep dd head cat; do ln -s busybox "$bb/bin/$applet"; done
  wasmkata_oci_image --platform linux/amd64 --entrypoint /bin/sh "$IMG_BUSYBOX" "$bb" "$dir/busybox.tar"

  local tar
  for tar in "$dir"/*.tar; do
    ctr_ images import --snapshotter "$SNAPSHOTTER" "$tar" >/dev/null
  done
}

# `ctr run` arguments for KIND: wasm (the shim) or runc (containerd's default runtime).
run_args() {
  local kind=$1; shift
  RUN_ARGS=(run --snapshotter "$SNAPSHOTTER")
  [[ $kind != wasm ]] || RUN_ARGS+=(--runtime "$WASM_RUNTIME")
  RUN_ARGS+=("$@")
}

# Runs one container to its end with `ctr run --rm`, stdout+stderr to FILE; sets RUN_US and RUN_RC.
# KIND IMAGE ID FILE [--annotation K=V]... [-- ARGS...]
timed_run() {
  local kind=$1 image=$2 id=$3 file=$4; shift 4
  local opts=()
  while (($# > 0)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  (($# == 0)) || shift
  run_args "$kind" --rm "${opts[@]}" "$image" "$id" "$@"
  local t0=$EPOCHREALTIME
  RUN_RC=0
  ctr_ "${RUN_ARGS[@]}" </dev/null >"$file" 2>&1 || RUN_RC=$?
  local t1=$EPOCHREALTIME
  RUN_US=$((${t1/./} - ${t0/./}))
}

# The hello run of KIND: ID FILE [OPTS...]; RUN_OK=1 when it printed its line and exited 0.
hello_run() {
  local kind=$1 id=$2 file=$3; shift 3
  if [[ $kind == wasm ]]; then
    timed_run wasm "$IMG_HELLO" "$id" "$file" "$@"
    [[ $RUN_RC == 0 && $(<"$file") == "hello from wasm" ]] && RUN_OK=1 || RUN_OK=0
  else
    timed_run runc "$IMG_BUSYBOX" "$id" "$file" "$@" -- /bin/echo hi
    [[ $RUN_RC == 0 && $(<"$file") == "hi" ]] && RUN_OK=1 || RUN_OK=0
  fi
}

# Starts a sleeping container of KIND detached in sandbox GROUP: ID GROUP
start_sleeper() {
  local kind=$1 id=$2 group=$3
  if [[ $kind == wasm ]]; then
    run_args wasm -d --annotation "$GROUP_ANNOTATION=$group" "$IMG_SLEEP" "$id" /app.wasm 3600
  else
    run_args runc -d --annotation "$GROUP_ANNOTATION=$group" "$IMG_BUSYBOX" "$id" /bin/sleep 3600
  fi
  ctr_ "${RUN_ARGS[@]}" </dev/null >/dev/null
}

# Prints the number of tasks of this namespace whose id starts with PREFIX and whose status is STATUS.
count_tasks() {
  ctr_ task ls 2>/dev/null | awk -v p="$1" -v s="$2" 'NR > 1 && index($1, p) == 1 && $3 == s' | wc -l
}

wait_tasks() { # PREFIX STATUS COUNT SECONDS
  local deadline=$(($(now_us) + $4 * 1000000))
  while (($(count_tasks "$1" "$2") < $3)); do
    (($(now_us) < deadline)) || return 1
    sleep 0.2
  done
}

# Pids of this containerd's shims whose executable or process name is NAME (the wasm shim's start and delete run the
# same executable as its daemons: the daemons go by their name).
shim_pids() {
  local pid stat
  for pid in $(wasmkata_containerd_shims "$SOCK"); do
    # A spare waiting for a hand-over is no sandbox's shim yet: named wasmkata-spare, or at nice 19 until it names itself.
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) != wasmkata-spare && $(cut -d' ' -f17 <<<"$stat") != 19 ]] || continue
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */"$1" || $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] && echo "$pid"
  done
  return 0
}

# Sum of FIELD (kB or count) over PIDS, from /proc/PID/status (VmRSS, Threads) or smaps_rollup (Pss).
# Thread names of the PIDs, most common first: "100 guest dens-wasm-1, 9 .NET TP Worker, ...".
thread_names() {
  local pid
  for pid in "$@"; do cat /proc/"$pid"/task/*/comm 2>/dev/null; done |
    sed 's/^guest .*/guest (one per guest)/' | sort | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; printf "%s%d x%s", sep, n, $0; sep = ", " }'
}

proc_sum() {
  local field=$1 pid total=0 value file; shift
  for pid in "$@"; do
    file=/proc/$pid/status
    [[ $field != Pss ]] || file=/proc/$pid/smaps_rollup
    value=$(awk -v f="$field:" '$1 == f { print $2; exit }' "$file" 2>/dev/null || true)
    total=$((total + ${value:-0}))
  done
  echo "$total"
}

# ---------------------------------------------------------------------------------------------------------
# 1. Cold start

bench_cold() {
  log "1. cold start: hello.wasm vs runc busybox echo, 1 warm-up + $COLD_N each, interleaved"
  local i kind
  declare -gA COLD_US=() COLD_FAIL=()
  local -a wasm_us=() runc_us=()
  for ((i = 0; i <= COLD_N; i++)); do
    for kind in wasm runc; do
      hello_run "$kind" "cold-$kind-$TAG-$i" "$WORK/cold.out"
      if ((i == 0)); then
        ((RUN_OK)) || die "the $kind warm-up run failed: $(tail -c 2000 "$WORK/cold.out")"
        continue
      fi
      sample cold "$kind" "$RUN_US" "rc=$RUN_RC ok=$RUN_OK"
      if ((RUN_OK)); then
        if [[ $kind == wasm ]]; then wasm_us+=("$RUN_US"); else runc_us+=("$RUN_US"); fi
      else
        COLD_FAIL[$kind]=$((${COLD_FAIL[$kind]:-0} + 1))
      fi
    done
  done
  COLD_US[wasm50]=$(percentile 50 "${wasm_us[@]}") COLD_US[wasm90]=$(percentile 90 "${wasm_us[@]}")
  COLD_US[runc50]=$(percentile 50 "${runc_us[@]}") COLD_US[runc90]=$(percentile 90 "${runc_us[@]}")

  # The same run in a sandbox whose shim is already up: what a container costs once the daemon exists.
  log "1b. the same in an existing sandbox (a sleeping container keeps its shim up), $COLD_N each"
  local kinds=(wasm runc) group
  for kind in "${kinds[@]}"; do
    start_sleeper "$kind" "warm-$kind-$TAG-keeper" "warm-$kind-$TAG"
  done
  wait_tasks "warm-" RUNNING 2 30 || die "the sandbox keepers did not reach RUNNING"
  local -a wasm_warm=() runc_warm=()
  for ((i = 0; i <= COLD_N; i++)); do
    for kind in "${kinds[@]}"; do
      group="warm-$kind-$TAG"
      hello_run "$kind" "warm-$kind-$TAG-$i" "$WORK/cold.out" --annotation "$GROUP_ANNOTATION=$group"
      ((i > 0)) || continue
      sample warm "$kind" "$RUN_US" "rc=$RUN_RC ok=$RUN_OK"
      ((RUN_OK)) || { COLD_FAIL[warm$kind]=$((${COLD_FAIL[warm$kind]:-0} + 1)); continue; }
      if [[ $kind == wasm ]]; then wasm_warm+=("$RUN_US"); else runc_warm+=("$RUN_US"); fi
    done
  done
  ctr_ task delete -f "warm-wasm-$TAG-keeper" "warm-runc-$TAG-keeper" >/dev/null 2>&1 || true
  ctr_ containers rm "warm-wasm-$TAG-keeper" "warm-runc-$TAG-keeper" >/dev/null 2>&1 || true
  COLD_US[warmwasm50]=$(percentile 50 "${wasm_warm[@]}") COLD_US[warmwasm90]=$(percentile 90 "${wasm_warm[@]}")
  COLD_US[warmrunc50]=$(percentile 50 "${runc_warm[@]}") COLD_US[warmrunc90]=$(percentile 90 "${runc_warm[@]}")
}

# ---------------------------------------------------------------------------------------------------------
# 2. Density

# N sleeping containers of KIND in one sandbox; fills DENSITY[kind.*].
density_of() {
  local kind=$1 n=$DENSITY_N group="density-$1-$TAG" prefix="dens-$1-$TAG-" i
  local shim_name=$WASM_DAEMON
  [[ $kind == wasm ]] || shim_name=$RUNC_SHIM

  start_sleeper "$kind" "${prefix}1" "$group"
  wait_tasks "$prefix" RUNNING 1 30 || die "$kind: the first sleeping container did not reach RUNNING"
  sleep 1
  local -a shims pids
  mapfile -t shims < <(shim_pids "$shim_name")
  mapfile -t pids < <(guest_pids "$kind" "$prefix")
  DENSITY[$kind.rss1]=$(proc_sum VmRSS "${shims[@]}" "${pids[@]}")
  DENSITY[$kind.pss1]=$(proc_sum Pss "${shims[@]}" "${pids[@]}")
  DENSITY[$kind.shimrss1]=$(proc_sum VmRSS "${shims[@]}")
  DENSITY[$kind.threads1]=$(proc_sum Threads "${shims[@]}" "${pids[@]}")
  DENSITY[$kind.names1]=$(thread_names "${shims[@]}")

  local t0 t1
  t0=$(now_us)
  for ((i = 2; i <= n; i++)); do
    start_sleeper "$kind" "$prefix$i" "$group" || { log "$kind: container $i of $n failed to start"; break; }
  done
  t1=$(now_us)
  DENSITY[$kind.start_us]=$((t1 - t0))
  wait_tasks "$prefix" RUNNING "$n" 60 || log "$kind: not all $n containers reached RUNNING"
  sleep 2 # let start-up garbage settle before reading memory
  DENSITY[$kind.running]=$(count_tasks "$prefix" RUNNING)
  mapfile -t shims < <(shim_pids "$shim_name")
  mapfile -t pids < <(guest_pids "$kind" "$prefix")
  DENSITY[$kind.shims]=${#shims[@]}
  DENSITY[$kind.rss]=$(proc_sum VmRSS "${shims[@]}" "${pids[@]}")
  DENSITY[$kind.pss]=$(proc_sum Pss "${shims[@]}" "${pids[@]}")
  DENSITY[$kind.shimrss]=$(proc_sum VmRSS "${shims[@]}")
  DENSITY[$kind.threads]=$(proc_sum Threads "${shims[@]}" "${pids[@]}")
  DENSITY[$kind.shimthreads]=$(proc_sum Threads "${shims[@]}")
  DENSITY[$kind.names]=$(thread_names "${shims[@]}")
  sample density "$kind" "${DENSITY[$kind.rss]}" "kB RSS of ${#shims[@]} shim(s) + ${#pids[@]} guest processes"

  # Tear down: kill and delete every task, then the containers; then wait for the shim to go.
  local ids
  mapfile -t ids < <(ctr_ containers ls -q | grep "^$prefix")
  t0=$(now_us)
  ctr_ task delete -f "${ids[@]}" >/dev/null 2>&1 || log "$kind: task delete -f reported an error"
  ctr_ containers rm "${ids[@]}" >/dev/null 2>&1 || log "$kind: containers rm reported an error"
  t1=$(now_us)
  DENSITY[$kind.teardown_us]=$((t1 - t0))
  local deadline=$((t1 + 10000000))
  while [[ -n $(shim_pids "$shim_name") ]] && (($(now_us) < deadline)); do sleep 0.05; done
  DENSITY[$kind.shimgone_us]=$(($(now_us) - t1))
  [[ -z $(shim_pids "$shim_name") ]] || DENSITY[$kind.shimgone_us]=-1
}

# Pids of the guests' own processes: none for wasm (they live in the shim), the busybox sleeps for runc.
guest_pids() {
  [[ $1 == runc ]] || return 0
  ctr_ task ls 2>/dev/null | awk -v p="$2" 'NR > 1 && index($1, p) == 1 && $2 > 0 { print $2 }'
}

bench_density() {
  log "2. density: $DENSITY_N sleeping containers in one sandbox, wasm then runc"
  declare -gA DENSITY=()
  density_of wasm
  density_of runc
}

# ---------------------------------------------------------------------------------------------------------
# 2b. Pods: what a pod costs when each has its own sandbox (a Kubernetes node's common case)

# CPU time (user + system, all threads, in clock ticks) of PIDS from /proc/PID/stat: the process's own account,
# which counts the short wake-ups that per-thread samples miss.
cpu_ticks() {
  local pid total=0 stat
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    total=$((total + $(cut -d' ' -f12 <<<"$stat") + $(cut -d' ' -f13 <<<"$stat")))
  done
  echo "$total"
}

# Where one process's proportional memory goes, kB by kind of mapping: "code 1234, wasmtime 567, ...".
pss_by_mapping() {
  awk -v exe="$(readlink "/proc/$1/exe")" '
    /^[0-9a-f]+-[0-9a-f]+ / {
      path = $6; kind = "other"
      if (path == exe) kind = "shim code+data"
      else if (path ~ /libwasmtime/) kind = "libwasmtime"
      else if (path ~ /\.so/) kind = "other libraries"
      else if (path == "[heap]") kind = "malloc heap"
      else if (path == "[stack]") kind = "main stack"
      else if (path == "") kind = "anonymous (GC heap, thread stacks, wasm memories)"
    }
    /^Pss:/ { pss[kind] += $2 }
    END { for (k in pss) printf "%d\t%s\n", pss[k], k }' "/proc/$1/smaps" 2>/dev/null |
    sort -rn | awk -F'\t' '{ printf "%s%s %.1f MiB", sep, $2, $1 / 1024; sep = ", " }'
}

pods_of() {
  local kind=$1 n=$PODS_N prefix="pod-$1-$TAG-" i
  local shim_name=$WASM_DAEMON
  [[ $kind == wasm ]] || shim_name=$RUNC_SHIM
  for ((i = 1; i <= n; i++)); do
    start_sleeper "$kind" "$prefix$i" "$prefix$i" || log "$kind: pod $i of $n failed to start"
  done
  wait_tasks "$prefix" RUNNING "$n" 60 || log "$kind: not all $n pods reached RUNNING"
  sleep 5 # let start-up work and its garbage settle
  local -a shims pids
  mapfile -t shims < <(shim_pids "$shim_name")
  mapfile -t pids < <(guest_pids "$kind" "$prefix")
  PODS[$kind.running]=$(count_tasks "$prefix" RUNNING)
  PODS[$kind.shims]=${#shims[@]}
  PODS[$kind.pss]=$(proc_sum Pss "${shims[@]}" "${pids[@]}")
  PODS[$kind.rss]=$(proc_sum VmRSS "${shims[@]}" "${pids[@]}")
  PODS[$kind.threads]=$(proc_sum Threads "${shims[@]}" "${pids[@]}")
  PODS[$kind.where]=$(pss_by_mapping "${shims[0]}")
  local t0 c0 t1 c1
  t0=$(now_us) c0=$(cpu_ticks "${shims[@]}" "${pids[@]}")
  sleep "$PODS_IDLE_SECONDS"
  t1=$(now_us) c1=$(cpu_ticks "${shims[@]}" "${pids[@]}")
  # ms of CPU per second of wall time, x1000 (three decimals), for all pods together
  PODS[$kind.idle_mms]=$(((c1 - c0) * 1000000000000 / $(getconf CLK_TCK) / (t1 - t0)))
  sample pods "$kind" "${PODS[$kind.pss]}" "kB PSS of $n pods (${#shims[@]} shims + ${#pids[@]} container processes)"
  sample pods "$kind-idle" "$((c1 - c0))" "clock ticks over $(((t1 - t0) / 1000)) ms"
  local ids
  mapfile -t ids < <(ctr_ containers ls -q | grep "^$prefix")
  ctr_ task delete -f "${ids[@]}" >/dev/null 2>&1 || log "$kind: task delete -f reported an error"
  ctr_ containers rm "${ids[@]}" >/dev/null 2>&1 || log "$kind: containers rm reported an error"
}

bench_pods() {
  log "2b. pods: $PODS_N pods, each its own sandbox with one sleeping container, wasm then runc; idle ${PODS_IDLE_SECONDS} s"
  declare -gA PODS=()
  pods_of wasm
  pods_of runc
}

# ---------------------------------------------------------------------------------------------------------
# 3. Throughput

# One worker: up to N hello runs of KIND one after another until DEADLINE (µs); a line per run into FILE.
tput_worker() {
  local kind=$1 w=$2 n=$3 deadline=$4 file=$5 i
  for ((i = 0; i < n; i++)); do
    (($(now_us) < deadline)) || break
    hello_run "$kind" "tput-$kind-$TAG-$w-$i" "$WORK/tput-$kind-$w.out"
    printf '%s %s %s\n' "$RUN_OK" "$RUN_RC" "$RUN_US" >>"$file"
  done
}

# CPU time the whole machine spent busy (all CPUs, user + system + interrupts), in ms, from /proc/stat.
busy_cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { print int(($2 + $3 + $4 + $7 + $8 + $9) * 1000 / hz) }' /proc/stat
}

bench_throughput() {
  log "3. throughput: $TPUT_WORKERS workers x up to $TPUT_N runs (or ${TPUT_SECONDS} s), wasm then runc"
  declare -gA TPUT=()
  local kind w file
  for kind in wasm runc; do
    file="$WORK/tput-$kind.txt"
    : >"$file"
    local t0 t1 deadline workers=() busy0
    busy0=$(busy_cpu_ms)
    t0=$(now_us)
    deadline=$((t0 + TPUT_SECONDS * 1000000))
    for ((w = 0; w < TPUT_WORKERS; w++)); do
      tput_worker "$kind" "$w" "$TPUT_N" "$deadline" "$file" &
      workers+=($!)
      BG_PIDS+=($!)
    done
    wait "${workers[@]}" || true
    for w in "${workers[@]}"; do forget "$w"; done
    t1=$(now_us)
    TPUT[$kind.cpu_ms]=$(($(busy_cpu_ms) - busy0))
    TPUT[$kind.wall_us]=$((t1 - t0))
    TPUT[$kind.ok]=$(awk '$1 == 1' "$file" | wc -l)
    TPUT[$kind.failed]=$(awk '$1 != 1' "$file" | wc -l)
    # Containers per second, times 100 (two decimals).
    TPUT[$kind.rate100]=$((${TPUT[$kind.ok]} * 100000000 / ${TPUT[$kind.wall_us]}))
    local lat
    mapfile -t lat < <(awk '$1 == 1 { print $3 }' "$file")
    TPUT[$kind.p50]=$(percentile 50 "${lat[@]}")
    sample throughput "$kind" "${TPUT[$kind.wall_us]}" "wall time; ok=${TPUT[$kind.ok]} failed=${TPUT[$kind.failed]}"
    local ok rc us
    while read -r ok rc us; do sample throughput-run "$kind" "$us" "rc=$rc ok=$ok"; done <"$file"
  done
}

# ---------------------------------------------------------------------------------------------------------
# 4. I/O

# Reads a stream of BYTES bytes from stdin: prints "first-byte-time last-byte-time count extra".
# The first byte is read alone (read -n 1 consumes exactly one byte of a pipe; -d '' makes a NUL byte end it).
stream_reader() {
  local want=$1 c t_first t_last count extra
  if ! IFS= read -r -d '' -n 1 c; then
    printf '0 0 0 0'
    return
  fi
  t_first=$EPOCHREALTIME
  count=$(head -c $((want - 1)) | wc -c)
  t_last=$EPOCHREALTIME
  extra=$(wc -c)
  printf '%s %s %s %s' "${t_first/./}" "${t_last/./}" $((count + 1)) "$extra"
}

bench_io() {
  local bytes=$((IO_MIB * 1024 * 1024))
  log "4. I/O: $IO_MIB MiB from stdout through ctr to a reader, $IO_N each, interleaved"
  declare -gA IO=()
  local i kind id t0 t1 status line first last count extra
  local -a wasm_rate=() runc_rate=()
  for ((i = 1; i <= IO_N; i++)); do
    for kind in wasm runc; do
      id="io-$kind-$TAG-$i"
      if [[ $kind == wasm ]]; then
        run_args wasm --rm "$IMG_BIGOUT" "$id" /app.wasm "$IO_MIB"
      else
        run_args runc --rm "$IMG_BUSYBOX" "$id" /bin/dd if=/dev/zero bs=65536 count=$((IO_MIB * 16))
      fi
      t0=$(now_us)
      # ctr's stderr (dd's summary, errors) stays out of the measured stream.
      line=$(ctr_ "${RUN_ARGS[@]}" </dev/null 2>"$WORK/io.err" | stream_reader "$bytes"; echo " ${PIPESTATUS[0]}")
      t1=$(now_us)
      read -r first last count extra status <<<"$line"
      local us=$((last - first)) ok=1
      [[ $status == 0 && $count == "$bytes" && $extra == 0 ]] || ok=0
      sample io "$kind" "$us" "bytes=$count extra=$extra rc=$status run_us=$((t1 - t0))"
      if ((ok && us > 0)); then
        # MB/s (10^6 bytes per second) times 10: bytes per µs is MB/s.
        if [[ $kind == wasm ]]; then wasm_rate+=($((bytes * 10 / us))); else runc_rate+=($((bytes * 10 / us))); fi
      else
        IO[$kind.failed]=$((${IO[$kind.failed]:-0} + 1))
        log "$kind I/O run $i: rc=$status bytes=$count extra=$extra ($(tail -c 300 "$WORK/io.err"))"
      fi
    done
  done
  IO[wasm.rate10]=$(percentile 50 "${wasm_rate[@]}")
  IO[runc.rate10]=$(percentile 50 "${runc_rate[@]}")
}

# ---------------------------------------------------------------------------------------------------------
# 5. Kill latency

# Prefixes every line of stdin with the time it arrived (µs).
stamp_lines() {
  local line t
  while IFS= read -r line; do
    t=$EPOCHREALTIME
    printf '%s %s\n' "${t/./}" "$line"
  done
}

# µs at which containerd published /tasks/exit for ID, from the stamped event log; empty if none.
exit_event_us() {
  awk -v id="\"container_id\":\"$1\"" '$7 == "/tasks/exit" && index($0, id) { print $1; exit }' "$WORK/events.txt"
}

# One kill: starts a foreground `ctr run --rm` of CASE, waits for its ready line, sends SIGKILL.
# Sets KILL_EXIT_US (kill -> /tasks/exit), KILL_RUN_US (kill -> the foreground ctr's end), KILL_RC.
kill_once() {
  local case=$1 id=$2 out="$WORK/kill.out" ready
  case $case in
    spin) ready=spinning; run_args wasm --rm "$IMG_SPIN" "$id" /app.wasm ;;
    sleep) ready=sleeping; run_args wasm --rm "$IMG_SLEEP" "$id" /app.wasm 3600 ;;
    runc) ready=sleeping; run_args runc --rm "$IMG_BUSYBOX" "$id" /bin/sh -c 'echo sleeping; exec sleep 3600' ;;
  esac
  ctr_ "${RUN_ARGS[@]}" </dev/null >"$out" 2>&1 &
  local fg=$!
  BG_PIDS+=("$fg")
  local deadline=$(($(now_us) + 30000000))
  until grep -q "$ready" "$out" 2>/dev/null; do
    if ! kill -0 "$fg" 2>/dev/null || (($(now_us) > deadline)); then
      log "kill $case: the guest never printed '$ready': $(tail -c 500 "$out")"
      KILL_EXIT_US="" KILL_RUN_US="" KILL_RC=-1
      kill "$fg" 2>/dev/null || true
      wait "$fg" 2>/dev/null || true
      forget "$fg"
      ctr_ task delete -f "$id" >/dev/null 2>&1 || true
      ctr_ containers rm "$id" >/dev/null 2>&1 || true
      return
    fi
    sleep 0.01
  done

  # The ready line can come before containerd has marked the task started; a kill then fails.
  wait_tasks "$id" RUNNING 1 10 || log "kill $case: $id not RUNNING after 10 s"

  local t0 t2 rc=0
  t0=$(now_us)
  ctr_ task kill -s SIGKILL "$id" >"$WORK/kill.err" 2>&1 || log "kill $case: ctr task kill failed: $(tail -c 300 "$WORK/kill.err")"
  # The foreground ctr ends once the task is gone. Block on it (no polling to compete for the CPU), with a
  # watchdog that ends it after 15 s: that is a miss.
  (sleep 15 && kill "$fg" 2>/dev/null) &
  local dog=$!
  BG_PIDS+=("$dog")
  wait "$fg" || rc=$?
  t2=$(now_us)
  forget "$fg"
  if kill -0 "$dog" 2>/dev/null; then
    pkill -P "$dog" 2>/dev/null || true # its sleep
    kill "$dog" 2>/dev/null || true
    KILL_RC=$rc
  else
    KILL_RC=timeout
    ctr_ task delete -f "$id" >/dev/null 2>&1 || true
    ctr_ containers rm "$id" >/dev/null 2>&1 || true
  fi
  wait "$dog" 2>/dev/null || true
  forget "$dog"
  KILL_RUN_US=$((t2 - t0))
  local te
  te=$(exit_event_us "$id")
  KILL_EXIT_US=""
  [[ -z $te ]] || KILL_EXIT_US=$((te - t0))
}

bench_kill() {
  log "5. kill latency: SIGKILL to a spinning guest, a sleeping guest and runc busybox sleep, $KILL_N each"
  declare -gA KILL=()
  mkfifo "$WORK/events.fifo"
  stamp_lines <"$WORK/events.fifo" >"$WORK/events.txt" &
  local stamp_pid=$!
  BG_PIDS+=("$stamp_pid")
  ctr -a "$SOCK" -n "$NS" events >"$WORK/events.fifo" 2>/dev/null &
  local events_pid=$!
  BG_PIDS+=("$events_pid")
  sleep 0.3

  local i case
  local -A misses=() exits=() runs=()
  for ((i = 1; i <= KILL_N; i++)); do
    for case in spin sleep runc; do
      # A case that missed twice is hopeless; skip it rather than wait 15 s per try.
      ((${misses[$case]:-0} < 2)) || continue
      kill_once "$case" "kill-$case-$TAG-$i"
      sample kill "$case" "${KILL_EXIT_US:-}" "run_us=${KILL_RUN_US:-} rc=$KILL_RC"
      if [[ $KILL_RC == 137 && -n $KILL_EXIT_US ]]; then
        exits[$case]+=" $KILL_EXIT_US"
        runs[$case]+=" $KILL_RUN_US"
      else
        misses[$case]=$((${misses[$case]:-0} + 1))
        log "kill $case #$i: rc=$KILL_RC exit-event=${KILL_EXIT_US:-none} run=${KILL_RUN_US:-}"
      fi
    done
  done
  kill "$events_pid" 2>/dev/null || true
  wait "$events_pid" "$stamp_pid" 2>/dev/null || true
  forget "$events_pid"
  forget "$stamp_pid"
  for case in spin sleep runc; do
    # shellcheck disable=SC2086 # the lists are space-separated on purpose
    KILL[$case.n]=$(wc -w <<<"${exits[$case]:-}")
    KILL[$case.misses]=${misses[$case]:-0}
    KILL[$case.p50]=$(percentile 50 ${exits[$case]:-})
    KILL[$case.p99]=$(percentile 99 ${exits[$case]:-})
    KILL[$case.run50]=$(percentile 50 ${runs[$case]:-})
    KILL[$case.run99]=$(percentile 99 ${runs[$case]:-})
  done
}

# ---------------------------------------------------------------------------------------------------------
# 6. Where a cold start goes: one traced run each, from the kernel's exec/exit tracepoints (perf), so the
# timeline needs nothing from the shim. Skipped when perf is missing or cannot trace.

perf_works() {
  command -v perf >/dev/null || return 1
  perf record -q -e sched:sched_process_fork -e sched:sched_process_exec -e sched:sched_process_exit \
    -e syscalls:sys_exit_accept4 -a -o "$WORK/perf-probe.data" -- true >/dev/null 2>&1
}

# Lines of containerd's log (from byte OFFSET on) about container ID, the wasm shim's own log lines, and task
# events, as "epoch-µs<TAB>text".
log_lines() {
  local offset=$1 id=$2
  tail -c +$((offset + 1)) "$RUN_DIR/containerd.log" | awk -v id="$id" '
    !(index($0, id) || /wasmkata\[[0-9]+\]/ || /topic=\/tasks\//) { next }
    /Performing phase/ { next } # the steps of Akka coordinated shutdown: a dozen lines of nothing
    match($0, /^time="[^"]+"/) {
      ts = substr($0, 7, RLENGTH - 7); text = ""
      if (match($0, /msg="[^"]*"/)) text = substr($0, RSTART + 5, RLENGTH - 6)
      if (match($0, /topic=[^ ]+/)) text = text " " substr($0, RSTART + 6, RLENGTH - 6)
      print ts "\tcontainerd: " substr(text, 1, 100); next
    }
    match($0, /^[0-9][0-9T:.-]+Z [A-Z]+ wasmkata\[[0-9]+\] /) {
      ts = substr($0, 1, index($0, " ") - 1); text = substr($0, RLENGTH + 1)
      print ts "\tshim log: " substr(text, 1, 100)
    }' >"$WORK/log.tsv"
  paste <(cut -f1 "$WORK/log.tsv" | date -f - +%s%6N) <(cut -f2 "$WORK/log.tsv")
}

# Traces one hello run of KIND and sets TRACE_LINES to its timeline, "ms  pid  what", from ctr's exec to its
# exit: the exec and exit of every process descending from this shell or from containerd (ctr, the shim's
# start action, daemon and delete action, runc, the container's process) and each one's first accept4 (from
# kernel tracepoints, by perf), merged with containerd's log lines about the container and the shim's own
# (wall clock, placed within ~1 ms; the shim's carry ms only). Sets TRACE_RUN_US.
trace_one() {
  local kind=$1 id=$2 data="$WORK/perf-$1.data" perf_pid
  perf record -q -e sched:sched_process_fork -e sched:sched_process_exec -e sched:sched_process_exit \
    -e syscalls:sys_exit_accept4 -a -o "$data" >/dev/null 2>&1 &
  perf_pid=$!
  BG_PIDS+=("$perf_pid")
  sleep 1 # perf needs a moment before it records
  local log_offset anchor
  log_offset=$(stat -c %s "$RUN_DIR/containerd.log")
  anchor=$(now_us) # wall clock just before the first exec (timeout's) of the run
  hello_run "$kind" "$id" "$WORK/trace.out"
  sleep 0.5
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  forget "$perf_pid"
  ((RUN_OK)) || log "traced $kind run failed: $(tail -c 300 "$WORK/trace.out")"
  TRACE_RUN_US=$RUN_US
  log_lines "$log_offset" "$id" >"$WORK/log-us.tsv"
  local roots="$BASHPID $(cat "$RUN_DIR/containerd.pid")" # taken here: inside $(...) BASHPID is the subshell's
  TRACE_LINES=$(perf script -i "$data" -F pid,time,event,trace 2>/dev/null | awk \
    -v roots="$roots" -v anchor="$anchor" -v logfile="$WORK/log-us.tsv" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) ours[r[i]] = 1 }
    function sec(t) { sub(":", "", t); return t + 0 }
    function at(t) { return (sec(t) - t0) * 1000 }
    function field(name) {
      if (!match($0, name "=[^ ]+")) return ""
      return substr($0, RSTART + length(name) + 1, RLENGTH - length(name) - 1)
    }
    !($1 in ours) || ended { next }
    /sched_process_fork:/ { ours[field("child_pid")] = 1; next }
    /sched_process_exec:/ {
      f = field("filename")
      if (first == "") first = sec($2)
      if (!started) { if (f !~ /\/ctr$/) next; started = 1; t0 = sec($2); ctr = $1 }
      k = split(f, parts, "/"); name[$1] = parts[k]; execs[$1] = 1
      printf "%.1f\t%s\texec %s\n", at($2), $1, f
      next
    }
    !started || !($1 in execs) { next }
    /sched_process_exit:/ && /group_dead=(1|true)/ {
      printf "%.1f\t%s\texit %s\n", at($2), $1, name[$1]
      if ($1 == ctr) { ended = 1; end_ms = at($2) }
      next
    }
    /sys_exit_accept4:/ && !($1 in accepted) {
      accepted[$1] = 1
      printf "%.1f\t%s\tfirst accept4 returns: %s serves\n", at($2), $1, name[$1]
    }
    END {
      # Wall clock -> this timeline: the anchor was read just before the first exec.
      shift = (t0 - first) * 1000
      while ((getline line < logfile) > 0) {
        split(line, cols, "\t")
        ms = (cols[1] - anchor) / 1000 - shift
        if (ms >= -50 && (!ended || ms <= end_ms + 50)) printf "%.1f\t\t%s\n", ms, cols[2]
      }
    }' | sort -t$'\t' -k1,1g -s | awk -F'\t' '{ printf "%8.1f  %-7s %s\n", $1, $2, $3 }')
}

bench_breakdown() {
  if ! perf_works; then
    log "6. breakdown: skipped (perf is missing or cannot use the sched tracepoints)"
    BREAKDOWN=""
    return
  fi
  log "6. breakdown: one traced cold start each"
  trace_one wasm "trace-wasm-$TAG"
  local wasm_lines=$TRACE_LINES wasm_us=$TRACE_RUN_US
  trace_one runc "trace-runc-$TAG"
  local runc_lines=$TRACE_LINES runc_us=$TRACE_RUN_US
  BREAKDOWN=$(
    printf 'wasm (ctr run took %s ms, traced):\n%s\n\nrunc (ctr run took %s ms, traced):\n%s\n' \
      "$(ms "$wasm_us")" "$wasm_lines" "$(ms "$runc_us")" "$runc_lines"
  )
}

# ---------------------------------------------------------------------------------------------------------
# The report

met() { # 1 when the goal is met
  if (($1)); then echo "yes"; else echo "**no**"; fi
}

# Each section adds its summary rows (SUMMARY) and its detail table (DETAILS).
SUMMARY=()
DETAILS=()
summary() { SUMMARY+=("$@"); }
detail() { DETAILS+=("$@"); }
MIB=1024 # kB

report_cold() {
  local c=$COLD_N w50=${COLD_US[wasm50]} r50=${COLD_US[runc50]}
  summary "| 1 | cold start, median of $c (\`ctr run --rm\`) | $(ms "$w50") ms | $(ms "$r50") ms | $(ratio "$w50" "$r50") | ratio <= 1 | $(met $((w50 <= r50))) |"
  detail "## 1. Cold start" "" \
    "Wall time of \`ctr run --rm\` from spawn to exit: hello.wasm through the shim (a new shim daemon per" \
    "container) vs runc running static busybox \`echo hi\`. One warm-up each, then $c each, interleaved." \
    "\"Existing sandbox\" runs the same container in a sandbox whose shim is already up (a sleeping container" \
    "with the same \`$GROUP_ANNOTATION\` keeps it alive): what a container costs once its daemon exists." "" \
    "| run | WasmKata median | p90 | runc median | p90 | ratio (medians) | failed (wasm/runc) |" \
    "|---|---|---|---|---|---|---|" \
    "| new sandbox (cold) | $(ms "$w50") ms | $(ms "${COLD_US[wasm90]}") ms | $(ms "$r50") ms | $(ms "${COLD_US[runc90]}") ms | $(ratio "$w50" "$r50") | ${COLD_FAIL[wasm]:-0}/${COLD_FAIL[runc]:-0} |" \
    "| existing sandbox | $(ms "${COLD_US[warmwasm50]}") ms | $(ms "${COLD_US[warmwasm90]}") ms | $(ms "${COLD_US[warmrunc50]}") ms | $(ms "${COLD_US[warmrunc90]}") ms | $(ratio "${COLD_US[warmwasm50]}" "${COLD_US[warmrunc50]}") | ${COLD_FAIL[warmwasm]:-0}/${COLD_FAIL[warmrunc]:-0} |" \
    ""
}

report_density() {
  local n=$DENSITY_N extra=$((DENSITY_N > 1 ? DENSITY_N - 1 : 1)) k
  local -A per=() # per extra container, kB: wasm.rss wasm.pss runc.rss runc.pss
  for k in wasm.rss wasm.pss runc.rss runc.pss; do
    per[$k]=$(((${DENSITY[$k]} - ${DENSITY[${k}1]}) / extra))
  done
  local wgrowth=$((DENSITY[wasm.threads] - DENSITY[wasm.threads1])) rgrowth=$((DENSITY[runc.threads] - DENSITY[runc.threads1]))
  summary "| 2 | density: resident memory per extra container ($n in one sandbox) | $(ratio "${per[wasm.rss]}" $MIB) MiB | $(ratio "${per[runc.pss]}" $MIB) MiB (PSS) | $(ratio "${per[wasm.rss]}" "${per[runc.pss]}") | <= 1 MiB | $(met $((per[wasm.rss] <= MIB))) |" \
    "| 2 | density: shim processes for $n containers | ${DENSITY[wasm.shims]} | ${DENSITY[runc.shims]} (+ $n container processes) | | 1 | $(met $((DENSITY[wasm.shims] == 1))) |" \
    "| 2 | density: threads per extra live guest (threads with 1 -> $n) | $(ratio "$wgrowth" "$extra") (${DENSITY[wasm.threads1]} -> ${DENSITY[wasm.threads]}) | $(ratio "$rgrowth" "$extra") (${DENSITY[runc.threads1]} -> ${DENSITY[runc.threads]}, shim + containers) | | <= 1 | $(met $((wgrowth <= extra))) |"

  local gone_w="$(ms "${DENSITY[wasm.shimgone_us]}") ms" gone_r="$(ms "${DENSITY[runc.shimgone_us]}") ms"
  ((DENSITY[wasm.shimgone_us] >= 0)) || gone_w="still running after 10 s"
  ((DENSITY[runc.shimgone_us] >= 0)) || gone_r="still running after 10 s"
  detail "## 2. Density" "" \
    "$n sleeping containers (\`ctr run -d\`, one \`$GROUP_ANNOTATION\`): wasm sleep.wasm vs runc busybox \`sleep\`." \
    "Memory is read 2 s after the last start. For runc, memory and threads add the container processes to the" \
    "shim's, and the per-container figure uses PSS (shared busybox pages counted once)." "" \
    "| | WasmKata | runc |" "|---|---|---|" \
    "| containers RUNNING | ${DENSITY[wasm.running]} | ${DENSITY[runc.running]} |" \
    "| shim processes | ${DENSITY[wasm.shims]} | ${DENSITY[runc.shims]} |" \
    "| shim RSS with 1 container | $(ratio "${DENSITY[wasm.shimrss1]}" $MIB) MiB | $(ratio "${DENSITY[runc.shimrss1]}" $MIB) MiB |" \
    "| shim RSS with $n containers | $(ratio "${DENSITY[wasm.shimrss]}" $MIB) MiB | $(ratio "${DENSITY[runc.shimrss]}" $MIB) MiB |" \
    "| total RSS / PSS with 1 container | $(ratio "${DENSITY[wasm.rss1]}" $MIB) / $(ratio "${DENSITY[wasm.pss1]}" $MIB) MiB | $(ratio "${DENSITY[runc.rss1]}" $MIB) / $(ratio "${DENSITY[runc.pss1]}" $MIB) MiB |" \
    "| total RSS / PSS with $n containers | $(ratio "${DENSITY[wasm.rss]}" $MIB) / $(ratio "${DENSITY[wasm.pss]}" $MIB) MiB | $(ratio "${DENSITY[runc.rss]}" $MIB) / $(ratio "${DENSITY[runc.pss]}" $MIB) MiB |" \
    "| per extra container (RSS / PSS growth / $extra) | $(ratio "${per[wasm.rss]}" $MIB) / $(ratio "${per[wasm.pss]}" $MIB) MiB | $(ratio "${per[runc.rss]}" $MIB) / $(ratio "${per[runc.pss]}" $MIB) MiB |" \
    "| threads with 1 / $n containers | ${DENSITY[wasm.threads1]} / ${DENSITY[wasm.threads]} | ${DENSITY[runc.threads1]} / ${DENSITY[runc.threads]} |" \
    "| threads per extra container | $(ratio "$wgrowth" $extra) | $(ratio "$rgrowth" $extra) |" \
    "| shim threads by name, 1 container | ${DENSITY[wasm.names1]} | ${DENSITY[runc.names1]} |" \
    "| shim threads by name, $n containers | ${DENSITY[wasm.names]} | ${DENSITY[runc.names]} |" \
    "| starting containers 2..$n (\`ctr run -d\`, one after another) | $(ms "${DENSITY[wasm.start_us]}") ms ($(ms $((DENSITY[wasm.start_us] / extra))) ms each) | $(ms "${DENSITY[runc.start_us]}") ms ($(ms $((DENSITY[runc.start_us] / extra))) ms each) |" \
    "| teardown (\`ctr task delete -f\` + \`ctr containers rm\`, all $n) | $(ms "${DENSITY[wasm.teardown_us]}") ms | $(ms "${DENSITY[runc.teardown_us]}") ms |" \
    "| shim gone, after the teardown | $gone_w | $gone_r |" \
    ""
}

# A thousandth of a ms/s -> "1.234"
mms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

report_pods() {
  local n=$PODS_N wp=$((PODS[wasm.pss] / PODS_N)) rp=$((PODS[runc.pss] / PODS_N))
  local wi=$((PODS[wasm.idle_mms] / PODS_N)) ri=$((PODS[runc.idle_mms] / PODS_N))
  summary "| 2b | pods: proportional memory per pod ($n pods, each its own sandbox) | $(ratio "$wp" $MIB) MiB | $(ratio "$rp" $MIB) MiB | $(ratio "$wp" "$rp") | ratio <= 1 | $(met $((wp <= rp))) |" \
    "| 2b | pods: idle CPU per pod (ms/s, the processes' own CPU time) | $(mms "$wi") | $(mms "$ri") | | <= runc + 0.1 | $(met $((wi <= ri + 100))) |"
  detail "## 2b. Pods" "" \
    "$n pods, each its own sandbox (\`$GROUP_ANNOTATION\` = the container's id) with one sleeping container: wasm" \
    "sleep.wasm vs runc busybox \`sleep\`. Read 5 s after the last start; idle CPU is the change in the processes'" \
    "own CPU time (utime + stime in /proc/PID/stat, all threads) over ${PODS_IDLE_SECONDS} s. For runc a pod is its shim" \
    "and its container process." "" \
    "| | WasmKata | runc |" "|---|---|---|" \
    "| containers RUNNING | ${PODS[wasm.running]} | ${PODS[runc.running]} |" \
    "| shim processes | ${PODS[wasm.shims]} | ${PODS[runc.shims]} |" \
    "| PSS, all pods / per pod | $(ratio "${PODS[wasm.pss]}" $MIB) / $(ratio "$wp" $MIB) MiB | $(ratio "${PODS[runc.pss]}" $MIB) / $(ratio "$rp" $MIB) MiB |" \
    "| RSS, all pods / per pod | $(ratio "${PODS[wasm.rss]}" $MIB) / $(ratio $((PODS[wasm.rss] / n)) $MIB) MiB | $(ratio "${PODS[runc.rss]}" $MIB) / $(ratio $((PODS[runc.rss] / n)) $MIB) MiB |" \
    "| threads, all pods | ${PODS[wasm.threads]} | ${PODS[runc.threads]} |" \
    "| idle CPU, all pods / per pod | $(mms "${PODS[wasm.idle_mms]}") / $(mms "$wi") ms/s | $(mms "${PODS[runc.idle_mms]}") / $(mms "$ri") ms/s |" \
    "| one shim's PSS by mapping | ${PODS[wasm.where]} | ${PODS[runc.where]} |" \
    ""
}

cpu_per_container() {
  local ok=${TPUT[$1.ok]}
  ((ok > 0)) && echo $((TPUT[$1.cpu_ms] / ok)) || echo "-"
}

report_throughput() {
  local tw=${TPUT[wasm.rate100]} tr=${TPUT[runc.rate100]}
  summary "| 3 | throughput, $TPUT_WORKERS in parallel (containers/s) | $(ratio "$tw" 100) | $(ratio "$tr" 100) | $(ratio "$tw" "$tr") | ratio >= 1 | $(met $((tw >= tr))) |"
  detail "## 3. Throughput" "" \
    "$TPUT_WORKERS workers, each running \`ctr run --rm\` (create, run to exit, delete) of hello.wasm or busybox" \
    "\`echo\` one after another, up to $TPUT_N runs or until ${TPUT_SECONDS} s have passed (runs under way then" \
    "still finish and count). Rate = containers completed / wall time." "" \
    "| | WasmKata | runc |" "|---|---|---|" \
    "| containers completed (failed) | ${TPUT[wasm.ok]} (${TPUT[wasm.failed]}) | ${TPUT[runc.ok]} (${TPUT[runc.failed]}) |" \
    "| wall time | $(ms "${TPUT[wasm.wall_us]}") ms | $(ms "${TPUT[runc.wall_us]}") ms |" \
    "| containers per second | $(ratio "$tw" 100) | $(ratio "$tr" 100) |" \
    "| median \`ctr run\` under this load | $(ms "${TPUT[wasm.p50]}") ms | $(ms "${TPUT[runc.p50]}") ms |" \
    "| machine CPU time per container (ctr, containerd, shims, runtime; from /proc/stat) | $(cpu_per_container wasm) ms | $(cpu_per_container runc) ms |" \
    ""
}

report_io() {
  local iw=${IO[wasm.rate10]} ir=${IO[runc.rate10]}
  summary "| 4 | I/O, $IO_MIB MiB stdout to a reader (MB/s, median of $IO_N) | $(ratio "$iw" 10) | $(ratio "$ir" 10) | $(ratio "$iw" "$ir") | ratio >= 1 | $(met $((iw >= ir))) |"
  detail "## 4. I/O" "" \
    "$IO_MIB MiB written to stdout in 64 KiB writes: bigout.wasm (byte i % 251, computed by the guest) vs" \
    "busybox \`dd if=/dev/zero bs=65536\` under runc. Path: container -> containerd's stdout FIFO -> \`ctr run\`" \
    "-> pipe -> reader. Timed from the reader's first byte to its last, so start-up is left out; every byte" \
    "is counted. $IO_N each, interleaved." "" \
    "| | WasmKata | runc | ratio |" "|---|---|---|---|" \
    "| MB/s (10^6 B/s), median | $(ratio "$iw" 10) | $(ratio "$ir" 10) | $(ratio "$iw" "$ir") |" \
    "| failed runs | ${IO[wasm.failed]:-0} | ${IO[runc.failed]:-0} | |" \
    ""
}

report_kill() {
  local case label p99 rp99=${KILL[runc.p99]} cell
  for case in spin sleep; do
    label=spinning
    [[ $case == spin ]] || label="sleeping (blocked in poll_oneoff)"
    p99=${KILL[$case.p99]}
    cell="$(ms "$p99") ms"
    ((KILL[$case.misses] == 0)) || cell+=", ${KILL[$case.misses]} missed"
    summary "| 5 | kill latency p99, $label guest (SIGKILL -> exit event) | $cell | $(ms "$rp99") ms | $(ratio "$p99" "$rp99") | < 100 ms | $(met $((KILL[$case.misses] == 0 && p99 > 0 && p99 < 100000))) |"
  done
  detail "## 5. Kill latency" "" \
    "A foreground \`ctr run --rm\` runs the guest; once it has printed its ready line, \`ctr task kill -s SIGKILL\`." \
    "\"exit event\": from spawning \`ctr task kill\` to containerd publishing /tasks/exit (read from \`ctr events\`);" \
    "\"run ends\": to the foreground ctr's exit (which also deletes the task and the container)." \
    "$KILL_N each, interleaved; p99 is the nearest rank (with $KILL_N samples, the worst one). A case that misses" \
    "(no exit 137 within 15 s) twice is not tried again." "" \
    "| guest | samples | missed | exit event p50 | exit event p99 | run ends p50 | run ends p99 |" \
    "|---|---|---|---|---|---|---|"
  for case in spin sleep runc; do
    case $case in
      spin) label="wasm spin.wasm (computing)" ;;
      sleep) label="wasm sleep.wasm (in poll_oneoff)" ;;
      runc) label="runc busybox sleep" ;;
    esac
    detail "| $label | ${KILL[$case.n]} | ${KILL[$case.misses]} | $(ms "${KILL[$case.p50]}") ms | $(ms "${KILL[$case.p99]}") ms | $(ms "${KILL[$case.run50]}") ms | $(ms "${KILL[$case.run99]}") ms |"
  done
  detail ""
}

source "$BENCH_DIR/bench-yosys.sh"
source "$BENCH_DIR/bench-isolation.sh"

report_breakdown() {
  [[ -n ${BREAKDOWN:-} ]] || return 0
  detail "## 6. Where a cold start goes (one traced run each)" "" \
    "Kernel exec/exit tracepoints (perf) and each process's first accept4 (a daemon serving), in ms from" \
    "\`ctr\`'s exec; every process descends from the bench or from containerd. The shim runs three times:" \
    "the start action and (for each container) the delete action, and the daemon (named wasmkata-shimd) that" \
    "the start action spawns: one NativeAOT executable each time." "" \
    '```' "$BREAKDOWN" '```' ""
}

# PATH relative to the repo when inside it.
shown() { if [[ $1 == "$REPO"/* ]]; then echo "${1#"$REPO"/}"; else echo "$1"; fi; }

write_report() {
  local elapsed_us=$1 section
  for section in $SECTIONS; do "report_$section"; done
  {
    printf '%s\n' "# WasmKata benchmark" "" "| fact | value |" "|---|---|"
    printf '%s\n' "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
    printf '%s\n' "| command | \`$BENCH_COMMAND\` ($( ((QUICK)) && echo quick || echo full) run of: $SECTIONS; took $((elapsed_us / 1000000)) s) |"
    printf '%s\n' "| machine | $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM |"
    printf '%s\n' "| kernel | $(uname -r) |"
    printf '%s\n' "| load average at start / end | $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg) |"
    printf '%s\n' "| containerd / runc | $(containerd --version | awk '{ print $3 }') / $(runc --version | awk 'NR == 1 { print $3 }') |"
    printf '%s\n' "| snapshotter | $SNAPSHOTTER |"
    printf '%s\n' "| shim | \`$SHIM_DIR/$WASM_SHIM\` from $SHIM_SOURCE |"
    printf '%s\n' "| spare daemons (\`WASMKATA_SPARE_SECONDS\` in containerd's environment) | ${WASMKATA_SPARE_SECONDS:-unset: off} |"
    printf '%s\n' ""
    if ((${#SUMMARY[@]} > 0)); then
      printf '%s\n' "## Summary (ratio = WasmKata / runc, measured in this run)" "" \
        "| # | measure | WasmKata | runc | ratio | goal | met |" "|---|---|---|---|---|---|---|" "${SUMMARY[@]}" ""
    fi
    printf '%s\n' "${DETAILS[@]}"
    printf '%s\n' "Raw samples in microseconds: \`$(shown "$SAMPLES")\`; containerd's log: \`$(shown "$OUT_DIR/containerd.log")\`."
  } >"$RESULTS"
}

# ---------------------------------------------------------------------------------------------------------

main() {
  ((EUID == 0)) || die "needs root (it starts containerd and runc containers)"
  local tool section
  for tool in containerd ctr runc busybox; do
    command -v "$tool" >/dev/null || die "$tool is missing (Specs/EndToEnd/deps.sh installs it)"
  done
  [[ -x $SHIM_DIR/$WASM_SHIM ]] || die "$SHIM_DIR/$WASM_SHIM is missing (run ./build.sh)"
  for section in $SECTIONS; do
    declare -F "bench_$section" >/dev/null || die "unknown section $section (cold density pods throughput io kill breakdown yosys isolation)"
  done

  SHIM_SOURCE="git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
  local dirty
  dirty=$(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^??' || true)
  ((dirty == 0)) || SHIM_SOURCE+=" + $dirty modified files"
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

  local started
  started=$(now_us)
  [[ -n ${BENCH_KEEP_WORK:-} ]] || rm -rf "$WORK"
  mkdir -p "$WORK"
  printf 'section\tkind\tvalue_us\tnote\n' >"$SAMPLES"

  # A bench killed earlier may have left its containerd behind.
  wasmkata_containerd_stop "$RUN_DIR"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "starting a private containerd in $RUN_DIR (root $ROOT_DIR), shim from $SHIM_DIR"
  wasmkata_containerd_start --root "$ROOT_DIR" --shim-dir "$SHIM_DIR" "$RUN_DIR"
  log "building and importing the images ($SNAPSHOTTER snapshotter)"
  build_images

  for section in $SECTIONS; do "bench_$section"; done

  write_report $(($(now_us) - started))
  echo
  cat "$RESULTS"
  [[ -n ${BENCH_KEEP_WORK:-} ]] || rm -rf "$WORK"
}

main
