#!/usr/bin/env bash
# Installs the Debian packages that the end-to-end specs and the demo need, and only the missing ones.
#   Sourced:  wasmkata_ensure_deps
#   Run:      Specs/EndToEnd/deps.sh
#             Specs/EndToEnd/deps.sh containerd2 [CACHE]    (sid's containerd 2.x in a cache; prints its bin dir)
#             Specs/EndToEnd/deps.sh containerd17 [CACHE]   (trixie's containerd 1.7 the same way)
#             Specs/EndToEnd/deps.sh docker SUITE [CACHE]   (SUITE's dockerd and docker CLI; prints the usr dir)
#             Specs/EndToEnd/deps.sh jco [CACHE]            (npm's jco in a cache; prints the jco command)
#             Specs/EndToEnd/deps.sh yosys [CACHE]          (npm's Yosys as a root directory; prints it)
# containerd brings ctr and runc; clang/lld/wasi-libc/compiler-rt compile the C guests to wasm32-wasi;
# wabt brings wat2wasm; busybox-static is the runc self-check image's only binary; gcc and zlib1g-dev link the
# shim and the CLI (NativeAOT); containernetworking-plugins gives CRI pods a network namespace of their own (the
# sandbox API specs: containerd 2.1 cannot run a host-network pod with sandboxer "shim").

WASMKATA_DEPS=(containerd wabt clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 busybox-static systemd dbus gcc zlib1g-dev iproute2
  containernetworking-plugins)

wasmkata_missing_deps() {
  local pkg
  for pkg in "${WASMKATA_DEPS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
      printf '%s\n' "$pkg"
    fi
  done
}

