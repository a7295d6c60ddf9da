"""The in-memory twin of the store, for unit tests: a dict of bytes behind a lock.

It applies the same key rules as the real backends (``check_key``), so a test that passes
here does not pass only because the twin is more lenient.
"""

from __future__ import annotations

import itertools
import threading
from typing import ClassVar, Iterator

from barque.store.base import check_key, check_prefix

_anonymous = itertools.count()


class MemoryStore:
    """An ``ArtifactStore`` held in a dict. ``MemoryStore.named(uri)`` shares one per name."""

    _named: ClassVar[dict[str, "MemoryStore"]] = {}
    _named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, uri: str | None = None) -> None:
        # An unnamed store is private to its creator: ``open_store`` of its uri finds nothing.
        self.uri = uri or f"memory://anonymous-{next(_anonymous)}"
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore({self.uri!r}, {len(self._data)} keys)"

    @classmethod
    def named(cls, uri: str) -> "MemoryStore":
        """The process-wide store for ``uri`` (``memory://name``), created on first use."""
        with cls._named_lock:
            store = cls._named.get(uri)
            if store is None:
                store = cls._named[uri] = cls(uri)
            return store

    @classmethod
    def forget_named(cls) -> None:
        """Drop every named store, so tests do not see each other's data."""
        with cls._named_lock:
            cls._named.clear()

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        check_key(key)
        value = bytes(data)  # a copy, so a caller mutating a bytearray cannot change what is stored
        with self._lock:
            self._data[key] = value

    def get(self, key: str) -> bytes | None:
        return self._data.get(check_key(key))

    def exists(self, key: str) -> bool:
        return check_key(key) in self._data

    def size(self, key: str) -> int | None:
        data = self._data.get(check_key(key))
        return None if data is None else len(data)

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        with self._lock:
            keys = [k for k in self._data if k.startswith(prefix)]
        keys.sort()
        return iter(keys)

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._data.pop(key, None)
