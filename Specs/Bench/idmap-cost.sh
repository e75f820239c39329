#!/usr/bin/env bash
# What the per-sandbox uid range and idmapped mounts add to guest_isolation = "process" (docs/guest-host.md), as
# root after ./build.sh:
#   Specs/Bench/idmap-cost.sh BEFORE_SHIM_DIR [RUNS]
# BEFORE_SHIM_DIR holds a shim built without them (guests in guest hosts as one shared uid, unmapped rootfs). Two
# private containerds, one per shim, each importing the same hello image; `ctr run --rm` of hello in process mode
# alternates between them (so both see the same machine load), RUNS (default 9) each: the medians and their
# difference. Each run is one new sandbox and one container, so the difference is the cost per sandbox (range, user
# namespace) plus per container (idmapped rootfs). The daemons' own log lines give the sandbox part alone.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/Specs/EndToEnd/containerd.sh"
source "$repo/Specs/EndToEnd/oci-image.sh"
source "$repo/Specs/Bench/standalone.sh"
before_dir=${1:?usage: idmap-cost.sh BEFORE_SHIM_DIR [RUNS]}
runs=${2:-9}
after_dir=${WASMKATA_SHIM_DIR:-$repo/out/bin}
guests=$repo/out/guests
ns=idmap-cost
tag=$$
work=$(mktemp -d /tmp/wk-idmap-cost-XXXXXX)
declare -A run_dir=([before]=/run/wasmkata-idmap-before [after]=/run/wasmkata-idmap-after)

cleanup() {
  wasmkata_containerd_stop "${run_dir[before]}" >/dev/null 2>&1 || true
  wasmkata_containerd_stop "${run_dir[after]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ctr_() { local which=$1; shift; timeout -k 5 120 ctr -a "${run_dir[$which]}/containerd.sock" -n "$ns" "$@"; }

mkdir -p "$work/hello"
cp "$guests/hello.wasm" "$work/hello/app.wasm"
wasmkata_oci_image "localhost/idmap-cost/hello:1" "$work/hello" "$work/hello.tar"
printf '[wasmkata]\nguest_isolation = "process"\n' >"$work/process.toml"
wasmkata_containerd_start --shim-dir "$before_dir" "${run_dir[before]}"
wasmkata_containerd_start --shim-dir "$after_dir" "${run_dir[after]}"
for which in before after; do ctr_ "$which" images import --snapshotter native "$work/hello.tar" >/dev/null; done

run_hello() { # WHICH ID: prints the wall time in us; fails unless hello printed its line
  local t0 out
  t0=$(now_us)
  out=$(ctr_ "$1" run --rm --snapshotter native --runtime io.containerd.wasmkata.v2 --runtime-config-path "$work/process.toml" \
    localhost/idmap-cost/hello:1 "$2" </dev/null)
  [[ $out == "hello from wasm" ]] || { echo "$1: hello printed \"$out\"" >&2; return 1; }
  echo $(($(now_us) - t0))
}


run_hello before "warm-b-$tag" >/dev/null
run_hello after "warm-a-$tag" >/dev/null
before_us=() after_us=()
for ((i = 1; i <= runs; i++)); do
  before_us+=("$(run_hello before "cold-b-$tag-$i")")
  after_us+=("$(run_hello after "cold-a-$tag-$i")")
done
b=$(printf '%s\n' "${before_us[@]}" | median_ms)
a=$(printf '%s\n' "${after_us[@]}" | median_ms)
echo "process mode cold start, ctr run --rm hello, median of $runs interleaved: shared uid $b ms, own range + idmap $a ms, difference $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%+.1f", a-b}') ms"
echo "  shared uid runs (us): ${before_us[*]}"
echo "  own range runs (us): ${after_us[*]}"
# The daemons log how long taking the range and making its user namespace took, once per sandbox.
grep -ho "guest uid range [^\"]* in [0-9.]* ms" "${run_dir[after]}/containerd.log" | awk "{print \$(NF-1)}" | sort -n |
  awk '{a[NR]=$1} END {if (NR) printf "range + user namespace per sandbox (daemon log, %d sandboxes): median %.1f ms, min %.1f ms\n", NR, a[int((NR+1)/2)], a[1]}'
