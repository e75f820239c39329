# Section 8 of bench.sh (sourced by it): what guest_isolation = "process" adds to "thread", as ratios against thread
# mode measured in the same run (docs/guest-host.md). Three variants, one containerd:
#   thread    guests are threads of the sandbox's daemon
#   process   each guest in a confined wasmkata-guest-host process (the daemon runs it from beside itself)
#   shimhost  the same, but the guest host is the shim's own executable in guest-host mode (before the guest host
#             had a program of its own): a copy of the shim directory in which wasmkata-guest-host is a hard link to
#             the shim, run by its absolute path (`ctr run --runtime /path/containerd-shim-wasmkata-v2`)
# Measures:
#   cold start    `ctr run --rm` of hello, a new sandbox each, the three interleaved, median of ISO_COLD_N
#   memory        ISO_N sleeping containers in one sandbox: PSS of the daemon and its guest hosts with 1 and with
#                 ISO_N, and the PSS per extra container
#   start-ready   the guest host alone, as the daemon starts it (fds, -control-fd): from the spawn to its "ready"
#                 line (stage 1, exec, stage 2, engine, compile of hello), each program, interleaved, median
# Tunables: BENCH_ISO_N (10 sleepers), BENCH_ISO_COLD_N (BENCH_COLD_N), BENCH_ISO_READY_N (15).

ISO_N=${BENCH_ISO_N:-$((QUICK ? 4 : 10))}
ISO_COLD_N=${BENCH_ISO_COLD_N:-$COLD_N}
ISO_READY_N=${BENCH_ISO_READY_N:-$((QUICK ? 5 : 15))}
ISO_UID=2100000 # a plain non-root uid (slot 0's root id): this part runs a guest host directly, outside any sandbox
ISO_VARIANTS=(thread process shimhost)

# `ctr run` arguments for VARIANT: its runtime (the shim by name, or the shimhost copy by path) and its config.
iso_args() {
  local variant=$1; shift
  local runtime=$WASM_RUNTIME config=process
  [[ $variant != shimhost ]] || runtime=$ISO_DIR/bin/$WASM_SHIM
  [[ $variant != thread ]] || config=thread
  RUN_ARGS=(run --snapshotter "$SNAPSHOTTER" --runtime "$runtime" --runtime-config-path "$ISO_DIR/$config.toml" "$@")
}

iso_hello() { # VARIANT ID: sets RUN_US, RUN_OK
  local file=$WORK/iso.out t0 t1
  iso_args "$1" --rm "$IMG_HELLO" "$2"
  t0=$EPOCHREALTIME
  RUN_RC=0
  ctr_ "${RUN_ARGS[@]}" </dev/null >"$file" 2>&1 || RUN_RC=$?
  t1=$EPOCHREALTIME
  RUN_US=$((${t1/./} - ${t0/./}))
  [[ $RUN_RC == 0 && $(<"$file") == "hello from wasm" ]] && RUN_OK=1 || RUN_OK=0
}

# PSS (kB) of a daemon and its children (guest hosts; in thread mode none).
iso_pss() {
  local pids
  mapfile -t pids < <(pgrep -P "$1" || true)
  proc_sum Pss "$1" "${pids[@]}"
}

iso_memory() { # VARIANT: fills ISO[variant.pss1 pss hosts where]
  local variant=$1 group="iso-$1-$TAG" i pid daemon
  for ((i = 1; i <= ISO_N; i++)); do
    iso_args "$variant" -d --annotation "$GROUP_ANNOTATION=$group" "$IMG_SLEEP" "$group-$i" /app.wasm 3600
    ctr_ "${RUN_ARGS[@]}" </dev/null >/dev/null || log "isolation: $variant sleeper $i failed to start"
    if ((i == 1)); then
      wait_tasks "$group-" RUNNING 1 30 || log "isolation: $variant's first sleeper is not RUNNING"
      sleep 2
      pid=$(ctr_ task ls | awk -v id="$group-1" '$1 == id { print $2 }')
      # The task's pid: a thread of the daemon (thread) or a guest host, the daemon's child.
      if [[ $variant == thread ]]; then
        daemon=$(awk '/^Tgid:/ { print $2 }' "/proc/$pid/status")
      else
        daemon=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
        ISO[$variant.where]=$(pss_by_mapping "$pid")
        ISO[$variant.threads]=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
      fi
      ISO[$variant.pss1]=$(iso_pss "$daemon")
    fi
  done
  wait_tasks "$group-" RUNNING "$ISO_N" 60 || log "isolation: not all $ISO_N $variant sleepers are RUNNING"
  sleep 3
  ISO[$variant.pss]=$(iso_pss "$daemon")
  ISO[$variant.hosts]=$( (pgrep -P "$daemon" || true) | wc -l)
  ISO[$variant.running]=$(count_tasks "$group-" RUNNING)
  sample isolation "$variant-pss1" "${ISO[$variant.pss1]}" "kB PSS, daemon + guest hosts, 1 sleeper"
  sample isolation "$variant-pss" "${ISO[$variant.pss]}" "kB PSS, daemon + ${ISO[$variant.hosts]} guest hosts, $ISO_N sleepers"
  local ids
  mapfile -t ids < <(ctr_ containers ls -q | grep "^$group-")
  ctr_ task delete -f "${ids[@]}" >/dev/null 2>&1 || log "isolation: task delete -f reported an error"
  ctr_ containers rm "${ids[@]}" >/dev/null 2>&1 || log "isolation: containers rm reported an error"
}

