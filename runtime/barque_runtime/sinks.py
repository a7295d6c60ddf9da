"""``@sink``: also write an asset's output to a local path or an ``s3://`` URI, atomically.

As in barca:
- the format is the sink's ``serializer=``, else the path's extension (``.json``, ``.pkl`` or
  ``.pickle``, ``.parquet``, ``.csv``), else the asset's artifact format; a Parquet or CSV sink
  needs a DataFrame, so pickle bytes never land under a ``.parquet`` or ``.csv`` name;
- a partitioned asset writes one file per key, the key inserted before the extension:
  ``out/sales.json`` becomes ``out/sales_region_emea.json``;
- a sink that fails fails its step (``SinkError`` naming every sink that failed, after every
  sink was tried), and the sinks are written before the asset is committed, so a failed sink
  leaves nothing cached and the next run tries again.

A path ending in ``/`` is a dataset sink, written by ``datasets`` (barca's Hive layout).

Keys come from data, so whatever a key holds (``/``, ``..``, NUL, ``%``) is percent-encoded into
the file name alone, and the file stays in the sink's folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any, Sequence
from urllib.parse import quote

from barque.errors import BarqueError
from barque.model import Node
from barque.plans import Step
from barque.serializers import CSV, JSON, PARQUET, PICKLE, choose, serialize
from barque.store import open_store

_MAX_NAME = 255  # bytes in a file name on common file systems
BY_EXTENSION = {".json": JSON, ".pkl": PICKLE, ".pickle": PICKLE, ".parquet": PARQUET, ".csv": CSV}


class SinkError(BarqueError):
    """One or more sinks of a step could not be written; the step fails and is not cached."""

    exit_code = 1


def sink_format(path: str, declared: str | None, value: Any, artifact_serializer: str | None) -> str:
    """The format a sink writes: declared, else by extension, else the asset's artifact format."""
    if declared:
        return declared
    suffix = PurePosixPath(path.rpartition("/")[2]).suffix.lower()
    return BY_EXTENSION.get(suffix) or artifact_serializer or choose(value)


def sink_path(path: str, step: Step) -> str:
    """Insert a partitioned step's key before the extension: ``out/sales.json`` -> ``out/sales_region_emea.json``."""
    if not step.partition:
        return path
    head, _, name = path.rpartition("/")
    stem, dot, suffix = name.partition(".")
    renamed = f"{stem}_{partition_label(step.partition)}{dot}{suffix}"
    if len(renamed.encode()) > _MAX_NAME:
        renamed = _shortened(renamed, dot + suffix)
    return f"{head}/{renamed}" if head else renamed


def partition_label(partition: Sequence[tuple[str, str]]) -> str:
    """``dim_value`` per dimension, joined by ``_``, each part percent-encoded into one path segment.

    Everything outside letters, digits and ``-._~`` is encoded (``/``, ``\\``, ``%``, NUL, ...),
    so no key adds a folder; the name starts with the sink's own stem, so no key hides the file
    or makes it ``..``. With one dimension the
    name's prefix is fixed, so ``_`` stays readable as barca writes it; with several, ``_`` in a
    part is encoded too, so two partitions never share a name.
    """
    several = len(partition) > 1
    parts = []
    for d, v in partition:
        for text in (d, v):
            encoded = quote(text, safe="")  # quote never encodes "_": done by hand where it matters
            parts.append(encoded.replace("_", "%5F") if several else encoded)
    return "_".join(parts)


def _shortened(name: str, suffix: str) -> str:
    # Distinct names stay distinct: the cut is followed by a hash of the whole name.
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    room = _MAX_NAME - len(suffix.encode()) - len(digest) - 2
    return f"{name.encode()[:room].decode(errors='ignore')}~~{digest}{suffix}"


def write_sinks(node: Node, step: Step, value: Any, root: Path) -> list[dict[str, Any]]:
    """Write every sink of ``node``; return one result per sink; raise ``SinkError`` if any failed."""
    results, failures = [], []
    for spec in node.sinks:
        target = spec.path if spec.dataset else sink_path(spec.path, step)
        try:
            if spec.dataset:
                from barque_runtime.datasets import write_dataset  # pyarrow, for the sinks that need it

                results.append(write_dataset(spec, node, step, value, root))
                continue
            fmt = sink_format(spec.path, spec.serializer, value, node.serializer)
            data, _ = serialize(value, fmt)
            _write(target, data, root)
            results.append({"path": target, "format": fmt})
        except Exception as exc:  # every sink is tried before the step fails
            failures.append(f"sink {target}: {type(exc).__name__}: {exc}")
    if failures:
        raise SinkError("; ".join(failures), hint="fix the sink's path or format; the asset runs again on the next run")
    return results


def _write(target: str, data: bytes, root: Path) -> None:
    if target.startswith("s3://"):
        parent, _, name = target.rpartition("/")
        open_store(parent).put(name, data)
        return
    path = Path(target) if os.path.isabs(target) else root / PurePosixPath(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"{target} is a directory; a sink writes a file there and leaves folders alone")
    atomic_write(path, data)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a ``.``-named temporary file beside it, then a rename."""
    import tempfile  # here: a run whose nodes have no sink does not load it (nor its shutil, random)

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
