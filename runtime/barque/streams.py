"""Chunked artifacts: what a generator step yields, stored chunk by chunk and read back lazily.

A stream is stored as chunk blobs (``blobs/<h[:2]>/<h>``, each the sha256 of its bytes, like
any blob) and one *manifest* blob, canonical JSON naming every chunk with its hash and size.
The manifest is the artifact: its ``ArtifactRef`` has the serializer ``stream``, its content
hash is the stream's output id, and it is committed like any value. So the cache key of a
dependant and early cutoff cover the whole stream, and the store's commit rule still holds:
chunks first, then the manifest, then the commit record. A writer that dies (or a generator
that raises) part way leaves orphan chunks and no manifest, which nothing can reach; a
stream is never read as complete unless every chunk named is there with its hash.

The chunking is a function of the content alone, never of how the generator yielded it:
a *bytes* stream (every item ``bytes``-like) is cut into segments of ``SEGMENT_BYTES``; a
*text* stream (every item ``str``) into segments of as many characters; any other items
are framed one by one (a serializer code, a length, the item's bytes) and a chunk closes
at the first item boundary past ``SEGMENT_BYTES``. The same bytes yielded in any pieces
have the same manifest, hence the same output id. A reader gets the stored segments (not
the producer's pieces) one at a time, or the whole joined: ``b"".join``, ``"".join``, or
the list of items.

Trust: the manifest and the bytes and text chunks are data, decoded without running code.
An item frame is decoded only with a serializer in the reader's ``allowed`` set (the node's
declared serializer, never the manifest's word), and every chunk is hash-checked as it is
read; a corrupt one is deleted so that the next look finds the artifact missing.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Iterator

from barque.artifacts import STREAM, ArtifactRef, blob_key
from barque.errors import StoreError
from barque.serializers import SERIALIZERS, SerializerError, canonical_json, deserialize, serialize
from barque.store.base import ArtifactStore

__all__ = ["STREAM", "Manifest", "StreamOutput", "write_stream", "iter_stream", "read_joined", "chunks_problem", "chunk_keys"]

FORMAT = "barque-stream/1"
SEGMENT_BYTES = 8 << 20  # a writer holds about one segment, a reader one chunk
KINDS = ("bytes", "text", "items")
_FRAME = struct.Struct(">BQ")  # serializer index, item length


@dataclass(frozen=True)
class Manifest:
    """A stored stream: its kind, its chunks (content hash, size) in order, and its length.

    ``length`` counts bytes, characters or items, by kind.
    """

    kind: str
    chunks: tuple[tuple[str, int], ...]
    length: int

    def to_bytes(self) -> bytes:
        return canonical_json({"format": FORMAT, "kind": self.kind, "chunks": [list(c) for c in self.chunks], "length": self.length})

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> "Manifest":
        try:
            doc = json.loads(data)
            if doc["format"] != FORMAT or doc["kind"] not in KINDS:
                raise ValueError(f"format {doc['format']!r}, kind {doc['kind']!r}")
            chunks = tuple((str(h), int(n)) for h, n in doc["chunks"])
            return cls(doc["kind"], chunks, int(doc["length"]))
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(f"malformed stream manifest: {e}", where=where, hint="re-run the producing step with --no-cache") from e


@dataclass(frozen=True)
class StreamOutput:
    """A stream once written: the manifest's ref (the step's artifact) and the manifest."""

    ref: ArtifactRef
    manifest: Manifest

    def __repr__(self) -> str:
        unit = {"bytes": "bytes", "text": "characters", "items": "items"}[self.manifest.kind]
        return f"<stream of {self.manifest.length} {unit} in {len(self.manifest.chunks)} chunk(s)>"


def write_stream(
    store: ArtifactStore, items: Iterable[Any], serializer: str | None = None, *, segment_bytes: int = SEGMENT_BYTES
) -> StreamOutput:
    """Store ``items`` chunk by chunk, then their manifest; return the stream's ref.

    ``serializer`` encodes the items of an *items* stream (``None``: chosen per item, as for
    any value). Raises ``SerializerError`` when bytes and text (or other items) are mixed.
    """
    writer = _Writer(store, serializer, segment_bytes)
    for item in items:
        writer.add(item)
    manifest = writer.close()
    data = manifest.to_bytes()
    ref = ArtifactRef(hashlib.sha256(data).hexdigest(), STREAM, len(data))
    _put_blob(store, ref.content_hash, data)  # last: a manifest exists only once every chunk does
    return StreamOutput(ref, manifest)


class _Writer:
    """Cuts what a generator yields into content-defined chunks and stores each as it fills."""

    def __init__(self, store: ArtifactStore, serializer: str | None, segment_bytes: int) -> None:
        if segment_bytes < 1:
            raise ValueError("segment_bytes must be at least 1")
        self.store, self.serializer, self.segment = store, serializer, segment_bytes
        self.kind: str | None = None
        self.buffer = bytearray()
        self.text: list[str] = []
        self.text_chars = 0
        self.chunks: list[tuple[str, int]] = []
        self.length = 0

    def add(self, item: Any) -> None:
        kind = "bytes" if isinstance(item, (bytes, bytearray, memoryview)) else "text" if isinstance(item, str) else "items"
        if self.kind is None:
            self.kind = kind
        elif kind != self.kind:
            raise SerializerError(
                f"a stream of {self.kind} got a {type(item).__module__}.{type(item).__qualname__} item",
                hint="yield only bytes, only str, or only other values from one generator",
            )
        if kind == "bytes":
            self._add_bytes(item)
        elif kind == "text":
            self._add_text(item)
        else:
            self._add_item(item)

    def _add_bytes(self, item: bytes | bytearray | memoryview) -> None:
        self.buffer += item
        self.length += len(memoryview(item).cast("B"))
        while len(self.buffer) >= self.segment:
            self._flush(bytes(self.buffer[: self.segment]))
            del self.buffer[: self.segment]

    def _add_text(self, item: str) -> None:
        self.text.append(item)
        self.text_chars += len(item)
        self.length += len(item)
        if self.text_chars >= self.segment:
            whole = "".join(self.text)
            cut = len(whole) - len(whole) % self.segment
            for start in range(0, cut, self.segment):
                self._flush(whole[start : start + self.segment].encode("utf-8", "surrogatepass"))
            self.text = [whole[cut:]] if cut < len(whole) else []
            self.text_chars = len(whole) - cut

    def _add_item(self, item: Any) -> None:
        data, name = serialize(item, self.serializer)
        self.buffer += _FRAME.pack(SERIALIZERS.index(name), len(data))
        self.buffer += data
        self.length += 1
        if len(self.buffer) >= self.segment:
            self._flush(bytes(self.buffer))
            self.buffer.clear()

    def close(self) -> Manifest:
        if self.text_chars:  # what is left past the last full segment (never an empty chunk)
            self._flush("".join(self.text).encode("utf-8", "surrogatepass"))
        if self.buffer:
            self._flush(bytes(self.buffer))
        return Manifest(self.kind or "items", tuple(self.chunks), self.length)

    def _flush(self, data: bytes) -> None:
        content_hash = hashlib.sha256(data).hexdigest()
        _put_blob(self.store, content_hash, data)
        self.chunks.append((content_hash, len(data)))


def _put_blob(store: ArtifactStore, content_hash: str, data: bytes) -> None:
    # As artifacts.write_value: equal bytes are shared, a blob that differs (corrupt) is healed.
    key = blob_key(content_hash)
    if store.size(key) != len(data) or store.get(key) != data:
        store.put(key, data)


def read_manifest(store: ArtifactStore, ref: ArtifactRef) -> Manifest:
    """The manifest behind ``ref``, hash-checked; ``StoreError`` when it is missing or corrupt."""
    return Manifest.from_bytes(_checked(store, ref.content_hash, ref.size), f"{store.uri} {ref.key}")


def iter_stream(store: ArtifactStore, ref: ArtifactRef, *, allowed: Collection[str]) -> Iterator[Any]:
    """The stream's segments (bytes, text) or items, one chunk read at a time, each hash-checked."""
    manifest = read_manifest(store, ref)
    for content_hash, size in manifest.chunks:
        data = _checked(store, content_hash, size)
        if manifest.kind == "bytes":
            yield data
        elif manifest.kind == "text":
            yield data.decode("utf-8", "surrogatepass")
        else:
            yield from _items(data, allowed, f"{store.uri} {blob_key(content_hash)}")


