"""Content-addressed artifacts and the records that commit them.

Layout in the store:
- ``blobs/<h[:2]>/<h>``: the serialized bytes of a value; ``h`` is the sha256 of those bytes.
  A value of at most ``INLINE_BYTES`` has no blob: its bytes travel inside its reference
  (``ArtifactRef.inline``, base64 in JSON), so they are in its commit record, its step record and
  its ref, each as atomic as that record. Still content-addressed: its hash is the sha256 of the
  same bytes, checked whenever it is judged or read, as a blob's is. One file fewer per small step
  (bench/FINDINGS.md); a record without ``inline`` names a blob, as every record written before did.
- ``cache/<cache_key>.json``: the commit record of a step's cache key, naming its blob.
- ``refs/<scope>/<encoded step id>.json``: the latest materialization of a step in one
  pipeline (``barque show``, ``why``, a ``Manual`` node's pin, a sensor's last observation).

Refs are scoped (``ref_scope``) because they answer "what did *this* pipeline last see": a
project run locally (``project/<folder name>``) or a Pipeline in the cluster
(``k8s/<namespace>/<name>``). Two pipelines sharing a store and a step id would otherwise read
each other's sensor observations and ``Manual`` pins. Refs written before scoping sit directly
under ``refs/`` (``refs/<encoded step id>.json``); no scoped key can equal one (an encoded step id
has no ``/``), so they are never read, and ``barque gc`` removes them. Commit records
(``cache/``) need no scope: a cache key already names everything that makes the value.

Crash safety comes from ordering and checking: a blob is written before the record that names
it (``commit`` refuses a ref whose blob is not there), and a reader trusts only a commit record
whose blob checks out. A writer that dies between the two leaves an orphan blob that no lookup
can reach. Against a power loss (which can lose or tear what was not synced) only blobs larger
than ``HASH_CHECK_BYTES`` are synced before their record is written, because a record naming one
is judged by its size alone; a smaller blob is hash-checked every time its record is judged, and
a record is JSON that a tear makes unreadable, so neither needs a sync: whatever a power loss
lost or tore is "not materialized" and recomputed. That took the two fsyncs of each small step
off the cold path (bench/FINDINGS.md).

A record is served only when it is sound (``find``): well-formed JSON, authentic (with
``BARQUE_STORE_KEY`` set, see ``barque.trust``), naming a serializer its node allows, and
naming a blob that is there with the recorded size; blobs up to ``HASH_CHECK_BYTES`` are also
hash-checked, as reading a small file costs about what a ``stat`` does (and an S3 GET of a
small object what a HEAD does). Anything else is *not materialized*, with the reason
(``artifact missing``, ``artifact corrupt``, ...): the step is recomputed and rewritten.
A larger blob is hash-checked when it is read, as every read is (``read_value``); one found
corrupt then is deleted, so the read fails once with a clear error and the next look finds
it missing. That keeps a fully cached run at one ``stat`` per large artifact instead of
hashing gigabytes it never reads. ``write_value`` rewrites a blob whose stored bytes differ
from the value's, so recomputing heals a corrupt blob in place.

The records here are ``NamedTuple``s, not dataclasses, as ``barque.steprecord``'s: typed and
immutable, and cheap to define, which every run pays for at import (bench/FINDINGS.md).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from pathlib import PurePath
from typing import Any, Collection, NamedTuple
from urllib.parse import quote

from barque import trust
from barque.errors import StoreError
from barque.serializers import canonical_json, deserialize, serialize
from barque.store.base import ArtifactStore

_MAX_SEGMENT = 200  # bytes; file names stop at 255, and ".json" or ".stdout" still has to fit
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
HASH_CHECK_BYTES = 1 << 20  # blobs up to this size are hash-checked when a record is judged
# Values up to this size are carried inside their reference instead of a blob file: a file
# creation costs more than the bytes (0.1-1.5 ms on this disk); every record naming the value
# carries a copy (a step record, a stream's records, the pipe), so it stays small.
INLINE_BYTES = 512
# The serializer of a chunked artifact's manifest (``barque.streams``): JSON naming its chunks,
# decoded as data whatever the node allows; its items are decoded only as the node allows.
STREAM = "stream"


class ArtifactRef(NamedTuple):
    """Where a value's bytes are (by content), how to decode them, and how many there are.

    ``inline`` holds the bytes themselves for a value of at most ``INLINE_BYTES`` (no blob);
    ``None`` means they are the blob under ``key``.
    """

    content_hash: str
    serializer: str
    size: int
    inline: bytes | None = None

    @property
    def key(self) -> str:
        return blob_key(self.content_hash)

    @property
    def where(self) -> str:
        """Where the bytes are, for messages: the blob's key, or that they are inline."""
        return f"inline in the record of {self.content_hash[:12]}" if self.inline is not None else self.key

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content_hash": self.content_hash, "serializer": self.serializer, "size": self.size}
        if self.inline is not None:
            out["inline"] = binascii.b2a_base64(self.inline, newline=False).decode("ascii")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArtifactRef":
        try:
            text = data.get("inline")
            if text is not None and not isinstance(text, str):
                raise TypeError("inline is not a string")
            inline = None if text is None else binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
            ref = cls(str(data["content_hash"]), str(data["serializer"]), int(data["size"]), inline)
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # binascii.Error is a ValueError
            raise StoreError(f"malformed artifact reference {data!r}: {e}") from e
        if not _SHA256_HEX.fullmatch(ref.content_hash):
            raise StoreError(f"malformed artifact reference {data!r}: content_hash is not a sha256 hex digest")
        if inline is not None and len(inline) != ref.size:
            # the hash check on every read would refuse it too; a reference that disagrees with
            # itself is named malformed here, before anything reads it
            raise StoreError(f"malformed artifact reference {data!r}: size {ref.size} is not the {len(inline)} inline bytes")
        return ref