# One guest host started as the daemon starts it, timed from the spawn to its "ready" line; then "start", and its
# exit line. PROGRAM; sets READY_US (0 when it did not report ready core and exit 0).
iso_ready_once() {
  local program=$1 dir=$ISO_DIR/ready line t0 t1 pid
  rm -f "$dir/report" "$dir/control"
  mkfifo "$dir/report" "$dir/control"
  t0=$EPOCHREALTIME
  (exec "$program" guest-host -uid $ISO_UID -gid $ISO_UID -report-fd 3 -control-fd 4 -rootfs-fd 5 -module-fd 6 \
    -seccomp kill -- hello 3>"$dir/report" 4<>"$dir/control" 5<"$dir/rootfs" 6<"$ISO_DIR/hello.wasm" >/dev/null) &
  pid=$!
  BG_PIDS+=("$pid")
  READY_US=0
  {
    read -r -t 30 line || true
    t1=$EPOCHREALTIME
    if [[ $line == "ready core" ]]; then
      echo start >"$dir/control"
      read -r -t 30 line || true
      [[ $line == "exit 0" ]] && READY_US=$((${t1/./} - ${t0/./}))
    fi
  } <"$dir/report"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget "$pid"
}

bench_isolation() {
  log "8. isolation: thread vs process (wasmkata-guest-host) vs the shim as guest host; $ISO_COLD_N cold starts each, $ISO_N sleepers"
  declare -gA ISO=()
  ISO_DIR=$WORK/isolation
  rm -rf "$ISO_DIR"
  mkdir -p "$ISO_DIR/bin" "$ISO_DIR/ready/rootfs"
  [[ -x $SHIM_DIR/wasmkata-guest-host ]] || die "$SHIM_DIR/wasmkata-guest-host is missing (run ./build.sh)"
  # Hard links (the same inodes, so the same page cache as out/bin) where the file system allows, else copies.
  cp -l "$SHIM_DIR/$WASM_SHIM" "$SHIM_DIR/libwasmtime.so" "$ISO_DIR/bin/" 2>/dev/null ||
    cp "$SHIM_DIR/$WASM_SHIM" "$SHIM_DIR/libwasmtime.so" "$ISO_DIR/bin/"
  ln "$ISO_DIR/bin/$WASM_SHIM" "$ISO_DIR/bin/wasmkata-guest-host"
  printf '[wasmkata]\nguest_isolation = "thread"\n' >"$ISO_DIR/thread.toml"
  printf '[wasmkata]\nguest_isolation = "process"\n' >"$ISO_DIR/process.toml"
  cp "$GUESTS_DIR/hello.wasm" "$ISO_DIR/hello.wasm"
  # The guest host's uid must reach its rootfs; the work directory may be 0700 for root.
  chown "$ISO_UID:$ISO_UID" "$ISO_DIR/ready/rootfs"
  chmod 755 "$ISO_DIR" "$ISO_DIR/ready"

  local i variant
  local -A runs=()
  for ((i = 0; i <= ISO_COLD_N; i++)); do
    for variant in "${ISO_VARIANTS[@]}"; do
      iso_hello "$variant" "iso-cold-$variant-$TAG-$i"
      if ((i == 0)); then
        ((RUN_OK)) || die "the isolation $variant warm-up run failed: $(tail -c 2000 "$WORK/iso.out")"
        continue
      fi
      sample isolation "cold-$variant" "$RUN_US" "rc=$RUN_RC ok=$RUN_OK"
      if ((RUN_OK)); then runs[$variant]+=" $RUN_US"; else ISO[$variant.coldfail]=$((${ISO[$variant.coldfail]:-0} + 1)); fi
    done
  done
  for variant in "${ISO_VARIANTS[@]}"; do
    # shellcheck disable=SC2086 # the list of samples
    ISO[$variant.cold]=$(percentile 50 ${runs[$variant]:-})
  done

  for variant in "${ISO_VARIANTS[@]}"; do iso_memory "$variant"; done

  # Start to ready of the guest host alone: wasmkata-guest-host vs the shim, interleaved; one warm-up each.
  local -a ready_gh=() ready_shim=()
  ISO[readyfail]=0
  for ((i = 0; i <= ISO_READY_N; i++)); do
    iso_ready_once "$SHIM_DIR/wasmkata-guest-host"
    ((i == 0)) || { ((READY_US > 0)) && ready_gh+=("$READY_US") || ISO[readyfail]=$((ISO[readyfail] + 1)); }
    ((i == 0)) || sample isolation ready-guest-host "$READY_US"
    iso_ready_once "$SHIM_DIR/$WASM_SHIM"
    ((i == 0)) || { ((READY_US > 0)) && ready_shim+=("$READY_US") || ISO[readyfail]=$((ISO[readyfail] + 1)); }
    ((i == 0)) || sample isolation ready-shim "$READY_US"
  done
  ISO[ready.gh]=$(percentile 50 "${ready_gh[@]}") ISO[ready.shim]=$(percentile 50 "${ready_shim[@]}")
  ISO[size.gh]=$(stat -c %s "$SHIM_DIR/wasmkata-guest-host") ISO[size.shim]=$(stat -c %s "$SHIM_DIR/$WASM_SHIM")
}

