#!/usr/bin/env bash
# Starts and stops a private dockerd on a private containerd, leaving any system docker alone.
#   Run:     Specs/EndToEnd/dockerd.sh start --docker-dir USR --containerd SOCKET [--runtime NAME=TYPE]... RUN_DIR
#            Specs/EndToEnd/dockerd.sh stop RUN_DIR
#   Sourced: wasmkata_dockerd_start ..., wasmkata_dockerd_stop RUN_DIR
# USR holds sbin/dockerd and bin/docker (what `deps.sh docker SUITE` prints). SOCKET is a running containerd's gRPC
# socket (containerd.sh start makes one): dockerd keeps its containers there in namespace moby, and that containerd
# starts the shims, so the shim must be on its PATH. Each --runtime registers a runtime by its containerd type
# (e.g. wasmkata=io.containerd.wasmkata.v2) for `docker run --runtime NAME`.
# RUN_DIR (keep it short: socket paths) receives daemon.json, docker.sock (what `docker -H unix://` takes),
# dockerd.pid, dockerd.log, data/ (--data-root), exec/ (--exec-root) and cli/ (the docker CLI's --config).
# Private: no iptables rules, no bridge (containers get --network none unless told otherwise), no userland proxy,
# and the containers' cgroups go under /wasmkata-docker-<basename of RUN_DIR>, removed at stop.

# wasmkata_any_running, wasmkata_containerd_kill_tasks
source "$(dirname "${BASH_SOURCE[0]}")/containerd.sh"

wasmkata_dockerd_config() {
  local run_dir=$1
  shift
  local runtimes="" runtime
  for runtime in "$@"; do
    runtimes+="${runtimes:+,}\"${runtime%%=*}\": {\"runtimeType\": \"${runtime#*=}\"}"
  done
  cat <<JSON
{
  "data-root": "$run_dir/data",
  "exec-root": "$run_dir/exec",
  "pidfile": "$run_dir/dockerd.pid",
  "hosts": ["unix://$run_dir/docker.sock"],
  "iptables": false,
  "ip6tables": false,
  "bridge": "none",
  "userland-proxy": false,
  "cgroup-parent": "/wasmkata-docker-$(basename "$run_dir")",
  "runtimes": {$runtimes}
}
JSON
}

# The docker CLI of USR for this RUN_DIR's daemon.
wasmkata_docker() {
  local usr=$1 run_dir=$2
  shift 2
  "$usr/bin/docker" --config "$run_dir/cli" -H "unix://$run_dir/docker.sock" "$@"
}

