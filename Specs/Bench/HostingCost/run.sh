#!/usr/bin/env bash
# Publishes HostingCost (NativeAOT) and times N runs of each way of starting the actor system, interleaved:
# the whole process (spawn to exit) and the answer's time into Main. Prints medians and the difference.
#   Specs/Bench/HostingCost/run.sh [N]      (default 21)
set -euo pipefail
export LC_ALL=C
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${TMPDIR:-/tmp}/wasmkata-hosting-cost
n=${1:-21}
dotnet publish "$dir/HostingCost.csproj" --nologo -c Release -r linux-x64 -o "$out" >/dev/null
declare -A wall=() main=()
for ((i = 0; i < n; i++)); do
  for mode in plain hosting; do
    t0=$EPOCHREALTIME
    line=$("$out/HostingCost" "$mode")
    t1=$EPOCHREALTIME
    wall[$mode]+="$(((${t1/./} - ${t0/./}) / 100)) "
    main[$mode]+="$(sed -n 's/.*answered \([0-9]*\)\.\([0-9]\) ms.*/\1\2/p' <<<"$line") "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 10 }'; }
for mode in plain hosting; do
  printf '%-8s process %s ms, actor answered %s ms into Main (median of %d)\n' "$mode" \
    "$(median <<<"${wall[$mode]}")" "$(median <<<"${main[$mode]}")" "$n"
done