def blob_key(content_hash: str) -> str:
    return f"blobs/{content_hash[:2]}/{content_hash}"


def cache_record_key(cache_key: str) -> str:
    if not cache_key or "/" in cache_key or cache_key.startswith("."):
        raise ValueError(f"invalid cache key {cache_key!r}: it must be a single path segment")
    return f"cache/{cache_key}.json"


def project_ref_scope(root: str) -> str:
    """The refs scope of a project run locally: its root folder's name (so a moved or cloned
    project keeps its pins and observations; two projects sharing a store need distinct names)."""
    name = PurePath(root).name
    if not name:
        raise ValueError(f"the project root {root!r} has no folder name to scope its refs by")
    return "project/" + encode_step_id(name)


def cluster_ref_scope(namespace: str, pipeline: str) -> str:
    """The refs scope of a Pipeline in the cluster: its namespace and name."""
    return f"k8s/{encode_step_id(namespace)}/{encode_step_id(pipeline)}"


def ref_prefix(scope: str) -> str:
    """Where the refs of ``scope`` (``project_ref_scope`` or ``cluster_ref_scope``) live."""
    parts = scope.split("/")
    if len(parts) < 2 or any(not p or p.startswith(".") for p in parts):
        raise ValueError(f"invalid refs scope {scope!r}: make it with project_ref_scope or cluster_ref_scope")
    return f"refs/{scope}/"


def ref_key(scope: str, step_id: str) -> str:
    return f"{ref_prefix(scope)}{encode_step_id(step_id)}.json"


def is_legacy_ref(key: str) -> bool:
    """A ref written before refs were scoped (directly under ``refs/``): never read, only removed."""
    return key.startswith("refs/") and "/" not in key[len("refs/"):]


