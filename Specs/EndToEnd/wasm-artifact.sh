#!/usr/bin/env bash
# Builds a wasm OCI artifact image archive (wasm layers, no rootfs) from .wasm files, for `ctr images import`.
#   Run:     Specs/EndToEnd/wasm-artifact.sh [options] NAME:TAG OUT.tar FILE.wasm...
#   Sourced: wasmkata_wasm_artifact [options] NAME:TAG OUT.tar FILE.wasm...
# Options:
#   --format F           oci (default): an OCI image config (architecture wasm, no diff_ids), layers
#                          application/vnd.bytecodealliance.wasm.component.layer.v0+wasm, as runwasi's oci-tar-builder
#                          makes them; the only format `ctr run` takes (it reads only OCI and Docker image configs)
#                        cncf: the CNCF TAG-Runtime wasm artifact, config application/vnd.wasm.config.v0+json,
#                          layers application/wasm (CRI runs it; ctr run refuses its config)
#                        wasm-to-oci: the older config application/vnd.wasm.config.v1+json, layers
#                          application/vnd.wasm.content.layer.v1+wasm (CRI only, as cncf)
#   --os OS              the config's os (default: wasip1 for a core module, wasip2 for a component, from the first
#                        file's header)
#   --entrypoint ARG     appended to the config's Entrypoint (repeatable; default the first file's name, which the
#                        guest sees as argv[0]; oci format only)
#   --env K=V            appended to the config's Env (repeatable; oci format only)
# Each file is one layer, in order, annotated org.opencontainers.image.title=<its file name>. The archive holds
# oci-layout, index.json and blobs/sha256/*; the manifest's entry in index.json carries io.containerd.image.name,
# which `ctr images import` takes as the image's name. No times or owners vary: the same files give the same digests.

# shellcheck source=oci-image.sh
source "$(dirname "${BASH_SOURCE[0]}")/oci-image.sh"

# Prints wasip1 or wasip2 from a wasm file's header: version 1 is a core module, 0x0d (layer 1) a component.
wasmkata_wasm_os() {
  local header
  header=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
  case $header in
    0061736d01000000) echo wasip1 ;;
    0061736d0d000100) echo wasip2 ;;
    *) echo "wasm-artifact: $1 is not a WebAssembly module or component (header $header)" >&2; return 2 ;;
  esac
}

wasmkata_wasm_artifact() {
  local format=oci os="" entrypoint=() env=()
  while (($# > 0)); do
    case $1 in
      --format) format=$2; shift 2 ;;
      --os) os=$2; shift 2 ;;
      --entrypoint) entrypoint+=("$2"); shift 2 ;;
      --env) env+=("$2"); shift 2 ;;
      --) shift; break ;;
      -*) echo "wasm-artifact: unknown option $1" >&2; return 2 ;;
      *) break ;;
    esac
  done
  if (($# < 3)); then
    echo "usage: wasm-artifact.sh [--format oci|cncf|wasm-to-oci] [--os OS] [--entrypoint ARG]... [--env K=V]... NAME:TAG OUT.tar FILE.wasm..." >&2
    return 2
  fi
  local name=$1 out=$2
  shift 2
  local files=("$@") file
  for file in "${files[@]}"; do
    [[ -f $file ]] || { echo "wasm-artifact: $file is not a file" >&2; return 2; }
  done
  [[ -n $os ]] || os=$(wasmkata_wasm_os "${files[0]}") || return 2
  ((${#entrypoint[@]} > 0)) || entrypoint=("$(basename "${files[0]}")")

  local layer_type config_type
  case $format in
    oci) layer_type=application/vnd.bytecodealliance.wasm.component.layer.v0+wasm config_type=application/vnd.oci.image.config.v1+json ;;
    cncf) layer_type=application/wasm config_type=application/vnd.wasm.config.v0+json ;;
    wasm-to-oci) layer_type=application/vnd.wasm.content.layer.v1+wasm config_type=application/vnd.wasm.config.v1+json ;;
    *) echo "wasm-artifact: unknown format $format (oci, cncf, wasm-to-oci)" >&2; return 2 ;;
  esac

  local work
  work=$(mktemp -d)
  local blobs="$work/layout/blobs/sha256"
  mkdir -p "$blobs"

  local layers="" digests="" blob digest size
  for file in "${files[@]}"; do
    cp "$file" "$work/layer"
    blob=$(wasmkata_add_blob "$blobs" "$work/layer")
    digest=${blob% *} size=${blob#* }
    layers+="${layers:+,}{\"mediaType\":\"$layer_type\",\"digest\":\"$digest\",\"size\":$size,\"annotations\":{\"org.opencontainers.image.title\":$(wasmkata_json_string "$(basename "$file")")}}"
    digests+="${digests:+,}\"$digest\""
  done

  case $format in
    oci)
      # No diff_ids: nothing to unpack. containerd's client accepts that for wasm layers from 1.6.25, 1.7.7 and 2.0.
      printf '{"architecture":"wasm","os":%s,"config":{"Entrypoint":%s,"Env":%s},"rootfs":{"type":"layers","diff_ids":[]}}' \
        "$(wasmkata_json_string "$os")" "$(wasmkata_json_array "${entrypoint[@]}")" "$(wasmkata_json_array "${env[@]}")" >"$work/config"
      ;;
    cncf)
      printf '{"created":"1970-01-01T00:00:00Z","architecture":"wasm","os":%s,"layerDigests":[%s]}' \
        "$(wasmkata_json_string "$os")" "$digests" >"$work/config"
      ;;
    wasm-to-oci)
      printf '{}' >"$work/config"
      ;;
  esac
  local config config_digest config_size
  config=$(wasmkata_add_blob "$blobs" "$work/config")
  config_digest=${config% *} config_size=${config#* }

  wasmkata_write_layout "$work" "$blobs" "$name" "$config_type" "$config_digest" "$config_size" "$layers"

  mkdir -p "$(dirname "$out")"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/layout" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$work"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  wasmkata_wasm_artifact "$@"
fi
