"""Run-scoped step records and captured logs, and the canonical JSON helpers under them.

Layout in the store:
- ``runs/<run_id>/steps/<encoded step id>.json``: the record of one step in one run (state,
  attempts, timings, error, log keys, artifact); ``record["step"]`` is the step id. A pod
  writes these, one as each step ends, because the operator reads them while the run goes on.
- ``runs/<run_id>/streams/<encoded stream id>.json``: ``{"records": [...]}``, the records of
  one stream's steps in one object. The local runner writes these: its parent receives every
  record over the worker's pipe anyway, so it stores a stream's records once, when the stream
  ends, instead of one new file per step (a file creation was a third of a cold step's wall
  time, bench/FINDINGS.md). Each record in it is signed on its own, as a step's file is.
  Readers see both layouts alike; where a step has both, its own file wins.
- ``runs/<run_id>/logs/<encoded step id>/<attempt>.<stream>``: captured output, raw bytes.

``run_id`` may hold ``/`` (``<namespace>/<uid>``); it cannot hold ``..`` or empty segments.
Each write replaces the whole object atomically, so a reader sees one version of a record.
With ``BARQUE_STORE_KEY`` set, step records are signed and one that fails the check reads as
missing (``barque.trust``): a step's inputs are found through these records.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from barque import trust
from barque.artifacts import encode_step_id
from barque.errors import StoreError
from barque.serializers import canonical_json
from barque.store.base import ArtifactStore, check_key

_STREAM = re.compile(r"[a-z][a-z0-9_-]*\Z")


def write_json(store: ArtifactStore, key: str, obj: Any, *, durable: bool = True) -> None:
    """Store ``obj`` as canonical JSON (sorted keys, compact, UTF-8)."""
    store.put(key, canonical_json(obj), durable=durable)


def read_json(store: ArtifactStore, key: str) -> Any:
    """The JSON value under ``key``, or ``None`` if there is none; ``StoreError`` if it is not JSON."""
    data = store.get(key)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as e:
        raise StoreError(f"unreadable JSON record: {e}", where=f"{store.uri} {key}", hint="delete it and re-run") from e


def step_record_key(run_id: str, step_id: str) -> str:
    return check_key(f"{_steps_prefix(run_id)}{encode_step_id(step_id)}.json")


def log_key(run_id: str, step_id: str, attempt: int, stream: str) -> str:
    if type(attempt) is not int or attempt < 0:
        raise ValueError(f"attempt must be a non-negative int, not {attempt!r}")
    if not _STREAM.match(stream):
        raise ValueError(f"invalid log stream name {stream!r} (expected e.g. 'stdout' or 'stderr')")
    return check_key(f"runs/{run_id}/logs/{encode_step_id(step_id)}/{attempt}.{stream}")


def write_step_record(store: ArtifactStore, run_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """Store a step's record and return it as stored: a failure's message and traceback have the
    values of secret-looking variables replaced by ``<redacted>`` (``barque.trust``)."""
    step_id = record.get("step")
    if not isinstance(step_id, str) or not step_id:
        raise ValueError(f"a step record needs its step id under 'step', got {step_id!r}")
    record = redacted(record)
    # Losing a step record to a power cut costs a re-run, never a wrong result: no fsync.
    write_json(store, step_record_key(run_id, step_id), trust.sign(record, trust.configured_key()), durable=False)
    return record


def redacted(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the values of secret-looking variables replaced in its error's texts."""
    error = record.get("error")
    secrets = trust.secret_values() if isinstance(error, dict) else []
    if isinstance(error, dict) and secrets:
        return {**record, "error": {k: trust.scrub(v, secrets) if isinstance(v, str) else v for k, v in error.items()}}
    return record


def stream_records_key(run_id: str, stream_id: str) -> str:
    check_key(run_id)
    return check_key(f"runs/{run_id}/streams/{encode_step_id(stream_id)}.json")


def write_stream_records(store: ArtifactStore, run_id: str, stream_id: str, recs: list[dict[str, Any]]) -> None:
    """Store the records of one stream's steps as one object, replacing what was stored for it.

    Each record is redacted and signed as ``write_step_record`` does; like a step's file, losing
    it to a power cut costs a re-run of what reads it, never a wrong result: no fsync."""
    key = trust.configured_key()
    signed = []
    for record in recs:
        if not isinstance(record.get("step"), str) or not record["step"]:
            raise ValueError(f"a step record needs its step id under 'step', got {record.get('step')!r}")
        signed.append(trust.sign(redacted(record), key))
    write_json(store, stream_records_key(run_id, stream_id), {"records": signed}, durable=False)


def read_step_record(store: ArtifactStore, run_id: str, step_id: str) -> dict[str, Any] | None:
    """The record of ``step_id`` in ``run_id``: its own file, else the stream object holding it."""
    record = _read_record(store, step_record_key(run_id, step_id))
    if record is None:
        record = _stream_records(store, run_id).get(step_id)
    return record


def read_step_records(store: ArtifactStore, run_id: str) -> dict[str, dict[str, Any]]:
    """Every step record of ``run_id``, by step id: those of stream objects, then steps' own
    files (which win), each group in key order."""
    prefix = _steps_prefix(run_id)
    records = _stream_records(store, run_id)
    for key in store.list(prefix):
        name = key[len(prefix) :]
        if "/" in name or not name.endswith(".json"):
            continue  # not a step record (nothing else is written here today)
        record = _read_record(store, key)
        if record is None:  # deleted between list and get
            continue
        records[record.get("step") or unquote(name[: -len(".json")])] = record
    return records


def write_log(store: ArtifactStore, run_id: str, step_id: str, attempt: int, stream: str, data: bytes) -> str:
    """Store captured output of one attempt, secret-looking variables' values redacted; return its key."""
    key = log_key(run_id, step_id, attempt, stream)
    store.put(key, trust.scrub_bytes(data, trust.secret_values()), durable=False)
    return key


def read_log(store: ArtifactStore, key: str) -> bytes | None:
    return store.get(key)


def _stream_records(store: ArtifactStore, run_id: str) -> dict[str, dict[str, Any]]:
    """The records in ``run_id``'s stream objects, by step id (a later object wins)."""
    check_key(run_id)
    prefix = f"runs/{run_id}/streams/"
    found: dict[str, dict[str, Any]] = {}
    for key in store.list(prefix):
        if "/" in key[len(prefix) :] or not key.endswith(".json"):
            continue
        body = read_json(store, key)
        if body is None:  # deleted between list and get
            continue
        recs = body.get("records") if isinstance(body, dict) else None
        if not isinstance(recs, list):
            raise StoreError("a stream's records are not a JSON object with a 'records' list", where=f"{store.uri} {key}",
                             hint="delete it and re-run")
        for record in recs:
            checked = _checked(record, store, key)
            if checked is not None and isinstance(checked.get("step"), str):
                found[checked["step"]] = checked
    return found


def _read_record(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    return _checked(read_json(store, key), store, key)


def _checked(record: Any, store: ArtifactStore, key: str) -> dict[str, Any] | None:
    """``record`` as read from ``key``, if it is one and authentic (its MAC dropped), else None."""
    if record is not None and not isinstance(record, dict):
        raise StoreError("a step record is not a JSON object", where=f"{store.uri} {key}", hint="delete it and re-run")
    if record is not None and not trust.authentic(record, trust.configured_key()):
        return None  # forged, or written without the key: as if the step had left no record
    if record is not None:
        record.pop(trust.MAC_FIELD, None)
    return record


def _steps_prefix(run_id: str) -> str:
    check_key(run_id)
    return f"runs/{run_id}/steps/"
