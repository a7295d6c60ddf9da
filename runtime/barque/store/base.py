"""The protocol every store backend implements, and the URI dispatcher.

Keys are ``/``-separated relative strings (``blobs/ab/abcdef...``). Each ``put`` is atomic:
a reader sees either the whole old value, the whole new value, or nothing. The layers
above (artifacts, step records) build "data first, then a commit record" on this.
"""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

# LocalStore writes ``<key><TEMP_MARK><pid>.<n>`` next to the target and renames it into place;
# keys may not contain the mark, so a leftover temp file can never be mistaken for a key.
TEMP_MARK = ".#tmp."


@runtime_checkable
class ArtifactStore(Protocol):
    """A flat, atomic key-value store for bytes."""

    uri: str

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Store ``data`` under ``key`` atomically, replacing any previous value.

        Every put survives the writer being killed. ``durable=False`` lets a backend skip
        what makes a value survive a power loss too (a file's fsync): for what a reader can
        rebuild or checks before it believes it (``barque.artifacts`` says which writes those are).
        """

    def get(self, key: str) -> bytes | None:
        """Return the bytes under ``key``, or ``None`` when there are none."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""

    def size(self, key: str) -> int | None:
        """The length in bytes of the value under ``key``, or ``None`` when there is none (one stat or HEAD)."""

    def list(self, prefix: str) -> Iterator[str]:
        """Yield every key that starts with ``prefix``, in sorted order."""

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid store key, else raise ``ValueError`` saying why.

    Every backend applies the same rule, so the in-memory twin rejects what a folder would:
    non-empty ``/``-separated segments, none of them ``.`` or ``..``, no leading ``/``, no
    backslash or NUL, and not the temp-file mark.
    """
    if (
        not key
        or key[0] == "/"
        or key[-1] == "/"
        or "\\" in key
        or "\0" in key
        or "//" in key
        or TEMP_MARK in key
        or key == "."
        or key == ".."
        or key.startswith(("./", "../"))
        or "/./" in key
        or "/../" in key
        or key.endswith(("/.", "/.."))
    ):
        raise ValueError(
            f"invalid store key {key!r}: keys are relative '/'-separated paths without empty, '.' "
            f"or '..' segments, backslashes or {TEMP_MARK!r}"
        )
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a valid key (``""`` lists everything), else raise ``ValueError``."""
    if prefix and not prefix.endswith("/"):
        check_key(prefix)
    elif prefix:
        check_key(prefix[:-1])
    return prefix


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
