# Section 7 of bench.sh (sourced by it): a real 30 MB module, Yosys 0.55 from npm (@yowasp/yosys, fetched by
# Specs/EndToEnd/deps.sh), through the shim and under Node's WASI (Debian's nodejs, Specs/EndToEnd/node-wasi.mjs) on
# the same module in the same run:
#   first start   `ctr run --rm ... yosys -V` on an empty compile cache (Winch code; a compile process the daemon
#                 starts then compiles Cranelift's, and the section waits for its cache entry before going on)
#   cached start  the same with Cranelift's code in the cache
#   compute       synthesis of a design for iCE40 (`synth_ice40`), cached code, same netlist checked
# Tunables: BENCH_YOSYS_N (3 first starts; 5 cached starts and syntheses), BENCH_YOSYS_DESIGN (a Verilog file; default
# the one below), BENCH_YOSYS_WAIT (900: seconds to wait for the Cranelift entry; past it the cached starts run the
# Winch entry and the table says so).

IMG_YOSYS=localhost/wasmkata-bench/yosys:1
YOSYS_FIRST_N=${BENCH_YOSYS_N:-$((QUICK ? 1 : 3))}
YOSYS_N=${BENCH_YOSYS_N:-$((QUICK ? 2 : 5))}
YOSYS_WAIT=${BENCH_YOSYS_WAIT:-900}
YOSYS_SYNTH=(-q -p "synth_ice40 -top top -json /out/top.json" /work/design.v)

# An 8-bit multiply-accumulate, a counter and a small state machine.
yosys_design() {
  cat <<'VERILOG'
module top(input clk, input rst, input [7:0] a, input [7:0] b, input go, output reg [19:0] acc,
           output reg [7:0] count, output reg [1:0] state);
  always @(posedge clk)
    if (rst) begin acc <= 0; count <= 0; state <= 0; end
    else begin
      if (go) acc <= acc + a * b;
      count <= count + 1;
      case (state)
        0: if (go) state <= 1;
        1: state <= count[0] ? 2 : 1;
        2: state <= 3;
        default: state <= 0;
      endcase
    end
endmodule
VERILOG
}

yosys_prepare() {
  YOSYS_ROOT=$(bash "$REPO/Specs/EndToEnd/deps.sh" yosys) || die "deps.sh yosys failed"
  command -v node >/dev/null || die "node is missing (deps.sh yosys installs Debian's nodejs)"
  local dir="$WORK/yosys"
  rm -rf "$dir"
  mkdir -p "$dir/rootfs/work" "$dir/node/work" "$dir/node/out" "$dir/node/tmp" "$dir/out"
  cp -a "$YOSYS_ROOT/." "$dir/rootfs/"
  cp -a "$YOSYS_ROOT/share" "$dir/node/"
  if [[ -n ${BENCH_YOSYS_DESIGN:-} ]]; then cp "$BENCH_YOSYS_DESIGN" "$dir/rootfs/work/design.v"; else yosys_design >"$dir/rootfs/work/design.v"; fi
  cp "$dir/rootfs/work/design.v" "$dir/node/work/design.v"
  wasmkata_oci_image --workdir /work --entrypoint /yosys.wasm "$IMG_YOSYS" "$dir/rootfs" "$dir/yosys.tar" >/dev/null
  ctr_ images import --snapshotter "$SNAPSHOTTER" "$dir/yosys.tar" >/dev/null
  YOSYS_DIGEST=$(sha256sum "$YOSYS_ROOT/yosys.wasm" | cut -d' ' -f1)
}

# A compile cache of its own: CONFIG (a configuration.toml naming it) and CACHE_DIR.
yosys_new_cache() {
  YOSYS_CACHE="$WORK/yosys/cache-$1"
  YOSYS_CONFIG="$YOSYS_CACHE.toml"
  rm -rf "$YOSYS_CACHE"
  printf '[wasmkata.engine]\ncompile_cache_dir = "%s"\n' "$YOSYS_CACHE" >"$YOSYS_CONFIG"
}

