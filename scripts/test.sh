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

run_tier() {
  local name=$1; shift
  local start rc=0
  start=$(date +%s)
  .venv/bin/python -m pytest "$@" || rc=$?
  echo "[test.sh] ${name} tier: exit ${rc}, $(( $(date +%s) - start )) s" >&2
  if [ "$rc" = 5 ]; then
    echo "[test.sh] ${name} tier collected no tests: that is a failure" >&2
    return 1
  fi
  return "$rc"
}

prepare() {  # the test bed's binaries (with the real node's parts for realnode) and the images
  local build_start images_start
  build_start=$(date +%s)
  bash testbed/build.sh "$@"
  echo "[test.sh] test bed ${*:+($*) }ready in $(( $(date +%s) - build_start )) s" >&2
  images_start=$(date +%s)
  bash testbed/images.sh >/dev/null
  echo "[test.sh] images ready in $(( $(date +%s) - images_start )) s" >&2
}

# The slowest tests go in the log (--durations), so the warm CI budget (10 minutes) can be kept.
integration_tier() { run_tier integration tests/integration -m integration --durations=10 "$@"; }
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
  # Cold, the integration tier starts as soon as the control plane and the images are there,
  # while the real node's parts (kubelet, containerd, Prometheus...) still build beside it.
  unit_tier "$@" > >(sed -u 's/^/[unit] /') 2>&1 &
  unit_pid=$!
  prepare
  integration_tier "$@" > >(sed -u 's/^/[integration] /') 2>&1 &
  integration_pid=$!
  node_start=$(date +%s)
  bash testbed/build.sh --node
  echo "[test.sh] real node's parts ready in $(( $(date +%s) - node_start )) s" >&2
  realnode_tier "$@" > >(sed -u 's/^/[realnode] /') 2>&1 &
  realnode_pid=$!
  wait "$unit_pid" || status=1
  wait "$integration_pid" || status=1
  wait "$realnode_pid" || status=1
  sleep 1  # let the prefixing pipes drain their last lines
elif [ "$tier" = integration ]; then
  prepare
  integration_tier "$@" || status=1
elif [ "$tier" = realnode ]; then
  prepare --node
  realnode_tier "$@" || status=1
fi
exit "$status"
