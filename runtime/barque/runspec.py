"""A run's spec in the store: what pods (and local workers) need to execute their stream.

Written once per run by whoever plans it (the local runner or the operator), read by
``barque exec``. Layout under the store:

- ``runs/<run_id>/spec.json``: graph, params, env digests, no-cache flag, where the code is; and,
  when the planner hands them over at once (the operator does), the phases known when the run
  started and an opaque ``pin`` (the operator's pinned plan), so that a run's start is one
  store write and a Pod's start one read (``RunStart``)
- ``code/<digest>/<relative path>``: the code snapshot, when the code travels inline, stored by
  the digest of its files (``source_digest``): every run of one Pipeline version shares it, and
  the spec lists its files, so a Pod reads them without listing the store
- ``runs/<run_id>/phases/<n>.json``: phase ``n``'s streams and their steps, for a phase not in
  the spec (the plan grew, or a later phase starts)

Specs written before the shared snapshot (no ``code_files`` in the spec) keep their code under
``runs/<run_id>/code/``, and are read from there.

With ``BARQUE_STORE_KEY`` set the spec and the phases are signed (``barque.trust``) and the
spec pins the digest of the inline code, so a store writer without the key cannot change
what a Pod runs: a read that fails the check is a ``StoreError``, and the Pod fails loudly.
The code is checked against that digest whenever the spec lists its files.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, NamedTuple, Sequence

from barque import trust
from barque.errors import StoreError
from barque.serializers import canonical_json
from barque.model import Graph
from barque.plans import Phase, Plan, Step, Stream
from barque.store import ArtifactStore


class RunSpec(NamedTuple):
    """What every step of a run shares. ``code_path`` is a directory inside the image when the code is not inline.

    ``env`` maps each declared variable to its keyed digest (``barque.trust.env_digests``),
    never to its value: the spec is stored, and the cache keys made from it are too.
    ``refresh`` maps each node a ``--refresh`` recomputes even when cached to the refreshed
    node it comes from (itself when named, an upstream one for the cascade below it).
    ``ref_scope`` is the pipeline's refs scope (``barque.artifacts.ref_prefix``): what its
    sensors last observed and its ``Manual`` nodes are pinned to. A spec written before refs
    were scoped has none, and its steps then read and write no refs at all.
    ``fail_fast`` is the run's failure policy as its streams apply it: a stream stops starting
    steps after one fails (``barque_runtime.executor``), as the driver does across streams.

    A ``NamedTuple``, as the model's records (``barque.model`` says why): a mapping field's
    default is one shared empty dict, read-only through its ``Mapping`` type.
    """

    run_id: str
    graph: Graph
    params: Mapping[str, str] = {}
    env: Mapping[str, str | None] = {}
    no_cache: bool = False
    targets: tuple[str, ...] = ()
    inline_code: bool = True
    code_path: str | None = None
    refresh: Mapping[str, str] = {}
    ref_scope: str = ""
    # node id -> {"artifact", "output_id"} of a value stubbed in for it (``barque.run(overrides=)``)
    overrides: Mapping[str, Mapping[str, Any]] = {}
    fail_fast: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "graph": self.graph.to_dict(),
            "params": dict(self.params),
            "env": dict(self.env),
            "no_cache": self.no_cache,
            "targets": list(self.targets),
            "inline_code": self.inline_code,
            "code_path": self.code_path,
            # Only when asked for, so the specs (and digests) of every other run stay as they were.
            **({"refresh": dict(self.refresh)} if self.refresh else {}),
            **({"ref_scope": self.ref_scope} if self.ref_scope else {}),
            **({"overrides": {k: dict(v) for k, v in self.overrides.items()}} if self.overrides else {}),
            **({"fail_fast": True} if self.fail_fast else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        return cls(
            run_id=d["run_id"],
            graph=Graph.from_dict(d["graph"]),
            params=dict(d.get("params", {})),
            env=dict(d.get("env", {})),
            no_cache=bool(d.get("no_cache", False)),
            targets=tuple(d.get("targets", ())),
            inline_code=bool(d.get("inline_code", True)),
            code_path=d.get("code_path"),
            refresh=dict(d.get("refresh", {})),
            ref_scope=str(d.get("ref_scope", "")),
            overrides={str(k): dict(v) for k, v in d.get("overrides", {}).items()},
            fail_fast=bool(d.get("fail_fast", False)),
        )


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def spec_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}spec.json"


def code_prefix(digest: str) -> str:
    """Where the code snapshot of digest ``digest`` lives (``source_digest`` of its files)."""
    return f"code/{digest}/"


def source_digest(files: Mapping[str, str]) -> str:
    """One sha256 over every code file's path and text, for pinning on a run's status."""
    return hashlib.sha256(canonical_json(sorted(files.items()))).hexdigest()


class RunStart(NamedTuple):
    """What one read of a run's spec gives: the spec, its code's digest and files (``None``: a spec
    from before the shared snapshot), the phases stored with it and the planner's ``pin``."""

    spec: RunSpec
    code_digest: str | None = None
    code_files: tuple[str, ...] | None = None
    phases: Mapping[int, tuple[Phase, dict[str, Step]]] = {}
    pin: Mapping[str, Any] | None = None


def store_code(store: ArtifactStore, files: Mapping[str, str]) -> str:
    """Store a code snapshot under its digest (rewriting it writes the same bytes); the digest."""
    digest = source_digest(files)
    for path, text in sorted(files.items()):
        store.put(code_prefix(digest) + path, text.encode())
    return digest


def code_is_stored(store: ArtifactStore, files: Mapping[str, str]) -> bool:
    """Whether every file of the snapshot is under its digest's prefix (one listing)."""
    prefix = code_prefix(source_digest(files))
    return {prefix + path for path in files} <= set(store.list(prefix))


