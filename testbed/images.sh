#!/usr/bin/env bash
# Build barque's runtime and operator images for the test bed, from the project's Dockerfile.
#
# No image registry is reachable here, so `python:3.12-slim` cannot be pulled. The test bed
# makes a stand-in Python base with mmdebstrap (Debian bookworm, minbase) that behaves like the
# official image where the Dockerfile relies on it: `python` and `pip` on PATH, and pip allowed
# to install into the system (no PEP 668 EXTERNALLY-MANAGED marker). The Dockerfile keeps its
# `python:3.12-slim` default for users; only this script overrides PYTHON_IMAGE.
#
# Everything is cached under ${BARQUE_TESTBED_CACHE:-$HOME/.cache/barque-testbed}/images/:
#   base-<key>.tar                the Python base (docker-archive), key = hash of its recipe
#   barque-<target>-<key>.tar     each image (docker-archive, ready for `ctr images import`),
#                                 key = hash of every build input (Dockerfile, .dockerignore,
#                                 constraints.txt, pyproject.toml, README.md, runtime/, operator/,
#                                 the base's key and this script's image revision)
# so a warm run builds nothing. The last lines of the output say what was built, one per image,
# after podman's settings for this machine (pass them as CONTAINERS_CONF):
#   containers-conf <path>
#   image <target> <reference> <archive>
#
# Why `--no-cache`: podman 4.3 (buildah 1.28) reuses a cached `builder` stage for the second
# target, and then `RUN --mount=type=bind,from=builder` sees an empty directory. Building
# without its layer cache sidesteps that; the content hash above is the cache instead. Users'
# BuildKit builds (`docker build`) are unaffected.
#
# The build machine's CA bundle is bind-mounted read-only into the build's RUN steps (pip
# verifies TLS with it) and never lands in a layer.
#
# Usage: testbed/images.sh           build what is missing, print the image lines
#        testbed/images.sh --print   print the image lines without building (they may not exist)
# Needs root (podman with its default root storage), podman, mmdebstrap; installs the Debian
# packages itself when they are missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${BARQUE_TESTBED_CACHE:-$HOME/.cache/barque-testbed}
out="$cache/images"
# Bump when the build recipe below changes in a way the hashed inputs do not show.
images_rev=1
suite=bookworm
base_packages=python3,python3-pip,python3-venv,ca-certificates,passwd
ca_bundle=${BARQUE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
targets=(runtime operator)

mode=build
if [[ ${1:-} == --print ]]; then
  mode=print
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--print]" >&2
  exit 2
fi

log() { echo "[images.sh] $*" >&2; }

sha() { sha256sum | cut -c1-16; }

base_key=$(printf '%s\n' "rev=$images_rev" "suite=$suite" "packages=$base_packages" \
  "$(sed -n '/^make_base()/,/^}/p' "${BASH_SOURCE[0]}")" | sha)
base_ref="localhost/barque-testbed-python:$base_key"
base_tar="$out/base-$base_key.tar"

