# Sourced by the stand-alone bench scripts (guest-process-cost.sh, guest-process-start.sh, idmap-cost.sh), after
# containerd.sh: the timing helpers they share and the set-up of one private containerd.

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# Median of microsecond figures on stdin, printed in ms.
median_ms() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }

# bench_private_containerd NAME CTR_TIMEOUT_S: names a private containerd /run/wasmkata-NAME (run_dir, sock; namespace
# ns = NAME), a scratch directory (work) and a tag for image and container names; stops and removes both on exit;
# ctr_ runs ctr against it, each call bounded by CTR_TIMEOUT_S. The caller starts containerd itself.
bench_private_containerd() {
  run_dir=/run/wasmkata-$1
  sock=$run_dir/containerd.sock
  ns=$1
  tag=$$
  work=$(mktemp -d "/tmp/wk-$1-XXXXXX")
  bench_ctr_timeout=$2
  trap bench_private_containerd_cleanup EXIT
}

bench_private_containerd_cleanup() {
  wasmkata_containerd_stop "$run_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}

ctr_() { timeout -k 5 "$bench_ctr_timeout" ctr -a "$sock" -n "$ns" "$@"; }
