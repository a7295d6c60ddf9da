#!/usr/bin/env bash
# Set up everything and run both test tiers; exits non-zero if either fails or runs no test.
#   unit         pure logic and local CLI runs, no servers (seconds)
#   integration  a real kube-apiserver, kube-controller-manager, etcd, MinIO and helm, built from
#                the Go module proxy into ~/.cache/barque-testbed (cold: tens of minutes; warm: seconds),
#                and the barque images built from the Dockerfile with podman (testbed/images.sh);
#                a simulated node only for the tests that need the operator as a local process
#   realnode     the real node (kubelet, containerd 2.x + runc, CNI, kube-scheduler) built by
#                `testbed/build.sh --node`, the chart installed with the images from
#                testbed/images.sh, the operator as its Deployment (root needed): every flow a
#                user runs; its own pytest session (its own cluster: no simulated node in it)
# Usage: scripts/test.sh [unit|integration|all|realnode] [extra pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
tier="${1:-all}"
[ $# -gt 0 ] && shift

setup_start=$(date +%s)
bash scripts/setup.sh operator,s3,parquet,dev

need_apt=()
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)  # `barque graph --format svg` renders with it
if [ "$tier" = realnode ] || [ "$tier" = all ]; then
  [ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
  command -v runc >/dev/null 2>&1 || need_apt+=(runc)
  command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
  command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
  command -v nft >/dev/null 2>&1 || need_apt+=(nftables)  # kube-proxy's tables are removed with nft
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: please install: ${need_apt[*]} (Debian packages)" >&2
    exit 1
  fi
fi
echo "[test.sh] set up (.venv, Debian packages) in $(( $(date +%s) - setup_start )) s" >&2

clock_ticks=$(getconf CLK_TCK)
# CPU time (user + system, in clock ticks) of the children this shell has waited for, from its
# /proc stat (fields 16 and 17), read without a fork: a command substitution would read its own.
children_cpu_ticks() {
  local stat
  read -r -a stat < "/proc/${BASHPID}/stat"
  cpu_ticks=$(( stat[15] + stat[16] ))
}

# A tier's line says its wall time, the CPU time of its processes (those it waited for: servers,
# pods of the simulated node, CLIs; not the real node's containers, which containerd's shims
# reap) and the machine's load when it ended, so a slow run shows whether it waited or queued.
run_tier() {
  local name=$1; shift
  local start rc=0 cpu_before load
  start=$(date +%s)
  children_cpu_ticks; cpu_before=$cpu_ticks
  .venv/bin/python -m pytest "$@" || rc=$?
  children_cpu_ticks
  read -r load _ < /proc/loadavg
  echo "[test.sh] ${name} tier: exit ${rc}, $(( $(date +%s) - start )) s," \
       "$(( (cpu_ticks - cpu_before) / clock_ticks )) s CPU, load ${load}" >&2
  if [ "$rc" = 5 ] && [ -z "${part_of_tier:-}" ]; then
    echo "[test.sh] ${name} tier collected no tests: that is a failure" >&2
    return 1
  fi
  return "$rc"  # a session of a split tier returns 5 as it is: the tier decides (integration_tier)
}

testbed_binaries() {  # the test bed's binaries (`--node`: with the real node's parts)
  local start
  start=$(date +%s)
  bash testbed/build.sh "$@"
  echo "[test.sh] test bed ${*:+($*) }ready in $(( $(date +%s) - start )) s" >&2
}

# The barque images (testbed/images.sh: nothing to do when their inputs are unchanged, about two
# minutes to build when they changed, as on most commits). Built beside the server tiers, not
# before them: only test_images.py and the real node use them, and their `barque_images` fixture
# waits for this build (images.sh takes a lock), while the other tests run meanwhile.
images() {
  local start rc=0
  start=$(date +%s)
  bash testbed/images.sh >/dev/null || rc=$?
  echo "[test.sh] images ready in $(( $(date +%s) - start )) s (exit ${rc})" >&2
  return "$rc"
}

# The integration tier is two pytest sessions side by side, each with a test bed of its own
# (etcd, kube-apiserver, controller manager, MinIO and the simulated node on free ports, in its
# own temp dirs; they share only the built binaries and images). Its tests mostly wait (on Pods,
# the operator, fault windows), so the tier takes about as long as its longer session instead of
# their sum. The "operator" session is the tests that run `barque operator` as a process on the
# simulated node, except the CLI's (test_cli_cluster.py), which balance the two sessions' times
# (measured: the operator tests take about two thirds of the tier); the "parts" session is the
# rest of tests/integration less those files, so no test can fall between the two. The real
# node's tests run in their own tier (realnode).
# The slowest tests go in the log (--durations), so the warm CI budget (10 minutes) can be kept.
OPERATOR_SESSION=(
  tests/integration/test_faults.py tests/integration/test_ha.py tests/integration/test_operator_runs.py
  tests/integration/test_operator_hooks.py tests/integration/test_operator_overrides.py
  tests/integration/test_operator_refs.py tests/integration/test_batch_cluster.py
  tests/integration/test_fail_fast_cluster.py tests/integration/test_filtering_cluster.py
)
integration_tier() {
  local not_operator=(--ignore=tests/integration/realnode) file operator_pid parts_pid rc_operator=0 rc_parts=0 start
  start=$(date +%s)
  for file in "${OPERATOR_SESSION[@]}"; do not_operator+=("--ignore=$file"); done
  part_of_tier=1 run_tier integration:operator "${OPERATOR_SESSION[@]}" -m integration --durations=10 "$@" \
    > >(sed -u 's/^/[integration:operator] /') 2>&1 &
  operator_pid=$!
  part_of_tier=1 run_tier integration:parts tests/integration "${not_operator[@]}" -m integration --durations=10 "$@" \
    > >(sed -u 's/^/[integration:parts] /') 2>&1 &
  parts_pid=$!
  wait "$operator_pid" || rc_operator=$?
  wait "$parts_pid" || rc_parts=$?
  echo "[test.sh] integration tier (both sessions): $(( $(date +%s) - start )) s" >&2
  if [ "$rc_operator" = 5 ] && [ "$rc_parts" = 5 ]; then
    echo "[test.sh] integration tier collected no tests: that is a failure" >&2
    return 1
  fi
  # One session collecting nothing (`-k` naming tests of the other) is fine; any other failure is not.
  [ "$rc_operator" = 0 ] || [ "$rc_operator" = 5 ] || return 1
  [ "$rc_parts" = 0 ] || [ "$rc_parts" = 5 ] || return 1
}
realnode_tier() {
  # The real node's bridge and subnet are fixed, so two checkouts on one machine take turns.
  local lock=/tmp/barque-realnode.lock waited
  exec 9>"$lock"
  if ! flock -n 9; then
    waited=$(date +%s)
    echo "[test.sh] waiting for another checkout's real-node tier ($lock)" >&2
    flock 9
    echo "[test.sh] waited $(( $(date +%s) - waited )) s for the real node" >&2
  fi
  BARQUE_REAL_NODE=1 run_tier realnode tests/integration/realnode -m integration --durations=10 "$@"
}

unit_tier() { run_tier unit tests/unit -m "not integration" "$@"; }

status=0
if [ "$tier" = unit ]; then
  unit_tier "$@" || status=1
elif [ "$tier" = all ]; then
  # The three tiers are separate pytest sessions (the two server tiers with their own control
  # planes, ports and folders; only realnode uses the bridge). The server tiers spend most of
  # their time waiting on Pods and the unit tier needs no server, so all three run side by side
  # (the unit tier also beside a cold build): the warm run takes about as long as the longest
  # tier instead of their sum. Each output line names its tier.
  # The integration tier starts as soon as the control plane's binaries are there, beside the
  # images (when their inputs changed) and, cold, the real node's parts (kubelet, containerd,
  # Prometheus...); the real-node tier starts once those are built and waits for the images in
  # its fixtures.
  unit_tier "$@" > >(sed -u 's/^/[unit] /') 2>&1 &
  unit_pid=$!
  testbed_binaries
  images &
  images_pid=$!
  integration_tier "$@" &  # its two sessions prefix their own lines
  integration_pid=$!
  testbed_binaries --node
  realnode_tier "$@" > >(sed -u 's/^/[realnode] /') 2>&1 &
  realnode_pid=$!
  wait "$unit_pid" || status=1
  wait "$images_pid" || status=1
  wait "$integration_pid" || status=1
  wait "$realnode_pid" || status=1
  sleep 1  # let the prefixing pipes drain their last lines
elif [ "$tier" = integration ]; then
  testbed_binaries
  images &
  images_pid=$!
  integration_tier "$@" || status=1
  wait "$images_pid" || status=1
  sleep 1  # let the prefixing pipes drain their last lines
elif [ "$tier" = realnode ]; then
  testbed_binaries --node
  images || status=1
  realnode_tier "$@" || status=1
fi
exit "$status"
