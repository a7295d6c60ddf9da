"""Dataset sinks (``@sink("prefix/", partition_by=[...], rows_per_file=N)``), barca's layout.

A sink path ending in ``/`` is a Hive-partitioned dataset: one directory level per partition
dimension of the asset (``retailer=r1/``), then one per ``partition_by`` column, and in each
directory ``part-0.parquet``, ``part-1.parquet``, ... (at most ``rows_per_file`` rows each;
Parquet with zstd, or ``serializer="csv"`` / ``"json"``, JSON as JSON Lines ``part-0.jsonl``).
A value that is not a table is one JSON document, ``part-0.jsonl``. Partition columns live in
the path and are left out of the files, as are columns named like the asset's dimensions.
Values are encoded as pyarrow encodes them (``a b`` is ``a%20b``; ``None`` or ``""`` is
``__HIVE_DEFAULT_PARTITION__``). A pandas DataFrame or an Arrow table is written by
``pyarrow.dataset.write_dataset``.

Only the key that runs is written: into a staging folder beside the prefix, then swapped in
with renames (the old directory is renamed aside first, so for that instant the key is
missing, never mixed), and the old files are deleted. On ``s3://`` the new files are uploaded
and the key's old files that the write does not have are deleted after. The prefix belongs to
one asset: the first write leaves ``_barca_sink.json`` there (barca's marker, so barca and
barque agree on who owns it), and a prefix holding other files, or another asset's marker,
is refused. The dataset mirrors the asset: after a run, the key directories of a key the
asset no longer has (a value gone from ``partitions([...])`` or from a ``partitions_from``
source) are deleted, as barca deletes them (``prune_removed_keys``).
"""

from __future__ import annotations

import json
import os
import sys
# shutil and tempfile are imported where a dataset is written or pruned: every run imports this
# module (it calls prune_removed_keys), and few have a dataset sink.
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from barque.errors import BarqueError
from barque.model import Graph, Node, SinkSpec
from barque.plans import Plan, Step
from barque.serializers import is_jsonable
from barque.store import open_store
from barque_runtime.sinks import atomic_write

MARKER = "_barca_sink.json"
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".jsonl"}


class DatasetSinkError(BarqueError):
    """A dataset sink cannot be written as asked; its step fails."""

    exit_code = 1


def hive_value(value: Any) -> str:
    """A partition value as a directory name segment, encoded as pyarrow encodes it."""
    if value is None or value == "":
        return DEFAULT_PARTITION
    return quote(str(value), safe="")


def key_dir(node: Node, step: Step) -> str:
    """``retailer=r1/region=eu`` for a step's key, dimensions in declared order; ``""`` unpartitioned."""
    values = dict(step.partition)
    return "/".join(f"{p.dimension}={hive_value(values[p.dimension])}" for p in node.partitions)


