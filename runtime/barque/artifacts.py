"""Content-addressed artifacts and the records that commit them.

Layout in the store:
- ``blobs/<h[:2]>/<h>``: the serialized bytes of a value; ``h`` is the sha256 of those bytes.
- ``cache/<cache_key>.json``: the commit record of a step's cache key, naming its blob.
- ``refs/<encoded step id>.json``: the latest materialization of a step (for ``barque show``).

Crash safety comes from ordering alone: a blob is written before the record that names it
(``commit`` refuses a ref whose blob is not there), and a reader trusts only a commit record.
A writer that dies between the two leaves an orphan blob that no lookup can reach.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from barque.errors import StoreError
from barque.serializers import canonical_json, deserialize, serialize
from barque.store.base import ArtifactStore

_MAX_SEGMENT = 200  # bytes; file names stop at 255, and ".json" or ".stdout" still has to fit


@dataclass(frozen=True)
class ArtifactRef:
    """Where a value's bytes are (by content), how to decode them, and how many there are."""

    content_hash: str
    serializer: str
    size: int

    @property
    def key(self) -> str:
        return blob_key(self.content_hash)

    def to_dict(self) -> dict[str, Any]:
        return {"content_hash": self.content_hash, "serializer": self.serializer, "size": self.size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArtifactRef":
        try:
            ref = cls(str(data["content_hash"]), str(data["serializer"]), int(data["size"]))
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"malformed artifact reference {data!r}: {e}") from e
        if len(ref.content_hash) != 64 or not _is_hex(ref.content_hash):
            raise StoreError(f"malformed artifact reference {data!r}: content_hash is not a sha256 hex digest")
        return ref


def blob_key(content_hash: str) -> str:
    return f"blobs/{content_hash[:2]}/{content_hash}"


def cache_record_key(cache_key: str) -> str:
    if not cache_key or "/" in cache_key or cache_key.startswith("."):
        raise ValueError(f"invalid cache key {cache_key!r}: it must be a single path segment")
    return f"cache/{cache_key}.json"


def ref_key(step_id: str) -> str:
    return f"refs/{encode_step_id(step_id)}.json"


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
    """Serialize ``value`` and store its bytes under their hash (once: equal bytes are shared)."""
    data, name = serialize(value, serializer)
    ref = ArtifactRef(hashlib.sha256(data).hexdigest(), name, len(data))
    if not store.exists(ref.key):
        store.put(ref.key, data)
    return ref


def read_value(store: ArtifactStore, ref: ArtifactRef) -> Any:
    """The value behind ``ref``; ``StoreError`` if its blob is missing or does not match its hash."""
    data = store.get(ref.key)
    if data is None:
        raise StoreError(
            f"artifact {ref.content_hash[:12]} is missing from the store",
            where=f"{store.uri} {ref.key}",
            hint="the store was cleaned or is not the one this run wrote to; re-run the producing step with --no-cache",
        )
    if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.content_hash:
        raise StoreError(
            f"artifact {ref.content_hash[:12]} is corrupt: its bytes do not match its hash",
            where=f"{store.uri} {ref.key}",
            hint="delete the blob and re-run the producing step with --no-cache",
        )
    return deserialize(data, ref.serializer)


def commit(store: ArtifactStore, cache_key: str, ref: ArtifactRef, record: dict[str, Any]) -> None:
    """Publish ``ref`` as the output for ``cache_key``; its blob must already be stored."""
    key = cache_record_key(cache_key)
    if not store.exists(ref.key):
        raise StoreError(
            f"refusing to commit cache key {cache_key}: its artifact {ref.content_hash[:12]} is not stored",
            where=f"{store.uri} {ref.key}",
            hint="write the value with write_value before committing it",
        )
    store.put(key, canonical_json({**record, "cache_key": cache_key, "artifact": ref.to_dict()}))


def lookup(store: ArtifactStore, cache_key: str) -> dict[str, Any] | None:
    """The commit record for ``cache_key``, or ``None`` if nothing was committed under it."""
    return _load_json(store, cache_record_key(cache_key))


def put_ref(store: ArtifactStore, step_id: str, record: dict[str, Any]) -> None:
    """Record the latest materialization of ``step_id`` (the record gains ``"step": step_id``)."""
    # The ref only speeds up `show` and dry-run explanations; the commit record is the truth.
    store.put(ref_key(step_id), canonical_json({**record, "step": step_id}), durable=False)


def get_ref(store: ArtifactStore, step_id: str) -> dict[str, Any] | None:
    return _load_json(store, ref_key(step_id))


def _load_json(store: ArtifactStore, key: str) -> dict[str, Any] | None:
    # Like records.read_json, which cannot be used here: records imports this module.
    data = store.get(key)
    if data is None:
        return None
    try:
        record = json.loads(data)
    except ValueError as e:
        raise StoreError(f"unreadable JSON record: {e}", where=f"{store.uri} {key}", hint="delete it and re-run") from e
    if not isinstance(record, dict):
        raise StoreError("a record is not a JSON object", where=f"{store.uri} {key}", hint="delete it and re-run")
    return record


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
