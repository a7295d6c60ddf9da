"""Garbage collection of a store: evict what no current plan reads, and old runs.

What stays, whatever the size limit: the commit record of every step of the current plan whose
key is known, and of every current step's latest materialization (its ref: early cutoff may
land on that key again), the blobs those and the kept refs name, the newest ``keep_runs`` local runs
(their records, logs and code) with the blobs their step records name, every run an operator
wrote (it may be in flight; the operator owns it), and everything outside
``blobs/``, ``cache/``, ``refs/`` and ``runs/`` (the env salt, the history database).

What goes: without a size limit, every other commit record, the refs of steps that are no longer
in the graph, the older runs, and the blobs nothing kept names. With ``max_size``, only as many
of those records as it takes to get under the limit, oldest run first (commit records name the
run that wrote them; the limit counts values' bytes, in blobs and inline in their records), and the older runs and unreferenced blobs as above.

Deletion order keeps readers safe: records go before the blobs they name, so a reader finds
either a record and its blob, or no record; a reader that finds a record whose blob was removed
meanwhile treats it as missing and recomputes (see ``barque.artifacts``). Run gc when no run is
writing to the store: a run that stores a blob equal to one being evicted could have its commit
refused, which fails that step (nothing stored is lost or corrupted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from barque import artifacts, records
from barque.errors import StoreError
from barque.store import ArtifactStore

# A local run's id (``barque_runtime.local.new_run_id``); an operator's run (``<namespace>/<uid>``)
# may still be in flight and belongs to the operator, so a local collection never deletes it.
_LOCAL_RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}\Z")


@dataclass(frozen=True)
class GcPlan:
    """What a collection deletes and what it keeps, in bytes of blobs."""

    records: tuple[str, ...]
    refs: tuple[str, ...]
    runs: tuple[str, ...]
    blobs: tuple[str, ...]
    freed_bytes: int
    kept_bytes: int
    over_limit: bool = False  # the kept artifacts alone exceed ``max_size``
    unreadable: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": len(self.records),
            "refs": len(self.refs),
            "runs": list(self.runs),
            "blobs": len(self.blobs),
            "freed_bytes": self.freed_bytes,
            "kept_bytes": self.kept_bytes,
            "over_limit": self.over_limit,
            "unreadable": list(self.unreadable),
        }


def plan_gc(
    store: ArtifactStore,
    live_keys: set[str],
    live_nodes: set[str],
    *,
    keep_runs: int,
    max_size: int | None = None,
    scope: str | None = None,
) -> GcPlan:
    """Decide what to delete (reads the store, writes nothing).

    With ``scope`` (the project's refs scope) the refs of other pipelines sharing the store are
    kept, with the records they name; refs from before refs were scoped are never read, and go."""
    refs = _read_all(store, "refs/")
    ours = artifacts.ref_prefix(scope) if scope else "refs/"
    kept_refs = {
        k: r for k, r in refs.items()
        if not artifacts.is_legacy_ref(k) and (not k.startswith(ours) or _node_of(r.get("step")) in live_nodes)
    }
    live = set(live_keys) | {str(r["cache_key"]) for r in kept_refs.values() if r.get("cache_key")}
    cache = _read_all(store, "cache/")
    steps = {run: records.read_step_records(store, run) for run in _run_ids(store)}
    runs = sorted(steps, key=lambda run: _age(run, steps[run]), reverse=True)
    kept_runs, old_runs = runs[:keep_runs], runs[keep_runs:]
    pinned = _blobs_named(kept_refs.values()) | {b for run in kept_runs for b in _blobs_named(steps[run].values())}
    live_records = {k: r for k, r in cache.items() if _cache_key_of(k) in live}
    pinned |= _blobs_named(live_records.values())
    candidates = sorted((k for k in cache if k not in live_records), key=lambda k: str(cache[k].get("run_id", "")))
    sizes = {b: store.size(b) or 0 for b in store.list("blobs/")}
    evict = _to_evict(candidates, cache, sizes, pinned, max_size)
    kept_named = pinned | _blobs_named(cache[k] for k in cache if k not in evict)
    # A stream's record names its manifest; the chunks the manifest names stay with it.
    kept_recs = [*kept_refs.values(), *(r for run in kept_runs for r in steps[run].values()), *(cache[k] for k in cache if k not in evict)]
    kept_named |= _stream_chunks(store, kept_recs)
    blobs = tuple(sorted(b for b in sizes if b not in kept_named))
    kept_bytes = sum(n for b, n in sizes.items() if b in kept_named) + sum(_inline_bytes(cache[k]) for k in cache if k not in evict)
    return GcPlan(
        records=tuple(sorted(evict)),
        refs=tuple(sorted(k for k in refs if k not in kept_refs)),
        runs=tuple(old_runs),
        blobs=blobs,
        freed_bytes=sum(sizes[b] for b in blobs),
        kept_bytes=kept_bytes,
        over_limit=max_size is not None and kept_bytes > max_size,
        unreadable=tuple(sorted(k for k, r in {**cache, **refs}.items() if not r)),
    )


def apply_gc(store: ArtifactStore, plan: GcPlan) -> None:
    """Carry out ``plan``: records and runs first, then the blobs they named."""
    for key in (*plan.records, *plan.refs):
        store.delete(key)
    for run in plan.runs:
        for key in list(store.list(f"runs/{run}/")):
            store.delete(key)
    for key in plan.blobs:
        store.delete(key)


def _to_evict(candidates: list[str], cache: dict[str, dict[str, Any]], sizes: dict[str, int], pinned: set[str], max_size: int | None) -> set[str]:
    if max_size is None:
        return set(candidates)
    # Each blob counts once however many records name it; a pinned blob stays whatever happens.
    named: dict[str, set[str]] = {}
    for key, rec in cache.items():
        for blob in _blobs_named([rec]):
            named.setdefault(blob, set()).add(key)
    total = sum(sizes.values()) + sum(_inline_bytes(rec) for rec in cache.values())
    evict: set[str] = set()
    for key in candidates:
        if total <= max_size:
            break
        evict.add(key)
        total -= _inline_bytes(cache[key])
        for blob in _blobs_named([cache[key]]):
            if blob not in pinned and blob in sizes and named[blob] <= evict:
                total -= sizes[blob]
    return evict


def _read_all(store: ArtifactStore, prefix: str) -> dict[str, dict[str, Any]]:
    """Every JSON object under ``prefix``; an unreadable one maps to ``{}`` (it is evicted, not fatal)."""
    found: dict[str, dict[str, Any]] = {}
    for key in store.list(prefix):
        if not key.endswith(".json"):
            continue
        try:
            value = records.read_json(store, key)
        except StoreError:
            value = None
        found[key] = value if isinstance(value, dict) else {}
    return found


def _run_ids(store: ArtifactStore) -> set[str]:
    """The local runs in the store: the first segment under ``runs/`` that has a local run's form."""
    return {key.split("/", 2)[1] for key in store.list("runs/") if _LOCAL_RUN_ID.match(key.split("/", 2)[1])}


def _age(run_id: str, steps: dict[str, dict[str, Any]]) -> tuple[str, float]:
    """What orders runs in time: a local run id starts with its UTC second; within one second
    the latest time its steps finished decides."""
    return run_id[:15], max((float(r.get("finished_at") or 0) for r in steps.values()), default=0.0)


def _inline_bytes(rec: dict[str, Any]) -> int:
    """The bytes of a small value held inline in its commit record (no blob), else 0."""
    ref = rec.get("artifact")
    if not isinstance(ref, dict) or not isinstance(ref.get("inline"), str) or not isinstance(ref.get("size"), int):
        return 0
    return max(ref["size"], 0)


def _blobs_named(recs: Iterable[dict[str, Any]]) -> set[str]:
    out = set()
    for rec in recs:
        ref = rec.get("artifact") if isinstance(rec, dict) else None
        if isinstance(ref, dict) and isinstance(ref.get("content_hash"), str) and len(ref["content_hash"]) == 64:
            out.add(artifacts.blob_key(ref["content_hash"]))
    return out


def _stream_chunks(store: ArtifactStore, recs: Iterable[dict[str, Any]]) -> set[str]:
    from barque import streams  # only a store holding streams needs it

    out: set[str] = set()
    for rec in recs:
        ref = rec.get("artifact") if isinstance(rec, dict) else None
        if isinstance(ref, dict) and ref.get("serializer") == streams.STREAM:
            try:
                out.update(streams.chunk_keys(store, artifacts.ArtifactRef.from_dict(ref)))
            except StoreError:  # a malformed ref names no chunks
                continue
    return out


def _cache_key_of(record_key: str) -> str:
    return record_key[len("cache/") : -len(".json")]


def _node_of(step_id: Any) -> str | None:
    if not isinstance(step_id, str):
        return None
    return step_id.split("[", 1)[0]
