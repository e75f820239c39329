#!/usr/bin/env bash
# Starts and stops a private containerd that leaves the host's own containerd alone.
#   Run:     Specs/EndToEnd/containerd.sh start [--root ROOT] [--containerd-dir DIR] [--shim-dir DIR]... [--cri SANDBOX_IMAGE
#                                              [--cri-handler [shim:]NAME[=CONFIG_TOML]]... [--cni]] RUN_DIR
#            Specs/EndToEnd/containerd.sh stop RUN_DIR
#   Sourced: wasmkata_containerd_start ..., wasmkata_containerd_stop RUN_DIR
# RUN_DIR (keep it short: socket paths must stay under 108 bytes) receives:
#   config.toml, containerd.sock (gRPC, what ctr -a takes), containerd.sock.ttrpc, state/, containerd.log,
#   containerd.pid, and root/ unless --root names another directory.
# --containerd-dir runs DIR/containerd (and checks it with DIR/ctr) instead of the ones on PATH; a 2.x one gets a
# version 3 config. Each --shim-dir goes in front of containerd's PATH, which is where containerd looks for
# containerd-shim-<name>-v2 binaries.
# Without --cri the CRI plugin is disabled (a lean containerd for ctr). With --cri, CRI serves on the same socket
# with SANDBOX_IMAGE as the pause image, the native snapshotter, no CNI (host-network pods only), a stream server
# on a free loopback port, runc, and each --cri-handler NAME as a runtime handler of the wasmkata shim (with
# options.ConfigPath = CONFIG_TOML when given). A 2.x containerd gets CRI's version 3 tables; there a "shim:" prefix
# makes the handler's sandboxer "shim" (the shim serves the sandbox API; no pause container) instead of "podsandbox".
# --cni gives pods their own network namespace: Debian's bridge and host-local plugins (containernetworking-plugins)
# on a bridge of this instance's own (no address on the host, no gateway, no NAT: nothing leaves the pod), in the
# documentation range 192.0.2.0/24; stop removes the bridge.

# The bridge of RUN_DIR's CNI network: short (IFNAMSIZ) and its own per instance.
wasmkata_cni_bridge() {
  printf 'wk%s\n' "$(printf '%s' "$1" | sha256sum | cut -c1-10)"
}

# Writes RUN_DIR/cni/net.d/10-wasmkata.conflist for --cni.
wasmkata_cni_config() {
  local run_dir=$1
  mkdir -p "$run_dir/cni/net.d" "$run_dir/cni/ipam"
  cat >"$run_dir/cni/net.d/10-wasmkata.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "wasmkata-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(wasmkata_cni_bridge "$run_dir")",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$run_dir/cni/ipam",
        "ranges": [[{ "subnet": "192.0.2.0/24" }]]
      }
    }
  ]
}
JSON
}

wasmkata_containerd_config() {
  local run_dir=$1 root=$2 sandbox_image=${3:-} version=${4:-2}
  shift 4
  cat <<TOML
version = $version
root = "$root"
state = "$run_dir/state"
TOML
  if [[ -z $sandbox_image && $version == 3 ]]; then
    echo 'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]'
  elif [[ -z $sandbox_image ]]; then
    echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
  fi
  cat <<TOML

[grpc]
  address = "$run_dir/containerd.sock"

[ttrpc]
  address = "$run_dir/containerd.sock.ttrpc"

[debug]
  level = "debug"
TOML
  [[ -n $sandbox_image ]] || return 0
  if [[ $version == 3 ]]; then
    wasmkata_containerd_cri3_config "$run_dir" "$sandbox_image" "$@"
    return 0
  fi
  # Naming any runtime replaces CRI's default table: runc must stay listed or the plugin does not load.
  cat <<TOML

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox_image"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$run_dir/cni/bin"
    conf_dir = "$run_dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
TOML
  local handler name config
  for handler in "$@"; do
    if [[ $handler == shim:* ]]; then
      echo "containerd.sh: sandboxer \"shim\" needs containerd 2.x" >&2
      return 2
    fi
    name=${handler%%=*} config=${handler#*=}
    cat <<TOML
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$name]
      runtime_type = "io.containerd.wasmkata.v2"
TOML
    if [[ -n $config && $config != "$handler" ]]; then
      cat <<TOML
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$name.options]
        ConfigPath = "$config"
TOML
    fi
  done
}

