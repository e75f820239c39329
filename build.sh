#!/usr/bin/env bash
# WasmKata's one script. See README.md.
#   ./build.sh                    build everything (Release), publish the shim to out/bin, guests to out/guests
#   ./build.sh test [FILTER]      install what is missing, build, run the specs (FILTER: a dotnet test --filter)
#   ./build.sh install [PREFIX]   publish the programs to PREFIX/lib/wasmkata, link shim and CLI from PREFIX/bin (/usr/local)
#   ./build.sh demo               run a wasm container through the shim on a private containerd
#   ./build.sh bench [ARGS]       build, measure against runc on a private containerd; table in out/bench/results.md
#                                 ARGS: --quick, --only SECTION,... (cold density pods throughput io kill breakdown
#                                 yosys isolation)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT="$REPO/out"
CONFIGURATION=Release
RID=linux-x64

# Published programs, one "project:executable" per line. All are NativeAOT executables (Shim/NativeAot.props): the
# shim answers containerd's start and delete and serves as each sandbox's daemon; the CLI joins the shims' cluster;
# the guest host runs one guest, confined, when guest_isolation = "process" (the daemon finds it beside itself).
PROGRAMS=(
  "Shim/WasmKata.Shim.csproj:containerd-shim-wasmkata-v2"
  "Shim/Cli/WasmKata.Cli.csproj:wasmkata"
  "Shim/GuestHost/WasmKata.GuestHost.csproj:wasmkata-guest-host"
)
SHIM=containerd-shim-wasmkata-v2

# The demo and the end-to-end specs share these: one image builder, one containerd set-up.
source "$REPO/Specs/EndToEnd/deps.sh"
source "$REPO/Specs/EndToEnd/containerd.sh"
source "$REPO/Specs/EndToEnd/oci-image.sh"

log() {
  printf '==> %s\n' "$*" >&2
}

