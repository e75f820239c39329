#!/bin/bash
# The levers of a big module's first start, measured outside the shim with the same Wasmtime (the NuGet package's
# libwasmtime.so) and the settings the shim's tiers use: each setting compiles the module ROUNDS times, interleaved
# with the others, and prints wall and CPU time (CPU is what to compare on a shared machine).
#   Specs/Bench/CompileLevers/run.sh [MODULE] [ROUNDS]   (default: Yosys from deps.sh, 3 rounds)
# Needs gcc (Debian's) and a restored NuGet cache; not part of ./build.sh bench.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
module=${1:-$(bash "$repo/Specs/EndToEnd/deps.sh" yosys)/yosys.wasm}
rounds=${2:-3}
version=$(sed -n 's/.*Include="Wasmtime" Version="\([^"]*\)".*/\1/p' "$repo/Directory.Packages.props")
lib="${NUGET_PACKAGES:-$HOME/.nuget/packages}/wasmtime/$version/runtimes/linux-x64/native"
[[ -f $lib/libwasmtime.so ]] || { echo "no libwasmtime.so in $lib (dotnet restore first)" >&2; exit 1; }
probe=$(mktemp -d)/probe
trap 'rm -rf "$(dirname "$probe")"' EXIT
gcc -O2 -o "$probe" "$here/probe.c" -L"$lib" -lwasmtime -Wl,-rpath,"$lib"

# name: strategy parallel unwind opt regalloc write
settings=(
  "winch, parallel (the shim before):2 1 1 -1 -1 1"
  "winch, parallel, trampolines opt none:2 1 1 0 -1 0"
  "winch, parallel, trampolines opt none + single-pass (the shim now):2 1 1 0 1 1"
  "winch, parallel, no native unwind info:2 1 0 -1 -1 0"
  "winch, one thread:2 0 1 -1 -1 0"
  "cranelift, one thread (the compile process):1 0 1 -1 -1 1"
  "cranelift, parallel, opt none:1 1 1 0 -1 0"
)
echo "module $module, Wasmtime $version, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= rounds; round++)); do
  for setting in "${settings[@]}"; do
    name=${setting%%:*}
    # shellcheck disable=SC2086
    printf '%-70s %s\n' "$name" "$("$probe" "$module" ${setting#*:})"
  done
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