# CRI's tables in a version 3 config (containerd 2.x): the images, runtime and grpc plugins are apart.
wasmkata_containerd_cri3_config() {
  local run_dir=$1 sandbox_image=$2
  shift 2
  local runtime="plugins.'io.containerd.cri.v1.runtime'"
  cat <<TOML

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "native"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$sandbox_image"

[$runtime]
  disable_apparmor = true
  enable_selinux = false
  [$runtime.cni]
    bin_dirs = ["$run_dir/cni/bin", "/usr/lib/cni"]
    conf_dir = "$run_dir/cni/net.d"
  [$runtime.containerd]
    default_runtime_name = "runc"
    [$runtime.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
TOML
  local handler name config sandboxer
  for handler in "$@"; do
    sandboxer=podsandbox
    if [[ $handler == shim:* ]]; then
      sandboxer=shim handler=${handler#shim:}
    fi
    name=${handler%%=*} config=${handler#*=}
    cat <<TOML
    [$runtime.containerd.runtimes.$name]
      runtime_type = "io.containerd.wasmkata.v2"
      sandboxer = "$sandboxer"
TOML
    if [[ -n $config && $config != "$handler" ]]; then
      cat <<TOML
      [$runtime.containerd.runtimes.$name.options]
        ConfigPath = "$config"
TOML
    fi
  done
}

wasmkata_containerd_start() {
  local root="" shim_path="" sandbox_image="" handlers=() containerd_bin=containerd ctr_bin=ctr cni=0
  while (($# > 0)); do
    case $1 in
      --containerd-dir) containerd_bin="$(realpath -m "$2")/containerd" ctr_bin="$(realpath -m "$2")/ctr"; shift 2 ;;
      --root) root=$2; shift 2 ;;
      --cri) sandbox_image=$2; shift 2 ;;
      --cri-handler) handlers+=("$2"); shift 2 ;;
      --cni) cni=1; shift ;;
      --shim-dir) shim_path+="$(realpath -m "$2"):"; shift 2 ;;
      -*) echo "containerd.sh: unknown option $1" >&2; return 2 ;;
      *) break ;;
    esac
  done
  if (($# != 1)); then
    echo "usage: containerd.sh start [--root ROOT] [--shim-dir DIR]... [--cri SANDBOX_IMAGE [--cri-handler NAME[=TOML]]...] RUN_DIR" >&2
    return 2
  fi
  local run_dir
  run_dir=$(realpath -m "$1")
  root=$(realpath -m "${root:-$run_dir/root}")
  local sock="$run_dir/containerd.sock"
  if ((${#sock} + 7 > 107)); then
    echo "containerd.sh: $run_dir is too long for a socket path" >&2
    return 2
  fi
  if [[ -f $run_dir/containerd.pid ]] && kill -0 "$(cat "$run_dir/containerd.pid")" 2>/dev/null; then
    echo "containerd.sh: a containerd already runs for $run_dir" >&2
    return 1
  fi

  mkdir -p "$run_dir/state" "$root"
  # containerd 2.x takes (and wants) a version 3 config.
  local config_version=2
  [[ $("$containerd_bin" --version 2>/dev/null) != *" 2."* && $("$containerd_bin" --version 2>/dev/null) != *" v2."* ]] || config_version=3
  wasmkata_containerd_config "$run_dir" "$root" "$sandbox_image" "$config_version" "${handlers[@]}" >"$run_dir/config.toml" || return 1
  if ((cni == 1)); then
    if [[ ! -x /usr/lib/cni/bridge ]]; then
      echo "containerd.sh: --cni needs Debian's containernetworking-plugins (Specs/EndToEnd/deps.sh installs it)" >&2
      return 1
    fi
    wasmkata_cni_config "$run_dir"
  fi

  # setsid: containerd (and the shims it starts) must not die with the caller's session or get its signals.
  # Its working directory is RUN_DIR: containerd looks for containerd-shim-<name>-v2 in its working directory before
  # PATH, and the caller's (the specs' output folder) holds a build of the shim that is not the published one.
  (cd "$run_dir" && PATH="$shim_path$PATH" exec setsid "$containerd_bin" --config "$run_dir/config.toml" \
    </dev/null >>"$run_dir/containerd.log" 2>&1) &
  echo $! >"$run_dir/containerd.pid"

  local pid i
  pid=$(cat "$run_dir/containerd.pid")
  for ((i = 0; i < 200; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "containerd.sh: containerd exited during start-up; its log ends with:" >&2
      tail -n 30 "$run_dir/containerd.log" >&2
      wasmkata_containerd_stop "$run_dir"
      return 1
    fi
    if [[ -S $sock ]] && "$ctr_bin" -a "$sock" version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "containerd.sh: containerd did not answer on $sock within 20 s; its log ends with:" >&2
  tail -n 30 "$run_dir/containerd.log" >&2
  wasmkata_containerd_stop "$run_dir"
  return 1
}

# Prints the pids of shims whose -address is this containerd's socket.
wasmkata_containerd_shims() {
  local sock=$1 cmdline_file pid
  for cmdline_file in /proc/[0-9]*/cmdline; do
    pid=${cmdline_file#/proc/}
    pid=${pid%/cmdline}
    if tr '\0' '\n' 2>/dev/null <"$cmdline_file" | grep -qxF -- "$sock"; then
      printf '%s\n' "$pid"
    fi
  done
}

# True while one of the pids runs (a zombie does not: the specs' test host may be the one to reap it).
wasmkata_any_running() {
  local pid stat
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    [[ ${stat:0:1} == Z ]] || return 0
  done
  return 1
}

# Kills and deletes every task left in any namespace, while containerd still answers; a killed shim would
# otherwise leave its containers' processes running.
wasmkata_containerd_kill_tasks() {
  local sock=$1 ns id
  [[ -S $sock ]] || return 0
  for ns in $(timeout 10 ctr -a "$sock" namespaces ls -q 2>/dev/null); do
    for id in $(timeout 10 ctr -a "$sock" -n "$ns" task ls -q 2>/dev/null); do
      timeout 10 ctr -a "$sock" -n "$ns" task kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
      timeout 10 ctr -a "$sock" -n "$ns" task delete -f "$id" >/dev/null 2>&1 || true
    done
  done
}

wasmkata_containerd_stop() {
  if (($# != 1)); then
    echo "usage: containerd.sh stop RUN_DIR" >&2
    return 2
  fi
  local run_dir
  run_dir=$(realpath -m "$1")
  [[ -d $run_dir ]] || return 0
  local root
  root=$(sed -n 's/^root = "\(.*\)"$/\1/p' "$run_dir/config.toml" 2>/dev/null)
  root=${root:-$run_dir/root}

  local pid i
  if [[ -f $run_dir/containerd.pid ]]; then
    pid=$(cat "$run_dir/containerd.pid")
    wasmkata_containerd_kill_tasks "$run_dir/containerd.sock"
    if kill -TERM "$pid" 2>/dev/null; then
      for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi

  # Shims outlive containerd by design; these ones belong to this instance only. Spares (comm wasmkata-spare) end
  # with containerd's events connection and remove their sockets: SIGTERM does the same, then wait for them.
  local shims spares=()
  mapfile -t shims < <(wasmkata_containerd_shims "$run_dir/containerd.sock")
  for pid in "${shims[@]}"; do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) != wasmkata-spare ]] || spares+=("$pid")
  done
  if ((${#spares[@]} > 0)); then
    kill -TERM "${spares[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      wasmkata_any_running "${spares[@]}" || break
      sleep 0.1
    done
  fi
  mapfile -t shims < <(wasmkata_containerd_shims "$run_dir/containerd.sock")
  if ((${#shims[@]} > 0)); then
    kill -KILL "${shims[@]}" 2>/dev/null || true
  fi

  # A killed shim leaves its socket (named in each bundle's address file) behind.
  local address_file address
  for address_file in "$run_dir"/state/io.containerd.runtime.v2.task/*/*/address; do
    [[ -f $address_file ]] || continue
    address=$(cat "$address_file")
    address=${address#unix://}
    if [[ $address == /* && -S $address ]]; then
      rm -f "$address"
    fi
  done

  # runc keeps per-namespace state in a host-wide folder; drop the empty ones of our namespaces.
  local ns_dir
  for ns_dir in "$run_dir"/state/io.containerd.runtime.v2.task/*/; do
    if [[ -d $ns_dir ]]; then
      rmdir "/run/containerd/runc/$(basename "$ns_dir")" 2>/dev/null || true
    fi
  done

  # Bundle rootfs bind mounts and anything else still mounted below our dirs, deepest first.
  local mount_point
  while read -r mount_point; do
    umount -l "$mount_point" 2>/dev/null || true
  done < <(awk -v a="$run_dir/" -v b="$root/" \
    'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo | sort -r)

  # A --cni instance's bridge outlives its pods (the bridge plugin never removes it).
  if [[ -f $run_dir/cni/net.d/10-wasmkata.conflist ]]; then
    ip link delete "$(wasmkata_cni_bridge "$run_dir")" 2>/dev/null || true
  fi

  rm -rf "$root" "$run_dir"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    start) shift; wasmkata_containerd_start "$@" ;;
    stop) shift; wasmkata_containerd_stop "$@" ;;
    *) echo "usage: containerd.sh start|stop ..." >&2; exit 2 ;;
  esac
fi