def write_dataset(spec: SinkSpec, node: Node, step: Step, value: Any, root: Path) -> dict[str, Any]:
    """Write one key of a dataset sink; the sink's result for the step's record."""
    import shutil
    import tempfile
    table = _as_table(value)
    fmt = spec.serializer or ("parquet" if table is not None else "json")
    if fmt not in EXTENSIONS:
        raise DatasetSinkError(f"a dataset sink writes parquet, csv or json, not {fmt}", hint="drop serializer= or set it to one of those")
    if table is None and (fmt != "json" or spec.partition_by or spec.rows_per_file):
        what = "partition_by=" if spec.partition_by else "rows_per_file=" if spec.rows_per_file else fmt
        raise DatasetSinkError(f"a {type(value).__name__} cannot be written as a dataset with {what}",
                               hint="return a pandas DataFrame or an Arrow table")
    dims = [p.dimension for p in node.partitions]
    layout = {"dims": dims, "partition_by": list(spec.partition_by), "format": fmt}
    rel = key_dir(node, step)
    prefix = spec.path.rstrip("/")
    remote = prefix.startswith(("s3://", "memory://"))  # an object store (memory:// is its in-process twin)
    local = None if remote else (Path(prefix) if os.path.isabs(prefix) else root / prefix)
    stage = Path(tempfile.mkdtemp(prefix=f".{Path(prefix).name}.barca-staging-", dir=_staging_parent(local)))
    try:
        if table is None:
            if not is_jsonable(value):
                raise DatasetSinkError(f"a {type(value).__name__} is not a table and not a JSON value",
                                       hint="return a DataFrame, or a value JSON can write")
            (stage / "part-0.jsonl").write_text(json.dumps(value) + "\n")  # as barca writes it
        else:
            _write_table(table, stage, fmt, list(spec.partition_by), spec.rows_per_file, set(dims))
        files = _normalize(stage, EXTENSIONS[fmt])
        if remote:
            _upload(prefix, rel, stage, files, node.id, layout)
        else:
            assert local is not None
            _claim(local, spec.path, node.id, layout)
            _swap_in(local, rel, stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    where = f"{spec.path}{rel}/" if rel else spec.path
    return {"path": where, "format": fmt, "files": len(files)}


def _staging_parent(local: Path | None) -> str | None:
    if local is None:
        return None  # an object store has no renames: staged in the temporary folder, uploaded
    local.parent.mkdir(parents=True, exist_ok=True)
    return str(local.parent)


def _as_table(value: Any) -> Any:
    """``value`` as an Arrow table when it is a pandas DataFrame or an Arrow table, else ``None``."""
    pandas, pyarrow = sys.modules.get("pandas"), sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(value, pyarrow.Table):
        return value
    if pandas is not None and isinstance(value, pandas.DataFrame):
        import pyarrow as pa  # type: ignore[import-untyped]

        return pa.Table.from_pandas(value, preserve_index=False)
    return None


def _write_table(table: Any, stage: Path, fmt: str, partition_by: list[str], rows_per_file: int | None, dims: set[str]) -> None:
    import pyarrow.dataset as pds  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    columns = list(table.column_names)
    missing = [c for c in partition_by if c not in columns]
    if missing:
        raise DatasetSinkError(f"partition_by column {missing[0]!r} is not a column of the returned table (columns: {', '.join(columns)})",
                               hint="name columns the returned table has")
    kept = [c for c in columns if c not in dims]
    if not [c for c in kept if c not in partition_by]:
        raise DatasetSinkError("every column of the returned table is a partition column, so the files would have no columns",
                               hint="return at least one other column")
    table = table.select(kept)
    kwargs: dict[str, Any] = {"basename_template": "part-{i}" + (".parquet" if fmt == "json" else EXTENSIONS[fmt]),
                              "existing_data_behavior": "overwrite_or_ignore"}
    if partition_by:
        kwargs.update(partitioning=partition_by, partitioning_flavor="hive")
    if rows_per_file and fmt != "json":
        kwargs.update(max_rows_per_file=rows_per_file, max_rows_per_group=min(rows_per_file, 1 << 20))
    if fmt == "csv":
        file_format: Any = pds.CsvFileFormat()
    else:
        file_format = pds.ParquetFileFormat()
        kwargs["file_options"] = file_format.make_write_options(compression="zstd")
    pds.write_dataset(table, str(stage), format=file_format, **kwargs)
    if not partition_by and not any(stage.iterdir()):  # no rows: one empty file keeps the columns
        pds.write_dataset(table.schema.empty_table(), str(stage), format=file_format, **kwargs)
    if fmt == "json":  # partitioned as Parquet, then each file rewritten as JSON Lines in place
        for path in sorted(stage.rglob("*.parquet")):
            with open(path.with_suffix(".jsonl"), "w") as out:
                for row in pq.read_table(path).to_pylist():
                    out.write(json.dumps(row, default=str) + "\n")
            path.unlink()


def _normalize(stage: Path, ext: str) -> list[Path]:
    """Name each directory's data files ``part-0``, ``part-1``, ... in order, as barca does; the data files."""
    out: list[Path] = []
    for folder, subdirs, names in os.walk(stage):
        subdirs.sort()
        data = sorted((n for n in names if n.endswith(ext)), key=lambda n: (len(n), n))
        wanted = [f"part-{i}{ext}" for i in range(len(data))]
        if data != wanted:
            moved = []
            for i, name in enumerate(data):
                os.rename(os.path.join(folder, name), os.path.join(folder, f".rename-{i}"))
                moved.append(os.path.join(folder, f".rename-{i}"))
            for tmp, name in zip(moved, wanted):
                os.rename(tmp, os.path.join(folder, name))
        out.extend(Path(folder) / name for name in wanted)
    return out


def _claim(local: Path, shown: str, asset: str, layout: dict[str, Any]) -> None:
    """Own the prefix for ``asset``: refuse one holding other files or another asset's marker."""
    if local.exists() and not local.is_dir():
        raise DatasetSinkError(f"the dataset prefix {shown} is a file, not a directory", hint="point the sink at a folder")
    marker = _read_marker(local / MARKER, shown)
    if marker is None and local.is_dir():
        foreign = sorted(e for e in os.listdir(local) if not e.startswith("."))
        if foreign:
            raise DatasetSinkError(
                f"the dataset prefix {shown} holds files barque did not write (for example {foreign[0]}) and no {MARKER}",
                hint="a dataset sink owns its prefix: point it at an empty or new prefix, or empty this one",
            )
    if marker is not None and marker.get("asset") != asset:
        raise DatasetSinkError(
            f"the dataset prefix {shown} belongs to the asset {marker.get('asset')} ({MARKER}); two assets cannot share one",
            hint=f"give this sink its own prefix, or delete {shown}{MARKER} to hand the prefix to {asset}",
        )
    body = {"barca_sink": 1, "asset": asset, **layout}
    if marker != body:
        local.mkdir(parents=True, exist_ok=True)
        atomic_write(local / MARKER, (json.dumps(body, indent=2) + "\n").encode())


def _read_marker(path: Path, shown: str) -> dict[str, Any] | None:
    try:
        marker: dict[str, Any] = json.loads(path.read_text())
        return marker
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DatasetSinkError(f"cannot read {shown}{MARKER}: {exc}", hint=f"delete {shown}{MARKER} if it is damaged") from exc


def _swap_in(local: Path, rel: str, stage: Path) -> None:
    """Make ``stage`` the key's directory (the whole dataset, marker kept, when unpartitioned)."""
    import shutil
    if not rel:
        shutil.copy2(local / MARKER, stage / MARKER)
    dest = local / rel if rel else local
    dest.parent.mkdir(parents=True, exist_ok=True)
    aside = stage.with_name(stage.name + "-old")
    if dest.exists():
        os.rename(dest, aside)
    os.rename(stage, dest)
    shutil.rmtree(aside, ignore_errors=True)


def _upload(prefix: str, rel: str, stage: Path, files: Sequence[Path], asset: str, layout: dict[str, Any]) -> None:
    store = open_store(prefix)
    marker = store.get(MARKER)
    owner = json.loads(marker).get("asset") if marker else None
    if owner is not None and owner != asset:
        raise DatasetSinkError(f"the dataset prefix {prefix}/ belongs to the asset {owner} ({MARKER}); two assets cannot share one",
                               hint="give this sink its own prefix")
    if owner is None:
        store.put(MARKER, (json.dumps({"barca_sink": 1, "asset": asset, **layout}, indent=2) + "\n").encode())
    written = set()
    for path in files:
        key = "/".join(p for p in (rel, path.relative_to(stage).as_posix()) if p)
        store.put(key, path.read_bytes())
        written.add(key)
    for key in list(store.list(rel + "/" if rel else "")):
        if key not in written and key != MARKER:
            store.delete(key)


def prune_removed_keys(graph: Graph, plan: Plan, root: Path, narrowed: bool) -> list[str]:
    """After a run, delete the key directories of each partitioned dataset sink whose key its
    asset no longer has; one line per sink that lost keys, for stderr.

    Only a prefix this asset's marker owns is touched, and only for an asset whose every key
    this plan knows: not a run narrowed with ``--partition`` (``narrowed``), nor an asset whose
    keys wait on something that did not run. A deletion that fails is a warning line: the
    steps succeeded, so the run does.
    """
    waiting = {d.node for d in plan.deferred}
    keys: dict[str, set[str]] = {}
    for step in plan.steps.values():
        if step.partition and step.action == "run":
            keys.setdefault(step.node, set()).add(key_dir(graph.nodes[step.node], step))
    lines = []
    for nid, current in sorted(keys.items()) if not narrowed else ():
        node = graph.nodes[nid]
        for spec in (s for s in node.sinks if s.dataset) if nid not in waiting else ():
            try:
                gone = _delete_keys(spec, node, current, root)
            except (OSError, BarqueError) as exc:
                lines.append(f"barque: warning: dataset sink {spec.path}: could not delete the keys {nid} no longer has: {exc}")
                continue
            if gone:
                lines.append(f"barque: dataset sink {spec.path}: deleted {gone} key{'s' if gone != 1 else ''} its asset no longer has")
    return lines


def _delete_keys(spec: SinkSpec, node: Node, current: set[str], root: Path) -> int:
    """Delete the key directories under ``spec``'s prefix that are not in ``current``; how many."""
    import shutil
    depth = len(node.partitions)
    prefix = spec.path.rstrip("/")
    if prefix.startswith(("s3://", "memory://")):
        store = open_store(prefix)
        marker = store.get(MARKER)
        if marker is None or json.loads(marker).get("asset") != node.id:
            return 0
        stale: dict[str, list[str]] = {}
        for key in store.list(""):
            parts = key.split("/")
            if len(parts) > depth and _is_key(parts[:depth], node):
                rel = "/".join(parts[:depth])
                if rel not in current:
                    stale.setdefault(rel, []).append(key)
        for objects in stale.values():
            for key in objects:
                store.delete(key)
        return len(stale)
    local = Path(prefix) if os.path.isabs(prefix) else root / prefix
    if not local.is_dir() or (_read_marker(local / MARKER, spec.path) or {}).get("asset") != node.id:
        return 0
    found = [d for d in _key_dirs(local, node, depth) if d.relative_to(local).as_posix() not in current]
    for folder in found:
        shutil.rmtree(folder)
        parent = folder.parent
        while parent != local and not any(parent.iterdir()):  # a dimension level left empty goes too
            parent.rmdir()
            parent = parent.parent
    return len(found)


def _is_key(parts: Sequence[str], node: Node) -> bool:
    return all(part.startswith(f"{p.dimension}=") for part, p in zip(parts, node.partitions))


def _key_dirs(local: Path, node: Node, depth: int) -> list[Path]:
    """The directories ``dim=value/...`` one per key, ``depth`` levels below the prefix."""
    level = [local]
    for p in node.partitions[:depth]:
        level = [d for folder in level for d in sorted(folder.iterdir()) if d.is_dir() and d.name.startswith(f"{p.dimension}=")]
    return level