wasmkata_dockerd_start() {
  local usr="" containerd="" runtimes=()
  while (($# > 0)); do
    case $1 in
      --docker-dir) usr=$(realpath -m "$2"); shift 2 ;;
      --containerd) containerd=$(realpath -m "$2"); shift 2 ;;
      --runtime) runtimes+=("$2"); shift 2 ;;
      -*) echo "dockerd.sh: unknown option $1" >&2; return 2 ;;
      *) break ;;
    esac
  done
  if (($# != 1)) || [[ -z $usr || -z $containerd ]]; then
    echo "usage: dockerd.sh start --docker-dir USR --containerd SOCKET [--runtime NAME=TYPE]... RUN_DIR" >&2
    return 2
  fi
  local run_dir
  run_dir=$(realpath -m "$1")
  if ((${#run_dir} + 12 > 107)); then
    echo "dockerd.sh: $run_dir is too long for a socket path" >&2
    return 2
  fi
  if [[ -f $run_dir/dockerd.pid ]] && wasmkata_any_running "$(cat "$run_dir/dockerd.pid")"; then
    echo "dockerd.sh: a dockerd already runs for $run_dir" >&2
    return 1
  fi
  mkdir -p "$run_dir/cli"
  echo "$usr" >"$run_dir/docker-dir"
  echo "$containerd" >"$run_dir/containerd-socket"
  wasmkata_dockerd_config "$run_dir" "${runtimes[@]}" >"$run_dir/daemon.json"

  # setsid: dockerd must not die with the caller's session or get its signals. Its PATH has its own docker-proxy.
  (cd "$run_dir" && PATH="$usr/sbin:$usr/bin:$PATH" exec setsid "$usr/sbin/dockerd" --config-file "$run_dir/daemon.json" \
    --containerd "$containerd" </dev/null >>"$run_dir/dockerd.log" 2>&1) &
  local pid=$! i
  for ((i = 0; i < 300; i++)); do
    if ! wasmkata_any_running "$pid"; then
      echo "dockerd.sh: dockerd exited during start-up; its log ends with:" >&2
      tail -n 30 "$run_dir/dockerd.log" >&2
      wasmkata_dockerd_stop "$run_dir"
      return 1
    fi
    if [[ -S $run_dir/docker.sock ]] && wasmkata_docker "$usr" "$run_dir" version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "dockerd.sh: dockerd did not answer on $run_dir/docker.sock within 30 s; its log ends with:" >&2
  tail -n 30 "$run_dir/dockerd.log" >&2
  wasmkata_dockerd_stop "$run_dir"
  return 1
}

wasmkata_dockerd_stop() {
  if (($# != 1)); then
    echo "usage: dockerd.sh stop RUN_DIR" >&2
    return 2
  fi
  local run_dir
  run_dir=$(realpath -m "$1")
  [[ -d $run_dir ]] || return 0
  local usr pid i ids
  usr=$(cat "$run_dir/docker-dir" 2>/dev/null)
  if [[ -f $run_dir/dockerd.pid ]]; then
    pid=$(cat "$run_dir/dockerd.pid")
    # Containers first, while dockerd still answers (and with it their shims and cgroups). A dockerd that died may
    # linger as a zombie of whoever reaps orphans (the specs' test host can be a subreaper): it does not run.
    if [[ -n $usr ]] && wasmkata_any_running "$pid"; then
      ids=$(timeout 20 "$usr/bin/docker" --config "$run_dir/cli" -H "unix://$run_dir/docker.sock" ps -aq 2>/dev/null) || ids=""
      [[ -z $ids ]] || timeout 60 "$usr/bin/docker" --config "$run_dir/cli" -H "unix://$run_dir/docker.sock" \
        rm -f $ids >/dev/null 2>&1 || true
    fi
    if wasmkata_any_running "$pid" && kill -TERM "$pid" 2>/dev/null; then
      for ((i = 0; i < 150; i++)); do
        wasmkata_any_running "$pid" || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi

  # A dockerd that died (or ignored rm) leaves its containers' tasks running in containerd: end them there, so their
  # shims go and take their cgroups with them.
  local containerd
  containerd=$(cat "$run_dir/containerd-socket" 2>/dev/null)
  [[ -z $containerd ]] || wasmkata_containerd_kill_tasks "$containerd"

  # Layer mounts and network namespaces dockerd left below its dirs, deepest first.
  local mount_point
  while read -r mount_point; do
    umount -l "$mount_point" 2>/dev/null || true
  done < <(awk -v a="$run_dir/" 'index($5, a) == 1 { print $5 }' /proc/self/mountinfo | sort -r)

  # The cgroup parent, once the shims (which remove their own cgroups as they end) are gone.
  local cgroup left
  for ((i = 0; i < 50; i++)); do
    left=0
    for cgroup in /sys/fs/cgroup/*/"wasmkata-docker-$(basename "$run_dir")" /sys/fs/cgroup/"wasmkata-docker-$(basename "$run_dir")"; do
      [[ -d $cgroup ]] || continue
      find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null
      [[ ! -d $cgroup ]] || left=1
    done
    ((left == 1)) || break
    sleep 0.1
  done
  rm -rf "$run_dir"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    start) shift; wasmkata_dockerd_start "$@" ;;
    stop) shift; wasmkata_dockerd_stop "$@" ;;
    *) echo "usage: dockerd.sh start|stop ..." >&2; exit 2 ;;
  esac
fi