report_isolation() {
  local extra=$((ISO_N > 1 ? ISO_N - 1 : 1)) variant
  local -A per=()
  for variant in "${ISO_VARIANTS[@]}"; do
    per[$variant]=$(((ISO[$variant.pss] - ISO[$variant.pss1]) / extra))
  done
  local tc=${ISO[thread.cold]} pc=${ISO[process.cold]} sc=${ISO[shimhost.cold]}
  summary "| 8 | isolation: cold start, process / thread, median of $ISO_COLD_N (\`ctr run --rm\` hello) | $(ms "$pc") ms (process) | $(ms "$tc") ms (thread) | $(ratio "$pc" "$tc") | | |" \
    "| 8 | isolation: PSS per extra container, process / thread ($ISO_N in one sandbox) | $(ratio "${per[process]}" $MIB) MiB (process) | $(ratio "${per[thread]}" $MIB) MiB (thread) | $(ratio "${per[process]}" "${per[thread]}") | | |"
  detail "## 8. Process isolation (guest_isolation = \"process\") against thread" "" \
    "Three variants on one containerd: **thread** (guests are threads of the daemon), **process** (each guest in a" \
    "confined \`wasmkata-guest-host\`, $(ratio "${ISO[size.gh]}" $((MIB * MIB))) MiB on disk) and **shim as guest host**" \
    "(the same, the guest host being the shim's own executable, $(ratio "${ISO[size.shim]}" $((MIB * MIB))) MiB: how it" \
    "was before the guest host had a program of its own). Cold start: \`ctr run --rm\` of hello.wasm, a new sandbox" \
    "each, the three interleaved, one warm-up each. Memory: $ISO_N sleeping containers in one sandbox, PSS of the" \
    "daemon and its guest hosts (\`smaps_rollup\`) 2 s after the first start and 3 s after the last." \
    "Ratios are against thread, from this run." "" \
    "| | thread | process | shim as guest host |" "|---|---|---|---|" \
    "| cold start, median of $ISO_COLD_N | $(ms "$tc") ms | $(ms "$pc") ms ($(ratio "$pc" "$tc")x) | $(ms "$sc") ms ($(ratio "$sc" "$tc")x) |" \
    "| failed runs | ${ISO[thread.coldfail]:-0} | ${ISO[process.coldfail]:-0} | ${ISO[shimhost.coldfail]:-0} |" \
    "| PSS, 1 container | $(ratio "${ISO[thread.pss1]}" $MIB) MiB | $(ratio "${ISO[process.pss1]}" $MIB) MiB | $(ratio "${ISO[shimhost.pss1]}" $MIB) MiB |" \
    "| PSS, $ISO_N containers (guest hosts) | $(ratio "${ISO[thread.pss]}" $MIB) MiB | $(ratio "${ISO[process.pss]}" $MIB) MiB (${ISO[process.hosts]}) | $(ratio "${ISO[shimhost.pss]}" $MIB) MiB (${ISO[shimhost.hosts]}) |" \
    "| **PSS per extra container** | $(ratio "${per[thread]}" $MIB) MiB | $(ratio "${per[process]}" $MIB) MiB | $(ratio "${per[shimhost]}" $MIB) MiB |" \
    "| one guest host's PSS by mapping (threads) | | ${ISO[process.where]} (${ISO[process.threads]}) | ${ISO[shimhost.where]} (${ISO[shimhost.threads]}) |" \
    "| guest host start to ready, alone, median of $ISO_READY_N (failed: ${ISO[readyfail]}) | | $(ms "${ISO[ready.gh]}") ms | $(ms "${ISO[ready.shim]}") ms |" \
    "" \
    "Start to ready: the guest host spawned as the daemon spawns it (report and control pipes, rootfs and module as" \
    "descriptors, \`-seccomp kill\`), from the spawn to its \`ready core\` line: stage 1, the exec, stage 2, the" \
    "engine and the compile of hello; then \`start\`, and its \`exit 0\` is checked. Both programs interleaved." \
    ""
}