# `ctr run --rm` of Yosys with ARGS, /out a volume; sets RUN_US, RUN_RC.
yosys_run() {
  local id=$1; shift
  timed_run wasm "$IMG_YOSYS" "$id" "$WORK/yosys.out" --runtime-config-path "$YOSYS_CONFIG" \
    --mount "type=bind,src=$WORK/yosys/out,dst=/out,options=rbind:rw" -- /yosys.wasm "$@"
  ((RUN_RC == 0)) || die "yosys through the shim failed ($RUN_RC): $(tail -c 2000 "$WORK/yosys.out")"
}

# The same under Node's WASI; sets RUN_US.
node_run() {
  local t0=$EPOCHREALTIME rc=0
  node --no-warnings "$REPO/Specs/EndToEnd/node-wasi.mjs" "$YOSYS_ROOT/yosys.wasm" "$WORK/yosys/node" "$@" \
    >"$WORK/node.out" 2>&1 </dev/null || rc=$?
  local t1=$EPOCHREALTIME
  RUN_US=$((${t1/./} - ${t0/./}))
  ((rc == 0)) || die "yosys under Node failed ($rc): $(tail -c 2000 "$WORK/node.out")"
}

# Waits for the compile process the first start's daemon started to log the Cranelift entry of the module
# (compile.log in the cache); sets WAIT_US.
yosys_wait_optimized() {
  local t0 deadline
  t0=$(now_us)
  deadline=$((t0 + YOSYS_WAIT * 1000000))
  until grep -qs "($YOSYS_DIGEST) with Cranelift in the background" "$YOSYS_CACHE/compile.log"; do
    if (($(now_us) >= deadline)); then
      log "no Cranelift entry in $YOSYS_CACHE after $YOSYS_WAIT s: going on with the Winch entry"
      WAIT_US=-1
      return 0
    fi
    sleep 0.2
  done
  WAIT_US=$(($(now_us) - t0))
}

bench_yosys() {
  log "7. a real module: Yosys from npm through the shim and under Node's WASI"
  yosys_prepare
  declare -gA YOSYS=()
  local i
  local -a first=() opt=() cached=() synth=() nfirst=() nsynth=()
  node_run -V # warm-up: Node's own start and the file in the page cache
  for ((i = 1; i <= YOSYS_FIRST_N; i++)); do
    yosys_new_cache "first-$i"
    yosys_run "yosys-first-$TAG-$i" -V
    first+=("$RUN_US")
    sample yosys first "$RUN_US"
    yosys_wait_optimized
    opt+=("$WAIT_US")
    sample yosys optimized-after "$WAIT_US"
    node_run -V
    nfirst+=("$RUN_US")
    sample yosys node-start "$RUN_US"
  done
  # The cache of the last first start now holds Cranelift's code.
  for ((i = 1; i <= YOSYS_N; i++)); do
    yosys_run "yosys-cached-$TAG-$i" -V
    cached+=("$RUN_US")
    sample yosys cached "$RUN_US"
    rm -f "$WORK/yosys/out/top.json"
    yosys_run "yosys-synth-$TAG-$i" "${YOSYS_SYNTH[@]}"
    synth+=("$RUN_US")
    sample yosys synth "$RUN_US"
    node_run "${YOSYS_SYNTH[@]}"
    nsynth+=("$RUN_US")
    sample yosys node-synth "$RUN_US"
    cmp -s "$WORK/yosys/out/top.json" "$WORK/yosys/node/out/top.json" || die "the netlists of the shim and Node differ"
  done
  YOSYS[first]=$(percentile 50 "${first[@]}") YOSYS[opt]=$(percentile 50 "${opt[@]}")
  YOSYS[cached]=$(percentile 50 "${cached[@]}") YOSYS[synth]=$(percentile 50 "${synth[@]}")
  YOSYS[nstart]=$(percentile 50 "${nfirst[@]}") YOSYS[nsynth]=$(percentile 50 "${nsynth[@]}")
  YOSYS[compute]=$((YOSYS[synth] - YOSYS[cached])) YOSYS[ncompute]=$((YOSYS[nsynth] - YOSYS[nstart]))
  YOSYS[bytes]=$(stat -c %s "$YOSYS_ROOT/yosys.wasm")
  YOSYS[log]=$( (grep -h "$YOSYS_DIGEST" "$RUN_DIR/containerd.log" | grep -o '\(compiled\|wrote\) [^"]*in [0-9]* ms[^"]*' | sed 's/\\"//g'
    cat "$WORK"/yosys/cache-first-*/compile.log 2>/dev/null | grep -o 'compiled .*') | sort | uniq -c | head -8 || true)
}

