#!/usr/bin/env bash
# Build the real parts of the integration test bed from the Go module proxy:
#   etcd, kube-apiserver, kube-controller-manager, kubectl, MinIO (minio) and helm;
#   with --node also the real node's parts: kubelet, kube-scheduler and kube-proxy (from the same
#   Kubernetes module), containerd 2.x with its runc shim and ctr, a static pause program, and the
#   Prometheus server that scrapes the operator there.
#
# The versions are pinned by the small Go modules under testbed/go/<part>/ (go.mod + go.sum,
# one `tool` line each): that is the only place a version is written. Binaries land in a cache
# outside the repository:
#
#   ${BARQUE_TESTBED_CACHE:-$HOME/.cache/barque-testbed}/<version-tag>/bin/
#
# Each part is built once into <cache>/parts/<part>-<version>-r<build_rev>/bin/ and linked into the tagged bin
# directory, so bumping one pin rebuilds only that part. The Go module and build caches live under
# <cache>/go/ (GOMODCACHE=<cache>/go/mod, GOCACHE=<cache>/go/build) so the whole test bed is one
# directory to cache in CI or to delete. Idempotent: when everything is built it only prints paths.
#
# Usage: testbed/build.sh                 build what is missing, print where everything is
#        testbed/build.sh --node          the same, plus the real node's parts
#        testbed/build.sh --print-bin-dir print the bin directory and exit (builds nothing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${BARQUE_TESTBED_CACHE:-$HOME/.cache/barque-testbed}
# Bump when the build flags below change, so that the tagged bin directory changes with them.
build_rev=1