def read_joined(store: ArtifactStore, ref: ArtifactRef, *, allowed: Collection[str]) -> Any:
    """The whole stream as one value: ``bytes``, ``str``, or the list of its items."""
    kind = read_manifest(store, ref).kind
    pieces = iter_stream(store, ref, allowed=allowed)
    if kind == "bytes":
        return b"".join(pieces)
    if kind == "text":
        return "".join(pieces)
    return list(pieces)


def chunks_problem(store: ArtifactStore, ref: ArtifactRef, *, hash_check_bytes: int) -> str | None:
    """``artifact missing`` or ``artifact corrupt`` when a chunk of the stream cannot be read whole.

    Chunks up to ``hash_check_bytes`` are hash-checked, larger ones size-checked (as blobs are).
    """
    try:
        manifest = read_manifest(store, ref)
    except StoreError:
        return "artifact corrupt"
    for content_hash, size in manifest.chunks:
        key = blob_key(content_hash)
        if size <= hash_check_bytes:
            data = store.get(key)
            if data is None:
                return "artifact missing"
            if hashlib.sha256(data).hexdigest() != content_hash:
                return "artifact corrupt"
        else:
            found = store.size(key)
            if found is None:
                return "artifact missing"
            if found != size:
                return "artifact corrupt"
    return None