yosys_opt_text() {
  if ((YOSYS[opt] < 0)); then echo "not within $YOSYS_WAIT s (cached starts ran Winch code)"; else echo "$(ms "${YOSYS[opt]}") ms"; fi
}

report_yosys() {
  local fn=$YOSYS_FIRST_N n=$YOSYS_N
  summary "| 7 | Yosys (30 MB module): first start, empty compile cache, median of $fn | $(ms "${YOSYS[first]}") ms | $(ms "${YOSYS[nstart]}") ms (Node) | $(ratio "${YOSYS[first]}" "${YOSYS[nstart]}") | < 3000 ms | $(met $((YOSYS[first] < 3000000))) |" \
    "| 7 | Yosys: cached start, median of $n | $(ms "${YOSYS[cached]}") ms | $(ms "${YOSYS[nstart]}") ms (Node) | $(ratio "${YOSYS[cached]}" "${YOSYS[nstart]}") | ratio <= 1 | $(met $((YOSYS[cached] <= YOSYS[nstart]))) |" \
    "| 7 | Yosys: synthesis compute (synthesis run minus start), median of $n | $(ms "${YOSYS[compute]}") ms | $(ms "${YOSYS[ncompute]}") ms (Node) | $(ratio "${YOSYS[compute]}" "${YOSYS[ncompute]}") | ratio <= 1 | $(met $((YOSYS[compute] <= YOSYS[ncompute]))) |"
  detail "## 7. A real module: Yosys from npm" "" \
    "Yosys 0.55 (@yowasp/yosys, $((YOSYS[bytes] / 1048576)) MiB WASI preview-1 module) through the shim with \`ctr run --rm\` (image WORKDIR" \
    "/work, absolute paths, the netlist written to a volume) and under Node $(node --version)'s WASI (\`node-wasi.mjs\`," \
    "\"/\" preopened), same module, design and command, wall time to exit. A first start has a compile cache of its" \
    "own, empty: it runs Winch code, and the section waits until the compile process the daemon started has" \
    "written the Cranelift entry before going on. Cached starts and syntheses then load Cranelift's code. Node compiles with" \
    "Liftoff at every start and tiers up to TurboFan as it runs (no code cache across its processes here)." "" \
    "| measure | WasmKata median | Node median | ratio |" "|---|---|---|---|" \
    "| first start (\`yosys -V\`), empty cache | $(ms "${YOSYS[first]}") ms | $(ms "${YOSYS[nstart]}") ms | $(ratio "${YOSYS[first]}" "${YOSYS[nstart]}") |" \
    "| Cranelift entry in the cache, after the first start's exit | $(yosys_opt_text) | | |" \
    "| cached start (\`yosys -V\`) | $(ms "${YOSYS[cached]}") ms | $(ms "${YOSYS[nstart]}") ms | $(ratio "${YOSYS[cached]}" "${YOSYS[nstart]}") |" \
    "| synthesis (\`synth_ice40\`), whole run | $(ms "${YOSYS[synth]}") ms | $(ms "${YOSYS[nsynth]}") ms | $(ratio "${YOSYS[synth]}" "${YOSYS[nsynth]}") |" \
    "| synthesis compute (run minus start) | $(ms "${YOSYS[compute]}") ms | $(ms "${YOSYS[ncompute]}") ms | $(ratio "${YOSYS[compute]}" "${YOSYS[ncompute]}") |" \
    "" "The shim's compile log lines for the module (count, line):" "" '```' "${YOSYS[log]}" '```' ""
}