# modver GO_MOD MODULE: the version of MODULE required by GO_MOD.
modver() {
  awk -v m="$2" '{ sub(/^require[ \t]+/, "") } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}

kube_version=$(modver "$here/go/kube/go.mod" k8s.io/kubernetes)
etcd_version=$(modver "$here/go/etcd/go.mod" go.etcd.io/etcd/server/v3)
minio_version=$(modver "$here/go/minio/go.mod" github.com/minio/minio)
helm_version=$(modver "$here/go/helm/go.mod" helm.sh/helm/v4)
containerd_version=$(modver "$here/go/containerd/go.mod" github.com/containerd/containerd/v2)
prometheus_version=$(modver "$here/go/prometheus/go.mod" github.com/prometheus/prometheus)
for v in kube_version etcd_version minio_version helm_version containerd_version prometheus_version; do
  if [[ -z ${!v} ]]; then
    echo "build.sh: cannot read ${v%_version}'s pinned version from $here/go/${v%_version}/go.mod" >&2
    exit 1
  fi
done
# MinIO has no semver tags: its pin is a pseudo-version v0.0.0-<yyyymmddhhmmss>-<commit>.
minio_stamp=${minio_version#v0.0.0-}
minio_stamp=${minio_stamp%%-*}
minio_commit=${minio_version##*-}

tag="k8s-${kube_version}_etcd-${etcd_version}_minio-${minio_stamp}_helm-${helm_version}_r${build_rev}"
bin="$cache/$tag/bin"
binaries=(etcd kube-apiserver kube-controller-manager kubectl minio helm)
node_binaries=(kubelet kube-scheduler kube-proxy containerd containerd-shim-runc-v2 ctr pause prometheus)
# The node's parts link into the same bin directory; their own marker names what they are.
node_complete="$bin/.complete-node-containerd-${containerd_version}_prometheus-${prometheus_version}_kube-proxy"

with_node=0
if [[ ${1:-} == --print-bin-dir ]]; then
  echo "$bin"
  exit 0
elif [[ ${1:-} == --node && $# -eq 1 ]]; then
  with_node=1
  binaries+=("${node_binaries[@]}")
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--node | --print-bin-dir]" >&2
  exit 2
fi

report() {
  echo "barque test bed: $bin"
  local b
  for b in "${binaries[@]}"; do
    echo "  $b -> $(readlink -f "$bin/$b")"
  done
  echo "  go caches: $cache/go (GOMODCACHE=$cache/go/mod GOCACHE=$cache/go/build)"
}

if [[ -f $bin/.complete ]] && { [[ $with_node == 0 ]] || [[ -f $node_complete ]]; }; then
  report
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "build.sh: 'go' is not on PATH; the test bed needs Go >= 1.26 (see testbed/go/*/go.mod)" >&2
  exit 1
fi

mkdir -p "$cache" "$bin"
# One build at a time (CI step and pytest fixture may race); flock is in util-linux.
if command -v flock >/dev/null; then
  exec 9>"$cache/.build.lock"
  flock 9
fi

export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
export GOFLAGS="-buildvcs=false -modcacherw -mod=readonly -trimpath" CGO_ENABLED=0

# build_part NAME VERSION MODULE_DIR LDFLAGS OUTPUT=PACKAGE...
# Builds into a temporary directory and renames it into place, so a part is either whole or absent.
build_part() {
  local name=$1 version=$2 moddir=$3 ldflags=$4
  shift 4
  local dest="$cache/parts/$name-$version-r$build_rev"
  if [[ ! -f $dest/.done ]]; then
    local tmp="$dest.tmp.$$" start=$SECONDS spec
    rm -rf "$tmp"
    mkdir -p "$tmp/bin"
    echo "building $name $version ..."
    for spec in "$@"; do
      (cd "$here/go/$moddir" && go build -ldflags "$ldflags" -o "$tmp/bin/${spec%%=*}" "${spec#*=}")
    done
    echo "$((SECONDS - start))" >"$tmp/build-seconds"
    touch "$tmp/.done"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    echo "built $name $version in $(cat "$dest/build-seconds")s"
  fi
  local spec
  for spec in "$@"; do
    ln -sfn "$dest/bin/${spec%%=*}" "$bin/${spec%%=*}"
  done
}

# Kubernetes reports its version from ldflags (v0.0.0 otherwise, which kubectl and helm dislike).
kube_minor=${kube_version#v1.}
kube_minor=${kube_minor%%.*}
kube_ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$kube_minor"
  kube_ld+=" -X $p.gitTreeState=clean -X $p.gitCommit=$kube_version -X $p.buildDate=1970-01-01T00:00:00Z"
done
build_part kube "$kube_version" kube "$kube_ld" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kubectl=k8s.io/kubernetes/cmd/kubectl

build_part etcd "$etcd_version" etcd "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" \
  etcd=go.etcd.io/etcd/server/v3

# MinIO's own build stamps a release time and commit; without them it calls itself DEVELOPMENT.
minio_time="${minio_stamp:0:4}-${minio_stamp:4:2}-${minio_stamp:6:2}T${minio_stamp:8:2}:${minio_stamp:10:2}:${minio_stamp:12:2}Z"
minio_pkg=github.com/minio/minio/cmd
minio_ld="-s -w -X $minio_pkg.Version=$minio_time -X $minio_pkg.ReleaseTag=RELEASE.${minio_time//:/-}"
minio_ld+=" -X $minio_pkg.CommitID=$minio_commit -X $minio_pkg.ShortCommitID=$minio_commit"
minio_ld+=" -X $minio_pkg.CopyrightYear=${minio_stamp:0:4}"
build_part minio "$minio_version" minio "$minio_ld" minio=github.com/minio/minio

helm_ld="-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version"
helm_ld+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
build_part helm "$helm_version" helm "$helm_ld" helm=helm.sh/helm/v4/cmd/helm

touch "$bin/.complete"

if [[ $with_node == 1 ]]; then
  build_part kubenode "$kube_version" kube "$kube_ld" \
    kubelet=k8s.io/kubernetes/cmd/kubelet \
    kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler

  ctrd_pkg=github.com/containerd/containerd/v2
  ctrd_ld="-s -w -X $ctrd_pkg/version.Version=$containerd_version -X $ctrd_pkg/version.Revision=$containerd_version"
  ctrd_ld+=" -X $ctrd_pkg/version.Package=$ctrd_pkg"
  build_part containerd "$containerd_version" containerd "$ctrd_ld" \
    containerd=$ctrd_pkg/cmd/containerd \
    containerd-shim-runc-v2=$ctrd_pkg/cmd/containerd-shim-runc-v2 \
    ctr=$ctrd_pkg/cmd/ctr

  # No registry, so no registry.k8s.io/pause: the test bed builds its own (testbed/go/pause).
  pause_rev=$(cat "$here/go/pause/go.mod" "$here/go/pause/main.go" | sha256sum | cut -c1-12)
  build_part pause "$pause_rev" pause "-s -w" pause=barque.dev/testbed/pause

  # Its own part: kubelet and kube-scheduler of an existing cache are not rebuilt for it.
  build_part kubeproxy "$kube_version" kube "$kube_ld" kube-proxy=k8s.io/kubernetes/cmd/kube-proxy

  # Module tag v0.3XX.y is Prometheus 3.XX.y; its build stamps the version like this. Only the
  # Kubernetes service discovery is compiled in (Prometheus's own build tags): the cloud SDKs of
  # the other two dozen would more than double its cold build.
  prom_semver=${prometheus_version#v0.}
  prom_semver="3.$((10#${prom_semver%%.*} - 300)).${prom_semver#*.}"
  prom_pkg=github.com/prometheus/common/version
  prom_ld="-s -w -X $prom_pkg.Version=$prom_semver -X $prom_pkg.Revision=$prometheus_version"
  prom_ld+=" -X $prom_pkg.Branch=HEAD -X $prom_pkg.BuildUser=barque-testbed -X $prom_pkg.BuildDate=19700101-00:00:00"
  GOFLAGS="$GOFLAGS -tags=remove_all_sd,enable_kubernetes_sd" build_part prometheus "$prometheus_version" prometheus "$prom_ld" \
    prometheus=github.com/prometheus/prometheus/cmd/prometheus
  touch "$node_complete"
fi
report