def encode_step_id(step_id: str) -> str:
    """A readable, safe single path segment for ``step_id`` (percent-encoding, ``/`` included).

    A leading ``.`` is encoded too (no hidden files, no ``..``), and a very long id is cut and
    suffixed with a hash of the whole, so distinct ids stay distinct and fit in a file name.
    """
    if not step_id:
        raise ValueError("a step id cannot be empty")
    encoded = quote(step_id, safe="")
    if encoded[0] == ".":
        encoded = "%2E" + encoded[1:]
    if len(encoded) > _MAX_SEGMENT:
        digest = hashlib.sha256(step_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        encoded = f"{encoded[: _MAX_SEGMENT - 18]}~~{digest}"
    return encoded


def write_value(store: ArtifactStore, value: Any, serializer: str | None = None) -> ArtifactRef:
    """Serialize ``value`` and store its bytes under their hash, or, up to ``INLINE_BYTES``,
    keep them in the returned reference (nothing is written: the record that names it stores them).

    Equal bytes are shared; a stored blob is rewritten only when its bytes differ from these
    (a corrupt or truncated blob), so a recomputed step heals it.
    """
    data, name = serialize(value, serializer)
    if len(data) <= INLINE_BYTES:
        return ArtifactRef(hashlib.sha256(data).hexdigest(), name, len(data), data)
    ref = ArtifactRef(hashlib.sha256(data).hexdigest(), name, len(data))
    if store.size(ref.key) != ref.size or store.get(ref.key) != data:
        # Durable (synced before the record names it) only when a record is judged by its size
        # alone; a smaller blob is hash-checked whenever a record naming it is judged, so one a
        # power loss tore or lost is "artifact corrupt"/"missing" and recomputed (see the module).
        store.put(ref.key, data, durable=ref.size > HASH_CHECK_BYTES)
    return ref


def read_value(store: ArtifactStore, ref: ArtifactRef, *, allowed: Collection[str]) -> Any:
    """The value behind ``ref``, decoded only if its serializer is in ``allowed``.

    ``allowed`` is the reader's decision (``trust.allowed_serializers(node.serializer)``, or
    ``trust.DATA_ONLY``), never the record's. ``StoreError`` if the serializer is not allowed,
    or the blob is missing or does not match its hash (a corrupt blob is deleted first, so
    the next look at it finds it missing and its step is recomputed).
    """
    if ref.serializer not in allowed and ref.serializer != STREAM:
        raise StoreError(
            f"artifact {ref.content_hash[:12]} claims serializer {ref.serializer!r}, which this reader "
            f"does not trust here (allowed: {', '.join(sorted(allowed))})",
            where=f"{store.uri} {ref.where}",
            hint="the record was not written by barque for this node; re-run the producing step with --no-cache",
        )
    data = store.get(ref.key) if ref.inline is None else ref.inline
    if data is None:
        raise StoreError(
            f"artifact {ref.content_hash[:12]} is missing from the store",
            where=f"{store.uri} {ref.key}",
            hint="re-run: a missing artifact is recomputed",
        )
    if not _matches(data, ref):
        if ref.inline is not None:  # the record holding it is judged corrupt too, and rewritten when recomputed
            raise StoreError(
                f"artifact {ref.content_hash[:12]} is corrupt: its bytes do not match its hash",
                where=f"{store.uri} {ref.where}",
                hint="re-run: the producing step is recomputed",
            )
        _delete_quietly(store, ref.key)
        raise StoreError(
            f"artifact {ref.content_hash[:12]} is corrupt: its bytes do not match its hash (the blob was removed)",
            where=f"{store.uri} {ref.key}",
            hint="re-run: the producing step is recomputed",
        )
    if ref.serializer == STREAM:
        from barque import streams  # it builds on this module

        return streams.read_joined(store, ref, allowed=allowed)
    return deserialize(data, ref.serializer)


def commit(store: ArtifactStore, cache_key: str, ref: ArtifactRef, record: dict[str, Any]) -> None:
    """Publish ``ref`` as the output for ``cache_key``; its blob must already be stored (an
    inline value is stored by this very record).

    The record is signed with ``BARQUE_STORE_KEY`` when it is set.
    """
    key = cache_record_key(cache_key)
    if ref.inline is None and not store.exists(ref.key):
        raise StoreError(
            f"refusing to commit cache key {cache_key}: its artifact {ref.content_hash[:12]} is not stored",
            where=f"{store.uri} {ref.key}",
            hint="write the value with write_value before committing it",
        )
    body = {**record, "cache_key": cache_key, "artifact": ref.to_dict()}
    # Never synced: a lost record means a recomputation, a torn one is not JSON (a strict
    # prefix of a JSON object never is), so either way the step is simply not materialized.
    store.put(key, canonical_json(trust.sign(body, trust.configured_key())), durable=False)


class Found(NamedTuple):
    """A judged record: ``record`` and ``ref`` when it can be served, else ``problem`` says why not."""

    record: dict[str, Any] | None
    ref: ArtifactRef | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def served(self) -> dict[str, Any] | None:
        """The record when it can be served, else ``None``."""
        return self.record if self.problem is None else None


def find(
    store: ArtifactStore, cache_key: str, allowed: Collection[str], *, hash_check_bytes: int = HASH_CHECK_BYTES
) -> Found:
    """The commit record of ``cache_key`` if it is sound (see the module docstring), else why not.

    ``problem`` is ``None`` (served), ``"never materialized"`` (no record) or the reason the
    record is not believed: ``record unreadable``, ``record not authenticated``, ``record not
    trusted: ...``, ``artifact missing``, ``artifact corrupt``.
    """
    return judge(store, cache_record_key(cache_key), allowed, hash_check_bytes=hash_check_bytes)


def find_ref(
    store: ArtifactStore, scope: str, step_id: str, allowed: Collection[str], *, hash_check_bytes: int = HASH_CHECK_BYTES
) -> Found:
    """Like ``find``, for the latest materialization of ``step_id`` in ``scope`` (``manual`` freshness, ``show``)."""
    return judge(store, ref_key(scope, step_id), allowed, hash_check_bytes=hash_check_bytes)


def judge(store: ArtifactStore, key: str, allowed: Collection[str], *, hash_check_bytes: int) -> Found:
    """Read the record under ``key`` and check it, its serializer and its blob."""
    record, problem = _read_record(store, key)
    if record is None:
        return Found(None, None, problem)
    try:
        ref = ArtifactRef.from_dict(record["artifact"])
        if not isinstance(record["output_id"], str):
            raise TypeError("output_id is not a string")
    except (KeyError, TypeError, StoreError):
        return Found(None, None, "record unreadable")
    if ref.serializer not in allowed and ref.serializer != STREAM:
        return Found(None, None, f"record not trusted: serializer {ref.serializer}, node allows {', '.join(sorted(allowed))}")
    return Found(record, ref, blob_problem(store, ref, hash_check_bytes=hash_check_bytes))


def blob_problem(store: ArtifactStore, ref: ArtifactRef, *, hash_check_bytes: int = HASH_CHECK_BYTES) -> str | None:
    """``artifact missing`` or ``artifact corrupt`` when the blob cannot serve ``ref``; ``None`` when it can.

    A stream's manifest serves only when every chunk it names can be read too.
    """
    problem = _own_blob_problem(store, ref, hash_check_bytes)
    if problem is None and ref.serializer == STREAM:
        from barque import streams  # it builds on this module

        return streams.chunks_problem(store, ref, hash_check_bytes=hash_check_bytes)
    return problem


def _own_blob_problem(store: ArtifactStore, ref: ArtifactRef, hash_check_bytes: int) -> str | None:
    if ref.inline is not None:  # as cheap to check as it is to have: always hashed
        return None if _matches(ref.inline, ref) else "artifact corrupt"
    if ref.size <= hash_check_bytes:
        data = store.get(ref.key)
        if data is None:
            return "artifact missing"
        return None if _matches(data, ref) else "artifact corrupt"
    size = store.size(ref.key)
    if size is None:
        return "artifact missing"
    return None if size == ref.size else "artifact corrupt"


def lookup(store: ArtifactStore, cache_key: str) -> dict[str, Any] | None:
    """The authentic commit record for ``cache_key``, or ``None``; its blob is not checked (see ``find``)."""
    return _read_record(store, cache_record_key(cache_key))[0]


def put_ref(store: ArtifactStore, scope: str, step_id: str, record: dict[str, Any]) -> None:
    """Record the latest materialization of ``step_id`` in ``scope`` (the record gains ``"step": step_id``)."""
    # The ref only speeds up `show` and dry-run explanations; the commit record is the truth.
    data = canonical_json(trust.sign({**record, "step": step_id}, trust.configured_key()))
    # An asset's ref has its commit record's very bytes: a store that can give that file a
    # second name (LocalStore: a hard link) is spared a new file per step (bench/FINDINGS.md).
    link = getattr(store, "link", None)
    cache_key = record.get("cache_key")
    if link is not None and isinstance(cache_key, str) and cache_key and "/" not in cache_key and not cache_key.startswith("."):
        committed = cache_record_key(cache_key)
        if store.get(committed) == data and link(committed, ref_key(scope, step_id)):
            return
    store.put(ref_key(scope, step_id), data, durable=False)


def get_ref(store: ArtifactStore, scope: str, step_id: str) -> dict[str, Any] | None:
    """The authentic latest materialization of ``step_id`` in ``scope``, or ``None``; its blob is not checked."""
    return _read_record(store, ref_key(scope, step_id))[0]


def _read_record(store: ArtifactStore, key: str) -> tuple[dict[str, Any] | None, str]:
    """The record under ``key`` if it is a JSON object and authentic, else ``None`` and why."""
    # Like records.read_json, which cannot be used here: records imports this module.
    data = store.get(key)
    if data is None:
        return None, "never materialized"
    try:
        record = json.loads(data)
    except ValueError:
        return None, "record unreadable"
    if not isinstance(record, dict):
        return None, "record unreadable"
    if not trust.authentic(record, trust.configured_key()):
        return None, "record not authenticated"
    return record, ""


def _matches(data: bytes, ref: ArtifactRef) -> bool:
    return len(data) == ref.size and hashlib.sha256(data).hexdigest() == ref.content_hash


def _delete_quietly(store: ArtifactStore, key: str) -> None:
    try:
        store.delete(key)
    except StoreError:  # a reader without delete rights: the next read fails the same way
        pass