# The image inputs: exactly what the Dockerfile's build context holds (see .dockerignore),
# hashed by path and content, plus the base.
inputs_key() {
  (
    cd "$repo"
    printf '%s\n' "rev=$images_rev" "base=$base_key"
    find Dockerfile .dockerignore constraints.txt pyproject.toml README.md runtime operator -type f \
      ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha
}
key=$(inputs_key)

print_images() {
  local target
  echo "containers-conf $out/containers.conf"
  for target in "${targets[@]}"; do
    echo "image $target localhost/barque-$target:tb-$key $out/barque-$target-$key.tar"
  done
}

if [[ $mode == print ]]; then
  print_images
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  echo "images.sh: needs root (podman's root storage and mmdebstrap)" >&2
  exit 1
fi

need=()
command -v podman >/dev/null || need+=(podman)
command -v buildah >/dev/null || need+=(buildah)
command -v runc >/dev/null || need+=(runc)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if [[ ${#need[@]} -gt 0 ]]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$out"

# podman's settings for this machine, without touching /etc: runc (crun refuses the hybrid
# cgroup v1 hierarchy), cgroupfs (no systemd), and rlimits no higher than the hard limits
# (without CAP_SYS_RESOURCE, podman's defaults fail with `setrlimit ... Operation not permitted`).
nofile=$(ulimit -Hn)
[[ $nofile == unlimited ]] && nofile=1048576
export CONTAINERS_CONF="$out/containers.conf"
cat >"$CONTAINERS_CONF.$$" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$CONTAINERS_CONF.$$" "$CONTAINERS_CONF"

# Warm: every archive of these inputs is there (each is written whole, then renamed), so there is
# nothing to build and no lock to wait for while another checkout sharing the cache builds its own.
warm=1
for target in "${targets[@]}"; do
  [[ -f $out/barque-$target-$key.tar ]] || warm=0
done
if [[ $warm == 1 ]]; then
  print_images
  exit 0
fi

# One build at a time (CI step and pytest fixture may race).
if command -v flock >/dev/null; then
  exec 8>"$out/.lock"
  flock 8
fi

# make_base TAR: a Debian root filesystem with Python that acts like the official python image.
# The hooks' "$1" is mmdebstrap's (the root being built), hence single quotes.
# shellcheck disable=SC2016
make_base() {
  mmdebstrap --quiet --variant=minbase --include="$base_packages" \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    --customize-hook='ln -sf /usr/bin/python3 "$1"/usr/local/bin/python' \
    --customize-hook='ln -sf /usr/bin/pip3 "$1"/usr/local/bin/pip' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$suite" "$1"
}

if ! podman image exists "$base_ref"; then
  if [[ ! -f $base_tar ]]; then
    start=$SECONDS
    log "making the Python base with mmdebstrap ($suite: $base_packages)"
    rm -f "$out/rootfs-$base_key.tar"
    make_base "$out/rootfs-$base_key.tar"
    podman import --quiet --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
      "$out/rootfs-$base_key.tar" "$base_ref" >/dev/null
    rm -f "$out/rootfs-$base_key.tar"
    podman save --quiet --format docker-archive -o "$base_tar.tmp" "$base_ref"
    mv "$base_tar.tmp" "$base_tar"
    log "base $base_ref made in $((SECONDS - start))s"
  else
    podman load --quiet -i "$base_tar" >/dev/null
  fi
fi

mounts=()
if [[ -f $ca_bundle ]]; then
  mounts=(-v "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")
fi

built=0
for target in "${targets[@]}"; do
  ref="localhost/barque-$target:tb-$key"
  archive="$out/barque-$target-$key.tar"
  [[ -f $archive ]] && continue
  start=$SECONDS
  log "building $ref (--target $target)"
  podman build --quiet --no-cache --network host "${mounts[@]}" \
    --build-arg PYTHON_IMAGE="$base_ref" --target "$target" \
    --label "dev.barque.testbed.inputs=$key" -t "$ref" "$repo" >/dev/null
  # A smoke test in the conditions pods get: non-root, read-only root, no capabilities.
  podman run --rm --network none --read-only --cap-drop ALL --security-opt no-new-privileges \
    --tmpfs /tmp "$ref" --help >/dev/null
  podman save --quiet --format docker-archive -o "$archive.tmp" "$ref"
  mv "$archive.tmp" "$archive"
  built=1
  log "built $ref in $((SECONDS - start))s"
done

# Clean up only after a build: a warm run stays a hash and a few stat calls.
if [[ $built == 1 ]]; then
  # Keep the archives of these inputs and of the two newest other ones (a second checkout sharing
  # the cache may still be using its own); an age limit alone let a day of edits pile up 15 GB.
  # Builds hold the lock, so a `.tmp` still here is what a killed build left.
  while read -r stale; do
    k=${stale##*-}
    rm -f "$out/barque-runtime-$k" "$out/barque-operator-$k"
  done < <(find "$out" -maxdepth 1 -name "barque-runtime-*.tar" ! -name "*-$key.tar" -printf '%T@ %p\n' |
    sort -rn | tail -n +3 | cut -d' ' -f2-)
  find "$out" -maxdepth 1 -name "*.tmp" -delete
  find "$out" -maxdepth 1 -name "base-*.tar" ! -name "base-$base_key.tar" -mmin +120 -delete
  # podman's copies go with their archives; the build stages' untagged images go at once.
  while read -r ref; do
    k=${ref##*:tb-}
    name=${ref%%:*}
    name=${name#localhost/}
    [[ -f $out/$name-$k.tar ]] || podman rmi --force "$ref" >/dev/null 2>&1 || true
  done < <(podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/barque-(runtime|operator):tb-' || true)
  podman image prune --force --filter label=org.opencontainers.image.title=barque >/dev/null 2>&1 || true
fi
print_images