def chunk_keys(store: ArtifactStore, ref: ArtifactRef) -> list[str]:
    """The blob keys of the stream's chunks (none when its manifest cannot be read)."""
    try:
        return [blob_key(h) for h, _ in read_manifest(store, ref).chunks]
    except StoreError:
        return []


def _checked(store: ArtifactStore, content_hash: str, size: int) -> bytes:
    key = blob_key(content_hash)
    data = store.get(key)
    if data is None:
        raise StoreError(f"stream chunk {content_hash[:12]} is missing from the store", where=f"{store.uri} {key}", hint="re-run: a missing artifact is recomputed")
    if len(data) != size or hashlib.sha256(data).hexdigest() != content_hash:
        try:
            store.delete(key)
        except StoreError:  # a reader without delete rights: the next read fails the same way
            pass
        raise StoreError(
            f"stream chunk {content_hash[:12]} is corrupt: its bytes do not match its hash (the blob was removed)",
            where=f"{store.uri} {key}",
            hint="re-run: the producing step is recomputed",
        )
    return data


def _items(data: bytes, allowed: Collection[str], where: str) -> Iterator[Any]:
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        if offset + _FRAME.size > len(view):
            raise StoreError("stream chunk ends inside a frame header", where=where, hint="re-run the producing step with --no-cache")
        index, length = _FRAME.unpack_from(view, offset)
        offset += _FRAME.size
        if index >= len(SERIALIZERS) or offset + length > len(view):
            raise StoreError("stream chunk has a malformed frame", where=where, hint="re-run the producing step with --no-cache")
        name = SERIALIZERS[index]
        if name not in allowed:
            raise StoreError(
                f"a stream item claims serializer {name!r}, which this reader does not trust here (allowed: {', '.join(sorted(allowed))})",
                where=where,
                hint="the stream was not written by barque for this node; re-run the producing step with --no-cache",
            )
        yield deserialize(bytes(view[offset : offset + length]), name)
        offset += length
