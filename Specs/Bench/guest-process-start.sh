#!/usr/bin/env bash
# First and cached starts with guest_isolation = "process" against "thread" (docs/guest-host.md, "What it costs"), as
# root after ./build.sh, on a private containerd of its own:
#   Specs/Bench/guest-process-start.sh [RUNS] [YOSYS_FIRST_RUNS]
# For each mode, `ctr run --rm` wall times (medians):
#   hello first    on an empty compile cache (a new cache for each of RUNS runs)
#   hello cached   RUNS runs with the same cache
#   yosys first    `yosys -V` (a 30 MB module) on an empty cache, YOSYS_FIRST_RUNS (default 2) runs
#   yosys cached   RUNS runs once the compile process wrote the Cranelift entry (waits for it, YOSYS_WAIT s at most)
# WASMKATA_SHIM_DIR picks the shim (default out/bin), so an older build can be measured the same way.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/Specs/EndToEnd/containerd.sh"
source "$repo/Specs/EndToEnd/oci-image.sh"
source "$repo/Specs/Bench/standalone.sh"
runs=${1:-5}
yosys_first_runs=${2:-2}
yosys_wait=${YOSYS_WAIT:-600}
modes=${MODES:-process thread}
shim_dir=${WASMKATA_SHIM_DIR:-$repo/out/bin}
guests=${WASMKATA_GUESTS_DIR:-$repo/out/guests}
bench_private_containerd gp-start 900

wasmkata_containerd_start --shim-dir "$shim_dir" "$run_dir"
mkdir -p "$work/hello"
cp "$guests/hello.wasm" "$work/hello/app.wasm"
wasmkata_oci_image "localhost/gp-start/hello:1" "$work/hello" "$work/hello.tar" >/dev/null
ctr_ images import --snapshotter native "$work/hello.tar" >/dev/null
yosys_root=$(bash "$repo/Specs/EndToEnd/deps.sh" yosys)
yosys_digest=$(sha256sum "$yosys_root/yosys.wasm" | cut -d' ' -f1)
wasmkata_oci_image --workdir / --entrypoint /yosys.wasm "localhost/gp-start/yosys:1" "$yosys_root" "$work/yosys.tar" >/dev/null
ctr_ images import --snapshotter native "$work/yosys.tar" >/dev/null

new_cache() { # MODE NAME: sets CONFIG to a configuration.toml with MODE and a new empty cache, CACHE to its directory
  CACHE="$work/cache-$1-$2"
  CONFIG="$CACHE.toml"
  printf '[wasmkata]\nguest_isolation = "%s"\n[wasmkata.engine]\ncompile_cache_dir = "%s"\n' "$1" "$CACHE" >"$CONFIG"
}

run_timed() { # IMAGE ID EXPECT ARGS...: prints the wall time in us; fails unless stdout starts with EXPECT
  local image=$1 id=$2 expect=$3 t0 out
  shift 3
  t0=$(now_us)
  out=$(ctr_ run --rm --snapshotter native --runtime io.containerd.wasmkata.v2 --runtime-config-path "$CONFIG" \
    "$image" "$id" "$@" </dev/null 2>&1)
  [[ $out == "$expect"* ]] || { echo "$id printed \"${out:0:300}\"" >&2; return 1; }
  echo $(($(now_us) - t0))
}

for mode in $modes; do
  first=() cached=() yfirst=() ycached=()
  for ((i = 1; i <= runs; i++)); do
    [[ -z ${SKIP_HELLO:-} ]] || break
    new_cache "$mode" "hello-$i"
    first+=("$(run_timed localhost/gp-start/hello:1 "h1-$mode-$tag-$i" "hello from wasm" /app.wasm)")
  done
  for ((i = 1; i <= runs; i++)); do
    [[ -z ${SKIP_HELLO:-} ]] || break
    cached+=("$(run_timed localhost/gp-start/hello:1 "h2-$mode-$tag-$i" "hello from wasm" /app.wasm)")
  done
  [[ -n ${SKIP_HELLO:-} ]] || echo "$mode: hello first start $(printf '%s\n' "${first[@]}" | median_ms) ms, cached start $(printf '%s\n' "${cached[@]}" | median_ms) ms (medians of $runs)"
  [[ -n ${SKIP_HELLO:-} ]] || echo "  first (us): ${first[*]}"
  [[ -n ${SKIP_HELLO:-} ]] || echo "  cached (us): ${cached[*]}"

  for ((i = 1; i <= yosys_first_runs; i++)); do
    new_cache "$mode" "yosys-$i"
    yfirst+=("$(run_timed localhost/gp-start/yosys:1 "y1-$mode-$tag-$i" "Yosys" /yosys.wasm -V)")
  done
  # The compile process of the last first start writes the Cranelift entry; the cached starts wait for it.
  waited="no Cranelift entry"
  t0=$(now_us)
  if compgen -G "$CACHE/*.cwasm" >/dev/null; then
    until grep -qs "($yosys_digest) with Cranelift in the background" "$CACHE/compile.log"; do
      (($(now_us) - t0 < yosys_wait * 1000000)) || break
      sleep 0.5
    done
    grep -qs "($yosys_digest) with Cranelift in the background" "$CACHE/compile.log" && waited="Cranelift entry after $((($(now_us) - t0) / 1000)) ms"
  fi
  for ((i = 1; i <= runs; i++)); do
    ycached+=("$(run_timed localhost/gp-start/yosys:1 "y2-$mode-$tag-$i" "Yosys" /yosys.wasm -V)")
  done
  echo "$mode: yosys -V first start $(printf '%s\n' "${yfirst[@]}" | median_ms) ms (median of $yosys_first_runs), cached start $(printf '%s\n' "${ycached[@]}" | median_ms) ms (median of $runs; $waited)"
  echo "  first (us): ${yfirst[*]}"
  echo "  cached (us): ${ycached[*]}"
  echo "  cache: $(cd "$CACHE" && ls -s --block-size=M -- *.cwasm 2>/dev/null | tr '\n' ' ')"
  grep -h "$yosys_digest" "$run_dir/containerd.log" 2>/dev/null | grep -o 'goes to a guest host as its [^ ]* entry' | sort | uniq -c | sed 's/^/  /' || true
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
