"""Where the test bed's binaries are: build.sh is the one source for that location.

The fixtures never compute the cache path themselves; they ask build.sh (``--print-bin-dir``
is instant) or run it (idempotent, under a second once built).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TESTBED_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTBED_DIR.parent
BUILD_SCRIPT = TESTBED_DIR / "build.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "minio", "helm")
# Built only by `build.sh --node`, for the real node (tests/integration/realnode).
NODE_BINARIES = ("kubelet", "kube-scheduler", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "pause",
                "prometheus")


class BuildError(RuntimeError):
    """build.sh failed; the message carries the tail of its output."""


def bin_dir() -> Path:
    """The bin directory for the pinned versions, whether or not it is built yet."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-bin-dir"],
        check=True, capture_output=True, text=True,
    )
    return Path(out.stdout.strip())


def ensure_built(node: bool = False) -> dict[str, Path]:
    """Run build.sh (builds only what is missing) and return binary name -> path.

    node=True also builds the real node's parts (`build.sh --node`)."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), *(["--node"] if node else [])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise BuildError(f"{BUILD_SCRIPT} failed (exit {proc.returncode}):\n{tail}")
    directory = bin_dir()
    names = BINARIES + (NODE_BINARIES if node else ())
    paths = {name: directory / name for name in names}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise BuildError(f"{BUILD_SCRIPT} succeeded but these are missing: {missing}")
    return paths