# Publishes every program into DIR: each executable, and the Wasmtime library the shim loads beside it.
publish_programs() {
  local dir=$1 program name
  mkdir -p "$dir"
  for program in "${PROGRAMS[@]}"; do
    name=${program#*:}
    dotnet publish "$REPO/${program%%:*}" --nologo -c "$CONFIGURATION" -r "$RID" -o "$OUT/publish/$name"
    cp "$OUT/publish/$name/$name" "$dir/"
  done
  cp "$OUT/publish/$SHIM/libwasmtime.so" "$dir/"
}

# The guests also built as components (out/guests/NAME.component.wasm).
COMPONENT_GUESTS=(hello args readfile exitcode sleep spin cat trap bigout hostile)

build_guests() {
  local dir="$OUT/guests" src name tool
  for tool in clang-14 wasm-ld-14 wat2wasm; do
    if ! command -v "$tool" >/dev/null; then
      echo "error: $tool is missing; Specs/EndToEnd/deps.sh (or ./build.sh test) installs it" >&2
      return 1
    fi
  done
  mkdir -p "$dir"
  for src in "$REPO"/Specs/Guests/*.c; do
    name=$(basename "$src" .c)
    clang-14 --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Wextra -Werror -Wl,--strip-all \
      "$src" -o "$dir/$name.wasm"
  done
  for src in "$REPO"/Specs/Guests/*.wat; do
    name=$(basename "$src" .wat)
    wat2wasm "$src" -o "$dir/$name.wasm"
  done
  # WASI 0.2 command components (wasi:cli/run) made from a few of the guests above with jco's preview-1 adapter.
  local jco
  jco=$(wasmkata_ensure_jco) || return 1
  for name in "${COMPONENT_GUESTS[@]}"; do
    "$jco" new "$dir/$name.wasm" --wasi-command -o "$dir/$name.component.wasm" >/dev/null
  done
  # Components written as components: WAT (jco parse), and the wasi:http guest in JavaScript.
  for src in "$REPO"/Specs/Guests/components/*.wat; do
    "$jco" parse "$src" -o "$dir/$(basename "$src" .wat).component.wasm" >/dev/null
  done
  build_fetch_guest "$dir"
}

# The wasi:http guest (out/guests/fetch.component.wasm) from Specs/Guests/components/fetch with componentize-js, against
# the WASI 0.2.12 WIT files of the jco it brings. It takes minutes (StarlingMonkey is pre-initialised with wizer), so
# the result is kept in /var/cache/wasmkata/guests under the hash of its sources and the componentize-js version.
build_fetch_guest() {
  local dir=$1 src="$REPO/Specs/Guests/components/fetch" cli key cached wit
  key=$( (cat "$src/fetch.js" "$src/world.wit"; echo "$WASMKATA_COMPONENTIZE_JS_VERSION") | sha256sum | cut -c1-16)
  cached=/var/cache/wasmkata/guests/fetch-$key.component.wasm
  if [[ ! -s $cached ]]; then
    cli=$(wasmkata_ensure_componentize_js) || return 1
    wit=$(mktemp -d)
    cp "$src/world.wit" "$wit/"
    mkdir -p "$wit/deps" "$(dirname "$cached")"
    cp -r "$(dirname "$cli")/../@bytecodealliance/jco/lib/wit/builtin/0.2.12/." "$wit/deps/"
    if ! "$cli" "$src/fetch.js" --wit "$wit" -n fetch -o "$cached.tmp" >&2; then
      rm -rf "$wit" "$cached.tmp"
      return 1
    fi
    rm -rf "$wit"
    mv "$cached.tmp" "$cached"
  fi
  cp "$cached" "$dir/fetch.component.wasm"
}

require_dotnet() {
  if ! command -v dotnet >/dev/null; then
    echo "error: dotnet (the .NET 10 SDK) is not on PATH" >&2
    return 1
  fi
}

cmd_build() {
  require_dotnet
  log "dotnet build WasmKata.sln -c $CONFIGURATION"
  dotnet build "$REPO/WasmKata.sln" --nologo -c "$CONFIGURATION"
  log "publishing to out/bin"
  rm -rf "$OUT/bin"
  publish_programs "$OUT/bin"
  # Test-only programs: never in out/bin, never installed (GuestHostEscapeSpec checks the shipped programs lack them).
  log "publishing test-only programs to out/test-bin"
  rm -rf "$OUT/test-bin"
  dotnet publish "$REPO/Specs/EscapeProbe/WasmKata.EscapeProbe.csproj" --nologo -c "$CONFIGURATION" -r "$RID" -o "$OUT/test-bin"
  log "compiling guests to out/guests"
  build_guests
}

# Prints attribute NAME of a trx Counters element, or 0.
trx_counter() {
  local value
  value=$(sed -n "s/.* $2=\"\([0-9]*\)\".*/\1/p" <<<"$1")
  echo "${value:-0}"
}

# Prints "N passed, N failed, N skipped" from a trx file's Counters element. xunit's skipped tests are
# left out of "executed" rather than counted in "notExecuted"; errors, timeouts and aborts count as failures.
trx_summary() {
  local c
  c=$(grep -o '<Counters [^>]*>' "$1" | head -n 1)
  [[ -n $c ]] || return 1
  local passed failed not_run skipped
  passed=$(trx_counter "$c" passed)
  failed=$(($(trx_counter "$c" failed) + $(trx_counter "$c" error) + $(trx_counter "$c" timeout) + $(trx_counter "$c" aborted)))
  not_run=$(($(trx_counter "$c" total) - $(trx_counter "$c" executed)))
  skipped=$(trx_counter "$c" notExecuted)
  if ((not_run > skipped)); then skipped=$not_run; fi
  printf '%s passed, %s failed, %s skipped\n' "$passed" "$failed" "$skipped"
}

# The house style (.editorconfig): a change that `dotnet format` would rewrite fails the test run.
check_format() {
  log "dotnet format --verify-no-changes"
  if ! dotnet format "$REPO/WasmKata.sln" --verify-no-changes --no-restore -v q; then
    echo "error: the code is not formatted as .editorconfig says; run: dotnet format WasmKata.sln" >&2
    return 1
  fi
}

cmd_test() {
  local filter=${1:-}
  wasmkata_ensure_deps
  cmd_build
  check_format

  local results="$OUT/test-results" args=()
  rm -rf "$results"
  # Benchmarks (Category=Bench) measure and print figures; they are not tests, so only an explicit filter runs them.
  args+=(--filter "${filter:-Category!=Bench}")
  log "dotnet test Specs/WasmKata.Specs.csproj ${args[*]}"
  local status=0
  dotnet test "$REPO/Specs/WasmKata.Specs.csproj" --nologo -c "$CONFIGURATION" --no-build \
    --logger "trx;LogFileName=results.trx" --results-directory "$results" "${args[@]}" || status=$?

  local summary
  if ! summary=$(trx_summary "$results/results.trx" 2>/dev/null); then
    log "no test results in $results/results.trx (dotnet test exited $status)"
    return $((status == 0 ? 1 : status))
  fi
  echo "$summary"
  if ((status != 0)) || [[ $summary != *" 0 failed"* ]]; then
    return 1
  fi
}

cmd_install() {
  local prefix=${1:-/usr/local}
  local lib="$prefix/lib/wasmkata" program name
  require_dotnet
  log "dotnet build WasmKata.sln -c $CONFIGURATION"
  dotnet build "$REPO/WasmKata.sln" --nologo -c "$CONFIGURATION"
  log "installing to $lib"
  rm -rf "$lib"
  mkdir -p "$lib" "$prefix/bin"
  publish_programs "$lib"
  for program in "${PROGRAMS[@]}"; do
    name=${program#*:}
    # The guest host is no command: the daemon runs it from beside its own (resolved) executable, in lib/wasmkata.
    [[ $name == wasmkata-guest-host ]] && continue
    ln -sfn "../lib/wasmkata/$name" "$prefix/bin/$name"
    log "$prefix/bin/$name -> $lib/$name"
  done
}

DEMO_RUN=/run/wasmkata-demo
DEMO_ROOT=/var/lib/wasmkata-demo
DEMO_NS=wasmkata-demo
DEMO_IMAGE=localhost/wasmkata/demo:latest

demo_cleanup() {
  log "stopping the demo containerd"
  wasmkata_containerd_stop "$DEMO_RUN"
  rm -rf "$OUT/demo"
}

cmd_demo() {
  wasmkata_ensure_deps
  cmd_build

  # A previous demo that was killed may have left its containerd running.
  wasmkata_containerd_stop "$DEMO_RUN"
  trap demo_cleanup EXIT
  log "starting a private containerd in $DEMO_RUN (root $DEMO_ROOT)"
  wasmkata_containerd_start --root "$DEMO_ROOT" --shim-dir "$OUT/bin" "$DEMO_RUN"
  local ctr=(ctr -a "$DEMO_RUN/containerd.sock" -n "$DEMO_NS")

  log "building the demo image $DEMO_IMAGE"
  local rootfs="$OUT/demo/rootfs"
  rm -rf "$OUT/demo"
  mkdir -p "$rootfs/etc"
  cp "$OUT/guests/demo.wasm" "$rootfs/app.wasm"
  echo "this line comes from /etc/motd inside the wasm image" >"$rootfs/etc/motd"
  wasmkata_oci_image "$DEMO_IMAGE" "$rootfs" "$OUT/demo/demo.tar"
  "${ctr[@]}" images import --snapshotter native "$OUT/demo/demo.tar"

  local id
  id=$(printf 'demo-%04x%04x' "$RANDOM" "$RANDOM")
  local run=("${ctr[@]}" run --rm --snapshotter native --runtime io.containerd.wasmkata.v2 "$DEMO_IMAGE" "$id"
    /app.wasm from the demo)
  log "${run[*]}"
  local status=0
  "${run[@]}" </dev/null || status=$?
  log "exit code: $status"
  if ((status != 0)); then
    log "containerd's log ends with:"
    tail -n 40 "$DEMO_RUN/containerd.log" >&2
  fi
  return "$status"
}

# The benchmark (Specs/Bench/bench.sh): a fresh build against runc on a private containerd;
# the table goes to out/bench/results.md. Arguments go to bench.sh (--quick, --only SECTION,...).
cmd_bench() {
  wasmkata_ensure_deps
  if ! command -v perf >/dev/null && ((EUID == 0)); then
    log "installing linux-perf (only the cold-start breakdown needs it)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-perf </dev/null || true
  fi
  cmd_build
  BENCH_COMMAND="./build.sh bench${*:+ $*}" bash "$REPO/Specs/Bench/bench.sh" \
    --shim-dir "$OUT/bin" --guests "$OUT/guests" --out "$OUT/bench" "$@"
}

main() {
  local verb=${1:-build}
  (($# == 0)) || shift
  case $verb in
    build) cmd_build ;;
    test) cmd_test "$@" ;;
    install) cmd_install "$@" ;;
    demo) cmd_demo ;;
    bench) cmd_bench "$@" ;;
    -h | --help | help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *)
      echo "unknown command: $verb (build, test, install, demo, bench, help)" >&2
      return 2
      ;;
  esac
}

main "$@"
