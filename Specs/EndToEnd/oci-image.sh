#!/usr/bin/env bash
# Builds a single-layer OCI image archive from a directory, without a registry or a container tool.
#   Run:     Specs/EndToEnd/oci-image.sh [options] NAME:TAG ROOTFS_DIR OUT.tar
#   Sourced: wasmkata_oci_image [options] NAME:TAG ROOTFS_DIR OUT.tar
# Options:
#   --platform OS/ARCH   platform written into the image config (default wasip1/wasm)
#   --entrypoint ARG     appended to the config's Entrypoint (repeatable; default /app.wasm for wasm images)
#   --env K=V            appended to the config's Env (repeatable)
#   --docker             also writes manifest.json, the `docker save` index that `docker load` reads (dockerd 26 and
#                        28 with their default image store read nothing else); ctr keeps reading index.json
#   --workdir DIR        the config's WorkingDir (default /)
# The archive holds oci-layout, index.json and blobs/sha256/{layer,config,manifest}. The manifest descriptor in
# index.json carries io.containerd.image.name, which `ctr images import` takes as the image name. The layer is
# an uncompressed tar with fixed owners and times, so the same rootfs always gives the same digests.

wasmkata_json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

wasmkata_json_array() {
  local out="" item
  for item in "$@"; do
    out+="${out:+,}$(wasmkata_json_string "$item")"
  done
  printf '[%s]' "$out"
}

# Writes CONTENT_FILE into BLOBS as a sha256 blob and prints "sha256:<hex> <size>".
wasmkata_add_blob() {
  local blobs=$1 file=$2 hex size
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  size=$(stat -c %s "$file")
  mv "$file" "$blobs/$hex"
  printf 'sha256:%s %s\n' "$hex" "$size"
}

# Writes WORK/manifest (config CONFIG_TYPE DIGEST SIZE, the layers LAYERS_JSON: descriptors joined by commas) into
# BLOBS, and the OCI layout's oci-layout and index.json naming it NAME, into WORK/layout.
wasmkata_write_layout() {
  local work=$1 blobs=$2 name=$3 config_type=$4 config_digest=$5 config_size=$6 layers=$7
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
    "$config_type" "$config_digest" "$config_size" "$layers" >"$work/manifest"
  local manifest manifest_digest manifest_size
  manifest=$(wasmkata_add_blob "$blobs" "$work/manifest") || return 1
  manifest_digest=${manifest% *} manifest_size=${manifest#* }

  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
    "$manifest_digest" "$manifest_size" "$(wasmkata_json_string "$name")" \
    "$(wasmkata_json_string "${name##*:}")" >"$work/layout/index.json"
}

wasmkata_oci_image() {
  local platform="wasip1/wasm" entrypoint=() env=() docker=0 workdir=/
  while (($# > 0)); do
    case $1 in
      --platform) platform=$2; shift 2 ;;
      --entrypoint) entrypoint+=("$2"); shift 2 ;;
      --env) env+=("$2"); shift 2 ;;
      --docker) docker=1; shift ;;
      --workdir) workdir=$2; shift 2 ;;
      --) shift; break ;;
      -*) echo "oci-image: unknown option $1" >&2; return 2 ;;
      *) break ;;
    esac
  done
  if (($# != 3)); then
    echo "usage: oci-image.sh [--platform OS/ARCH] [--entrypoint ARG]... [--env K=V]... [--workdir DIR] [--docker] NAME:TAG ROOTFS_DIR OUT.tar" >&2
    return 2
  fi
  local name=$1 rootfs=$2 out=$3
  local os=${platform%%/*} arch=${platform#*/}
  if [[ ! -d $rootfs ]]; then
    echo "oci-image: $rootfs is not a directory" >&2
    return 2
  fi
  if ((${#entrypoint[@]} == 0)) && [[ $arch == wasm ]]; then
    entrypoint=(/app.wasm)
  fi

  local work
  work=$(mktemp -d)
  local blobs="$work/layout/blobs/sha256"
  mkdir -p "$blobs"

  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/layer" .
  local layer layer_digest layer_size
  layer=$(wasmkata_add_blob "$blobs" "$work/layer")
  layer_digest=${layer% *} layer_size=${layer#* }

  # An uncompressed layer's diff id is its digest.
  printf '{"architecture":%s,"os":%s,"config":{"Entrypoint":%s,"Env":%s,"WorkingDir":%s},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$(wasmkata_json_string "$arch")" "$(wasmkata_json_string "$os")" \
    "$(wasmkata_json_array "${entrypoint[@]}")" "$(wasmkata_json_array "${env[@]}")" "$(wasmkata_json_string "$workdir")" \
    "$layer_digest" >"$work/config"
  local config config_digest config_size
  config=$(wasmkata_add_blob "$blobs" "$work/config")
  config_digest=${config% *} config_size=${config#* }

  wasmkata_write_layout "$work" "$blobs" "$name" application/vnd.oci.image.config.v1+json "$config_digest" "$config_size" \
    "$(printf '{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}' "$layer_digest" "$layer_size")"
  if ((docker == 1)); then
    printf '[{"Config":"blobs/sha256/%s","RepoTags":[%s],"Layers":["blobs/sha256/%s"]}]' \
      "${config_digest#sha256:}" "$(wasmkata_json_string "$name")" "${layer_digest#sha256:}" >"$work/layout/manifest.json"
  fi

  mkdir -p "$(dirname "$out")"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/layout" -cf "$out.tmp" .
  mv "$out.tmp" "$out"
  rm -rf "$work"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  wasmkata_oci_image "$@"
fi