def write_run_spec(store: ArtifactStore, spec: RunSpec, code_files: Mapping[str, str] | None = None, *,
                   phases: Sequence[tuple[Phase, Plan]] = (), pin: Mapping[str, Any] | None = None,
                   code_stored: bool = False) -> None:
    """Store the code snapshot first (unless ``code_stored``: the caller saw it in this store), then
    the (signed) spec that points at it, pins its digest and carries ``phases`` and ``pin``."""
    if code_files and not code_stored:
        store_code(store, code_files)
    doc: dict[str, Any] = {**spec.to_dict(), "code_digest": source_digest(code_files) if code_files else None}
    if code_files:
        doc["code_files"] = sorted(code_files)
    if phases:
        doc["phases"] = {str(phase.index): phase_doc(phase, plan) for phase, plan in phases}
    if pin is not None:
        doc["pin"] = dict(pin)
    store.put(spec_key(spec.run_id), canonical_json(trust.sign(doc, trust.configured_key())))


def read_run_start(store: ArtifactStore, run_id: str) -> RunStart | None:
    doc = _read_signed(store, spec_key(run_id))
    if doc is None:
        return None
    files = doc.get("code_files")
    return RunStart(
        spec=RunSpec.from_dict(doc), code_digest=doc.get("code_digest"),
        code_files=tuple(files) if files is not None else None,
        phases={int(i): _phase_from_doc(p) for i, p in (doc.get("phases") or {}).items()},
        pin=doc.get("pin"),
    )


def read_run_spec(store: ArtifactStore, run_id: str) -> RunSpec | None:
    start = read_run_start(store, run_id)
    return start.spec if start is not None else None


def read_code_files(store: ArtifactStore, run_id: str, start: RunStart | None = None) -> dict[str, bytes]:
    """The inline code snapshot of a run, by relative path, checked against the digest its spec pins.
    ``start``: the run's spec as already read (else it is read here)."""
    start = start or read_run_start(store, run_id)
    if start is not None and start.code_files is not None:
        return _shared_code(store, start)
    prefix = f"{run_prefix(run_id)}code/"
    files = {}
    for key in store.list(prefix):
        data = store.get(key)
        if data is not None:
            files[key[len(prefix):]] = data
    pinned = start.code_digest if start else None
    if (pinned or trust.configured_key()) and files:
        _check_code(store, prefix, files, pinned)
    return files


def _shared_code(store: ArtifactStore, start: RunStart) -> dict[str, bytes]:
    prefix = code_prefix(start.code_digest or "")
    files = {}
    for path in start.code_files or ():
        data = store.get(prefix + path)
        if data is None:
            raise StoreError(f"the run's code file {path} is missing", where=f"{store.uri} {prefix}",
                             hint="the code snapshot was removed after the run was planned; start a new run")
        files[path] = data
    if files:
        _check_code(store, prefix, files, start.code_digest)
    return files


def _check_code(store: ArtifactStore, prefix: str, files: Mapping[str, bytes], pinned: str | None) -> None:
    texts = {path: data.decode("utf-8", "surrogateescape") for path, data in files.items()}
    if source_digest(texts) != pinned:
        raise StoreError(
            "the run's inline code does not match the digest its spec pins",
            where=f"{store.uri} {prefix}",
            hint="the code snapshot was changed after the run was planned; start a new run",
        )


def phase_doc(phase: Phase, plan: Plan) -> dict[str, Any]:
    """Phase ``phase.index`` with the steps its streams run (only those, so the document stays small)."""
    step_ids = [s for stream in phase.streams for s in stream.steps]
    return {
        "index": phase.index,
        "reason": phase.reason,
        "streams": [{"stream_id": s.id, "steps": list(s.steps)} for s in phase.streams],
        "steps": [plan.steps[s].to_dict() for s in step_ids],
    }


def write_phase(store: ArtifactStore, run_id: str, phase: Phase, plan: Plan) -> None:
    """Store phase ``phase.index`` in a file of its own (a phase the spec does not carry)."""
    doc = phase_doc(phase, plan)
    store.put(f"{run_prefix(run_id)}phases/{phase.index}.json", canonical_json(trust.sign(doc, trust.configured_key())))


def read_phase(store: ArtifactStore, run_id: str, index: int,
               start: RunStart | None = None) -> tuple[Phase, dict[str, Step]] | None:
    """Phase ``index``: from ``start`` (the spec as already read) when it carries it, else its own
    file, else (no ``start`` given) from the spec."""
    if start is not None and index in start.phases:
        return start.phases[index]
    doc = _read_signed(store, f"{run_prefix(run_id)}phases/{index}.json")
    if doc is not None:
        return _phase_from_doc(doc)
    if start is None:
        start = read_run_start(store, run_id)
        return start.phases.get(index) if start is not None else None
    return None


def _phase_from_doc(doc: Mapping[str, Any]) -> tuple[Phase, dict[str, Step]]:
    phase = Phase(doc["index"], doc["reason"], tuple(Stream(s["stream_id"], tuple(s["steps"])) for s in doc["streams"]))
    return phase, {s["id"]: Step.from_dict(s) for s in doc["steps"]}


def _read_signed(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    """The JSON object under ``key``; ``StoreError`` if a configured key does not authenticate it."""
    data = store.get(key)
    if data is None:
        return None
    doc = json.loads(data)
    if not isinstance(doc, dict) or not trust.authentic(doc, trust.configured_key()):
        raise StoreError(
            "a run document is not authenticated by BARQUE_STORE_KEY",
            where=f"{store.uri} {key}",
            hint="it was written without the key (or with another); give the planner and the Pods the same key",
        )
    return doc