wasmkata_ensure_deps() {
  local missing
  mapfile -t missing < <(wasmkata_missing_deps)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "installing: ${missing[*]}" >&2
  if ((EUID != 0)); then
    echo "error: installing packages needs root (apt-get install ${missing[*]})" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# Fetches Debian packages of another suite into CACHE/root without touching the system: a private apt state per
# suite (its own sources list, lists and archive cache under APT_STATE, default /var/cache/wasmkata/apt/SUITE),
# `apt-get download` of PACKAGES only (none of their dependencies: the binaries need no more than Debian 12's
# libraries), `dpkg -x`. Idempotent: when CACHE/root already holds every file of CHECK (paths relative to root/), it
# downloads nothing. PACKAGES may pin versions (name=version).
#   wasmkata_fetch_debs CACHE SUITE "CHECK..." PACKAGES...
wasmkata_fetch_debs() {
  local state=${WASMKATA_APT_STATE:-/var/cache/wasmkata/apt}/$2
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" || return 1
  # One fetch per suite at a time (specs start their fixtures in parallel).
  (
    flock 9 || exit 1
    wasmkata_fetch_debs_locked "$state" "$@"
  ) 9>"$state/lock"
}

wasmkata_fetch_debs_locked() {
  local state=$1 cache=$2 suite=$3 check=$4
  shift 4
  local file missing=0
  for file in $check; do
    [[ -e $cache/root/$file ]] || missing=1
  done
  ((missing == 1)) || return 0
  mkdir -p "$cache/debs" "$cache/root" || return 1
  echo "deb http://deb.debian.org/debian $suite main" >"$state/sources.list"
  local apt=(apt-get -q -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o Debug::NoLocking=1
    -o APT::Sandbox::User=root)
  # Lists younger than a day are kept: every fetch of the same suite in one CI run shares them.
  if [[ -z $(find "$state/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null) ]]; then
    "${apt[@]}" update >&2 || return 1
  fi
  rm -f "$cache"/debs/*.deb
  # Kept lists may name a version the suite has replaced since: then update them and try once more.
  if ! (cd "$cache/debs" && "${apt[@]}" download "$@" >&2); then
    "${apt[@]}" update >&2 || return 1
    (cd "$cache/debs" && "${apt[@]}" download "$@" >&2) || return 1
  fi
  local deb
  for deb in "$cache"/debs/*.deb; do
    dpkg -x "$deb" "$cache/root" || return 1
  done
  for file in $check; do
    [[ -e $cache/root/$file ]] || { echo "no $file in $suite's $*" >&2; return 1; }
  done
}

# A package name, pinned to VERSION when that is set.
wasmkata_pinned() {
  local name=$1 version=${2:-}
  printf '%s\n' "$name${version:+=$version}"
}

# Fetches sid's containerd 2.x (and its ctr) into CACHE (default /var/cache/wasmkata/containerd2) and prints the
# directory holding containerd and ctr (CACHE/root/usr/bin). Pin a version with WASMKATA_CONTAINERD2_VERSION.
wasmkata_ensure_containerd2() {
  local cache=${1:-/var/cache/wasmkata/containerd2}
  wasmkata_fetch_debs "$cache" sid "usr/bin/containerd usr/bin/ctr" \
    "$(wasmkata_pinned containerd "${WASMKATA_CONTAINERD2_VERSION:-}")" || return 1
  printf '%s\n' "$cache/root/usr/bin"
}

# The same for trixie's containerd 1.7 (default CACHE /var/cache/wasmkata/containerd17; WASMKATA_CONTAINERD17_VERSION).
wasmkata_ensure_containerd17() {
  local cache=${1:-/var/cache/wasmkata/containerd17}
  wasmkata_fetch_debs "$cache" trixie "usr/bin/containerd usr/bin/ctr" \
    "$(wasmkata_pinned containerd "${WASMKATA_CONTAINERD17_VERSION:-}")" || return 1
  printf '%s\n' "$cache/root/usr/bin"
}

# Fetches a suite's dockerd (docker.io) and docker CLI (docker-cli) into CACHE and prints CACHE/root/usr, which holds
# sbin/dockerd and bin/docker. They run against a containerd of our own (dockerd --containerd=SOCKET), so neither
# Debian's containerd nor runc, iptables or tini (their other dependencies) is fetched.
#   wasmkata_ensure_docker SUITE [CACHE]   (default CACHE /var/cache/wasmkata/docker-SUITE; WASMKATA_DOCKER_VERSION pins)
wasmkata_ensure_docker() {
  local suite=$1 cache=${2:-/var/cache/wasmkata/docker-$1}
  wasmkata_fetch_debs "$cache" "$suite" "usr/sbin/dockerd usr/bin/docker" \
    "$(wasmkata_pinned docker.io "${WASMKATA_DOCKER_VERSION:-}")" \
    "$(wasmkata_pinned docker-cli "${WASMKATA_DOCKER_VERSION:-}")" || return 1
  printf '%s\n' "$cache/root/usr"
}

# jco (npm @bytecodealliance/jco) wraps a preview-1 guest into a WASI 0.2 command component with the adapter it
# ships: the component fixtures. Installed with npm into a cache, never globally; idempotent. Prints the jco command.
# CACHE defaults to /var/cache/wasmkata/jco-VERSION. Needs node and npm (Debian's nodejs/npm, or any node >= 18).
WASMKATA_JCO_VERSION=1.35.0

wasmkata_ensure_jco() {
  local cache=${1:-/var/cache/wasmkata/jco-$WASMKATA_JCO_VERSION}
  local jco=$cache/node_modules/.bin/jco
  if [[ -x $jco ]]; then
    printf '%s\n' "$jco"
    return 0
  fi
  wasmkata_ensure_npm "the component fixtures need jco" || return 1
  mkdir -p "$cache" || return 1
  npm install --no-audit --no-fund --silent --prefix "$cache" "@bytecodealliance/jco@$WASMKATA_JCO_VERSION" >&2 || return 1
  [[ -x $jco ]] || { echo "npm installed no jco in $cache" >&2; return 1; }
  printf '%s\n' "$jco"
}

# componentize-js (npm @bytecodealliance/componentize-js) builds a component from JavaScript with StarlingMonkey: the
# wasi:http guest (fetch). Same cache rules as jco (CACHE defaults to /var/cache/wasmkata/componentize-js-VERSION);
# prints the componentize-js command. It brings a jco of its own, whose WASI 0.2 WIT files the guest builds against.
WASMKATA_COMPONENTIZE_JS_VERSION=0.23.0

wasmkata_ensure_componentize_js() {
  local cache=${1:-/var/cache/wasmkata/componentize-js-$WASMKATA_COMPONENTIZE_JS_VERSION}
  local cli=$cache/node_modules/.bin/componentize-js
  if [[ -x $cli ]]; then
    printf '%s\n' "$cli"
    return 0
  fi
  wasmkata_ensure_jco >/dev/null || return 1
  mkdir -p "$cache" || return 1
  npm install --no-audit --no-fund --silent --prefix "$cache" \
    "@bytecodealliance/componentize-js@$WASMKATA_COMPONENTIZE_JS_VERSION" >&2 || return 1
  [[ -x $cli ]] || { echo "npm installed no componentize-js in $cache" >&2; return 1; }
  printf '%s\n' "$cli"
}

# node and npm: Debian's nodejs/npm when there is none (not in WASMKATA_DEPS: a node from elsewhere, such as
# NodeSource's nodejs, which carries npm, would conflict with Debian's npm). WHY names what needs them.
wasmkata_ensure_npm() {
  command -v npm >/dev/null && command -v node >/dev/null && return 0
  if ((EUID != 0)); then
    echo "error: node or npm is missing (apt-get install nodejs npm): $1" >&2
    return 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm </dev/null >&2
}

# Yosys from npm (@yowasp/yosys): a real program, a 30 MB WASI preview-1 module, for the big-module specs and the
# bench, which also run it under Node's WASI. Installed with npm into CACHE (default
# /var/cache/wasmkata/yosys-VERSION); CACHE/root gets yosys.wasm and share/ (yosys-root.mjs). Idempotent, one
# fetch at a time. Prints CACHE/root.
WASMKATA_YOSYS_VERSION=0.55.944

wasmkata_ensure_yosys() {
  local cache=${1:-/var/cache/wasmkata/yosys-$WASMKATA_YOSYS_VERSION}
  local root=$cache/root here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [[ ! -f $root/yosys.wasm || ! -f $root/share/ice40/cells_sim.v || ! -d $root/tmp ]]; then
    wasmkata_ensure_npm "the big-module specs run Yosys from npm" || return 1
    mkdir -p "$cache" || return 1
    (
      flock 9 || exit 1
      [[ -f $root/yosys.wasm && -f $root/share/ice40/cells_sim.v && -d $root/tmp ]] && exit 0
      npm install --no-audit --no-fund --silent --prefix "$cache" "@yowasp/yosys@$WASMKATA_YOSYS_VERSION" >&2 || exit 1
      rm -rf "$root" "$root.tmp"
      node "$here/yosys-root.mjs" "$cache/node_modules/@yowasp/yosys/gen" "$root.tmp" || exit 1
      mv "$root.tmp" "$root"
    ) 9>"$cache.lock" || return 1
  fi
  printf '%s\n' "$root"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    containerd2) shift; wasmkata_ensure_containerd2 "$@" ;;
    containerd17) shift; wasmkata_ensure_containerd17 "$@" ;;
    docker) shift; wasmkata_ensure_docker "$@" ;;
    jco) shift; wasmkata_ensure_jco "$@" ;;
    componentize-js) shift; wasmkata_ensure_componentize_js "$@" ;;
    yosys) shift; wasmkata_ensure_yosys "$@" ;;
    *) wasmkata_ensure_deps ;;
  esac
fi
