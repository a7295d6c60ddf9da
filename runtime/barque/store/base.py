"""The protocol every store backend implements, and the URI dispatcher.

Keys are ``/``-separated relative strings (``blobs/ab/abcdef...``). Each ``put`` is atomic:
a reader sees either the whole old value, the whole new value, or nothing. The layers
above (artifacts, step records) build "data first, then a commit record" on this.
"""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable


@runtime_checkable
class ArtifactStore(Protocol):
    """A flat, atomic key-value store for bytes."""

    uri: str

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing any previous value."""

    def get(self, key: str) -> bytes | None:
        """Return the bytes under ``key``, or ``None`` when there are none."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""

    def list(self, prefix: str) -> Iterator[str]:
        """Yield every key that starts with ``prefix``, in sorted order."""

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""


def open_store(uri: str) -> ArtifactStore:
    """Open the store named by ``uri``: a folder path, ``file://path``, ``s3://bucket/prefix`` or ``memory://name``."""
    if uri.startswith("s3://"):
        from barque.store.s3 import S3Store

        return S3Store.from_uri(uri)
    if uri.startswith("memory://"):
        from barque.store.memory import MemoryStore

        return MemoryStore.named(uri)
    from barque.store.local import LocalStore

    return LocalStore(uri.removeprefix("file://"))
