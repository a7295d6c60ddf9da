"""A run's spec in the store: what pods (and local workers) need to execute their stream.

Written once per run by whoever plans it (the local runner or the operator), read by
``barque exec``. Layout under the store:

- ``runs/<run_id>/spec.json``: graph, params, env digests, no-cache flag, where the code is
- ``runs/<run_id>/code/<relative path>``: the code snapshot, when the code travels inline
- ``runs/<run_id>/phases/<n>.json``: phase ``n``'s streams and their steps

Phases are written one at a time because a plan can grow once partition keys are known.

With ``BARQUE_STORE_KEY`` set the spec and the phases are signed (``barque.trust``) and the
spec pins the digest of the inline code, so a store writer without the key cannot change
what a Pod runs: a read that fails the check is a ``StoreError``, and the Pod fails loudly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from barque import trust
from barque.errors import StoreError
from barque.serializers import canonical_json
from barque.model import Graph
from barque.plans import Phase, Plan, Step, Stream
from barque.store import ArtifactStore


@dataclass(frozen=True)
class RunSpec:
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
    """

    run_id: str
    graph: Graph
    params: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str | None] = field(default_factory=dict)
    no_cache: bool = False
    targets: tuple[str, ...] = ()
    inline_code: bool = True
    code_path: str | None = None
    refresh: Mapping[str, str] = field(default_factory=dict)
    ref_scope: str = ""
    # node id -> {"artifact", "output_id"} of a value stubbed in for it (``barque.run(overrides=)``)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
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


def source_digest(files: Mapping[str, str]) -> str:
    """One sha256 over every code file's path and text, for pinning on a run's status."""
    return hashlib.sha256(canonical_json(sorted(files.items()))).hexdigest()


def write_run_spec(store: ArtifactStore, spec: RunSpec, code_files: Mapping[str, str] | None = None) -> None:
    """Store the code snapshot first, then the (signed) spec that points at it and pins its digest."""
    for path, text in sorted((code_files or {}).items()):
        store.put(f"{run_prefix(spec.run_id)}code/{path}", text.encode())
    doc = {**spec.to_dict(), "code_digest": source_digest(code_files) if code_files else None}
    store.put(f"{run_prefix(spec.run_id)}spec.json", canonical_json(trust.sign(doc, trust.configured_key())))


def read_run_spec(store: ArtifactStore, run_id: str) -> RunSpec | None:
    doc = _read_signed(store, f"{run_prefix(run_id)}spec.json")
    return RunSpec.from_dict(doc) if doc is not None else None


def read_code_files(store: ArtifactStore, run_id: str) -> dict[str, bytes]:
    """The inline code snapshot of a run, by relative path, checked against the digest its spec pins."""
    prefix = f"{run_prefix(run_id)}code/"
    files = {}
    for key in store.list(prefix):
        data = store.get(key)
        if data is not None:
            files[key[len(prefix):]] = data
    doc = _read_signed(store, f"{run_prefix(run_id)}spec.json")
    pinned = doc.get("code_digest") if doc else None
    if (pinned or trust.configured_key()) and files:
        texts = {path: data.decode("utf-8", "surrogateescape") for path, data in files.items()}
        if source_digest(texts) != pinned:
            raise StoreError(
                "the run's inline code does not match the digest its spec pins",
                where=f"{store.uri} {prefix}",
                hint="the code snapshot was changed after the run was planned; start a new run",
            )
    return files


def write_phase(store: ArtifactStore, run_id: str, phase: Phase, plan: Plan) -> None:
    """Store phase ``phase.index`` with the steps its streams run (only those, so the file stays small)."""
    step_ids = [s for stream in phase.streams for s in stream.steps]
    doc = {
        "index": phase.index,
        "reason": phase.reason,
        "streams": [{"stream_id": s.id, "steps": list(s.steps)} for s in phase.streams],
        "steps": [plan.steps[s].to_dict() for s in step_ids],
    }
    store.put(f"{run_prefix(run_id)}phases/{phase.index}.json", canonical_json(trust.sign(doc, trust.configured_key())))


def read_phase(store: ArtifactStore, run_id: str, index: int) -> tuple[Phase, dict[str, Step]] | None:
    doc = _read_signed(store, f"{run_prefix(run_id)}phases/{index}.json")
    if doc is None:
        return None
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
