"""``@sink``: also write an asset's output to a local path or an ``s3://`` URI, atomically.

A sink failure does not fail the asset (its artifact is already committed); it is
reported loudly on stderr and in the step record.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from barque.model import Node
from barque.plans import Step
from barque.serializers import serialize
from barque.store import open_store


def sink_path(path: str, step: Step) -> str:
    """Insert a partitioned step's key into the file name: ``out/sales.json`` -> ``out/sales.region=emea.json``."""
    if not step.partition:
        return path
    key = ",".join(f"{d}={v}" for d, v in step.partition)
    head, _, name = path.rpartition("/")
    stem, dot, suffix = name.partition(".")
    renamed = f"{stem}.{key}{dot}{suffix}"
    return f"{head}/{renamed}" if head else renamed


def write_sinks(node: Node, step: Step, value: Any, root: Path) -> list[dict[str, Any]]:
    """Write every sink of ``node``; return one result per sink (path, and error if any)."""
    results = []
    for spec in node.sinks:
        target = sink_path(spec.path, step)
        try:
            data, _ = serialize(value, spec.serializer)
            _write(target, data, root)
            results.append({"path": target})
        except Exception as exc:  # reported, not raised: the asset itself succeeded
            print(f"[barque] SINK FAILED for {step.id}: {target}: {type(exc).__name__}: {exc}", file=sys.stderr)
            results.append({"path": target, "error": f"{type(exc).__name__}: {exc}"})
    return results


def _write(target: str, data: bytes, root: Path) -> None:
    if target.startswith("s3://"):
        parent, _, name = target.rpartition("/")
        open_store(parent).put(name, data)
        return
    path = Path(target) if os.path.isabs(target) else root / PurePosixPath(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
