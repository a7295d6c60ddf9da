"""Unmount what a node left under its state directory, so the directory can be deleted.

The kubelet bind-mounts its root directory onto itself (to make it a shared mount) and mounts
pod volumes under it; containerd bind-mounts network namespaces under its state directory.
Stopping them leaves those mounts behind, and pytest's temp-dir cleanup then fails with
`Device or resource busy`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_under(root: Path, mounts_file: Path = Path("/proc/self/mounts")) -> list[str]:
    """Mount points at or below root, deepest first (the order they can be unmounted in)."""
    prefix = str(root.resolve()).rstrip("/")
    points = []
    for line in mounts_file.read_text().splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = fields[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all(root: Path) -> list[str]:
    """Lazily unmount every mount under root; return what could not be unmounted."""
    left = []
    for point in mounts_under(root):
        proc = subprocess.run(["umount", "-l", point], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            left.append(f"{point}: {proc.stderr.strip()}")
    return left
