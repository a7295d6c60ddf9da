"""``@sink``: also write an asset's output to a local path or an ``s3://`` URI, atomically.

A sink failure does not fail the asset (its artifact is already committed); it is
reported loudly on stderr and in the step record.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Sequence
from urllib.parse import quote

from barque.model import Node
from barque.plans import Step
from barque.serializers import serialize
from barque.store import open_store

_MAX_NAME = 255  # bytes in a file name on common file systems


def sink_path(path: str, step: Step) -> str:
    """Insert a partitioned step's key into the file name: ``out/sales.json`` -> ``out/sales.region=emea.json``.

    Keys come from data, so they are encoded into the file name alone (``partition_label``):
    whatever a key holds (``/``, ``..``, NUL, ``%``), the file stays in the sink's folder.
    """
    if not step.partition:
        return path
    head, _, name = path.rpartition("/")
    stem, dot, suffix = name.partition(".")
    renamed = f"{stem}.{partition_label(step.partition)}{dot}{suffix}"
    if len(renamed.encode()) > _MAX_NAME:
        renamed = _shortened(renamed, dot + suffix)
    return f"{head}/{renamed}" if head else renamed


def partition_label(partition: Sequence[tuple[str, str]]) -> str:
    """``dim=value,dim=value`` with each part percent-encoded: one path segment, and unambiguous.

    ``/``, ``\\``, ``,``, ``=``, ``%``, NUL and every other character outside letters, digits
    and ``-_.~`` are encoded, so no key can add a folder, and two partitions never share a name.
    """
    return ",".join(f"{quote(d, safe='')}={quote(v, safe='')}" for d, v in partition)


def _shortened(name: str, suffix: str) -> str:
    # Distinct names stay distinct: the cut is followed by a hash of the whole name.
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    room = _MAX_NAME - len(suffix.encode()) - len(digest) - 2
    return f"{name.encode()[:room].decode(errors='ignore')}~~{digest}{suffix}"


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
