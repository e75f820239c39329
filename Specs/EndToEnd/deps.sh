#!/usr/bin/env bash
# Installs the Debian packages that the end-to-end specs and the demo need, and only the missing ones.
#   Sourced:  wasmkata_ensure_deps
#   Run:      Specs/EndToEnd/deps.sh
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

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  wasmkata_ensure_deps
fi
