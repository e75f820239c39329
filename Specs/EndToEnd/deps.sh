#!/usr/bin/env bash
# Installs the Debian packages that the end-to-end specs and the demo need, and only the missing ones.
#   Sourced:  wasmkata_ensure_deps
#   Run:      Specs/EndToEnd/deps.sh
#             Specs/EndToEnd/deps.sh containerd2 [CACHE]   (sid's containerd 2.x in a cache; prints its bin dir)
#             Specs/EndToEnd/deps.sh jco [CACHE]           (npm's jco in a cache; prints the jco command)
# containerd brings ctr and runc; clang/lld/wasi-libc/compiler-rt compile the C guests to wasm32-wasi;
# wabt brings wat2wasm; busybox-static is the runc self-check image's only binary; gcc and zlib1g-dev link the
# shim's NativeAOT front.

WASMKATA_DEPS=(containerd wabt clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 busybox-static systemd dbus gcc zlib1g-dev)

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

# Fetches sid's containerd 2.x (and its ctr) into a cache without touching the system: a private apt state (its own
# sources list, lists and cache), `apt-get download`, `dpkg -x`. Idempotent: a cache that has the binaries is kept.
# Prints the directory holding containerd and ctr (CACHE/root/usr/bin). CACHE defaults to /var/cache/wasmkata/containerd2.
# Pin a version with WASMKATA_CONTAINERD2_VERSION (default: whatever sid has).
wasmkata_ensure_containerd2() {
  local cache=${1:-/var/cache/wasmkata/containerd2}
  local bin=$cache/root/usr/bin
  if [[ -x $bin/containerd && -x $bin/ctr ]]; then
    printf '%s\n' "$bin"
    return 0
  fi
  mkdir -p "$cache/lists/partial" "$cache/cache/archives/partial" "$cache/debs" "$cache/root" || return 1
  echo 'deb http://deb.debian.org/debian sid main' >"$cache/sources.list"
  local apt=(apt-get -q -o "Dir::Etc::SourceList=$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache/cache" -o Debug::NoLocking=1)
  "${apt[@]}" update >&2 || return 1
  local pkg=containerd
  [[ -z ${WASMKATA_CONTAINERD2_VERSION:-} ]] || pkg="containerd=$WASMKATA_CONTAINERD2_VERSION"
  (cd "$cache/debs" && "${apt[@]}" download "$pkg" >&2) || return 1
  local deb
  for deb in "$cache"/debs/containerd_*.deb; do
    dpkg -x "$deb" "$cache/root" || return 1
  done
  [[ -x $bin/containerd && -x $bin/ctr ]] || { echo "no containerd/ctr in $cache/debs" >&2; return 1; }
  printf '%s\n' "$bin"
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
  if ! command -v npm >/dev/null; then
    # Not in WASMKATA_DEPS: a node from elsewhere (NodeSource's nodejs carries npm) would conflict with Debian's npm.
    if ((EUID != 0)); then
      echo "error: npm is missing (apt-get install nodejs npm): the component fixtures need jco" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm </dev/null >&2 || return 1
  fi
  mkdir -p "$cache" || return 1
  npm install --no-audit --no-fund --silent --prefix "$cache" "@bytecodealliance/jco@$WASMKATA_JCO_VERSION" >&2 || return 1
  [[ -x $jco ]] || { echo "npm installed no jco in $cache" >&2; return 1; }
  printf '%s\n' "$jco"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    containerd2) shift; wasmkata_ensure_containerd2 "$@" ;;
    jco) shift; wasmkata_ensure_jco "$@" ;;
    *) wasmkata_ensure_deps ;;
  esac
fi
