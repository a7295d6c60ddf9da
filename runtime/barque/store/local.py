"""The local-folder backend: one file per key under a root folder.

Constraints it keeps:
- ``put`` is atomic: the bytes go to a temp file in the target's folder, which is fsynced and
  renamed over the target (``os.replace``), so a reader sees the old bytes or the new ones, never
  a torn file, even after a power loss. The folder itself is not fsynced after the rename: that
  doubled the cost of a put (about 3 to 6 ms instead of about 3 on ext4 here). "Blob before
  commit record" then relies on the file system committing renames in order, as journaling
  file systems (ext4, xfs) do in practice; POSIX alone does not promise it.
- Reads cost one ``open`` (or one ``stat``) and nothing else: the local runner's warm run reads
  hundreds of small keys inside a start-up budget of about 150 ms.
- Keys cannot escape the root (``check_key`` rejects absolute paths and ``..`` segments).
- Temp files of a killed writer are swept by a later writer: the first ``put`` of each store
  object looks at the mtime of a marker file (one ``stat``); at most once per
  ``SWEEP_EVERY_SECONDS`` it walks the folder and removes temp files untouched for
  ``STALE_AFTER_SECONDS``. A writer still writing keeps touching its temp file, and an hour
  is far longer than any write takes, so a live write is never removed; age rather than
  the pid in the name decides, because a folder may be shared by several machines. Readers
  never sweep: a read-only command costs no walk and needs no write access.
"""

from __future__ import annotations

import itertools
import os
import stat
import time
from typing import Iterator

from barque.errors import StoreError
from barque.store.base import TEMP_MARK, check_key, check_prefix

_counter = itertools.count()
STALE_AFTER_SECONDS = 3600.0
SWEEP_EVERY_SECONDS = 3600.0
SWEEP_MARKER = f"{TEMP_MARK}swept"  # holds the mark, so it can never be a key or be listed


class LocalStore:
    """An ``ArtifactStore`` on a folder; the folder is created by the first ``put``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.uri = self.root
        self._prefix = os.path.join(self.root, "")
        self._swept = False

    def __repr__(self) -> str:
        return f"LocalStore({self.root!r})"

    def _path(self, key: str) -> str:
        # A checked key is relative and clean, so joining is concatenation (os.path.join's
        # generality cost a fully cached run ~2 µs of its two store reads per step).
        return f"{self._prefix}{check_key(key)}"

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        path = self._path(key)
        if not self._swept:
            self._swept = True
            sweep_temp_files(self.root)
        try:
            self._put(path, data, durable)
        except OSError as e:
            raise StoreError(
                f"cannot write {key!r}: {e.strerror or e}",
                where=path,
                hint="check that the store folder is writable, has space, and that no key is also used as a folder",
            ) from e

    def _put(self, path: str, data: bytes, durable: bool) -> None:
        tmp = f"{path}{TEMP_MARK}{os.getpid()}.{next(_counter)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def link(self, source: str, key: str) -> bool:
        """Make ``key`` hold what ``source`` holds, atomically, without copying: a hard link
        (straight to ``key`` when it is new, else renamed over it). Safe because nothing here
        writes a file in place (every put renames a new file over its key), so the two keys can
        never diverge by a write. False when ``source`` is gone or the file system has no hard
        links (then ``put``)."""
        path = self._path(key)
        for attempt in (1, 2):
            try:
                os.link(self._path(source), path)  # a new key: one directory entry, no temp name to rename
                return True
            except FileExistsError:
                break
            except FileNotFoundError:
                if attempt == 2 or not os.path.isfile(self._path(source)):
                    return False
                os.makedirs(os.path.dirname(path), exist_ok=True)
            except OSError:
                return False
        tmp = f"{path}{TEMP_MARK}{os.getpid()}.{next(_counter)}"
        try:
            os.link(self._path(source), tmp)
            os.replace(tmp, path)
        except OSError:
            _unlink_quietly(tmp)
            return False
        return True

    def get(self, key: str) -> bytes | None:
        # os.open and os.read, not open(): a fully cached run reads two small files per step,
        # and the buffered file object's set-up (its isatty and seek calls) was about a quarter of each.
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            size = os.fstat(fd).st_size
            chunks = []
            while True:  # to the end, whatever the size said: the file may grow meanwhile
                chunk = os.read(fd, max(size + 1, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                size = max(size - len(chunk), 0)
            return b"".join(chunks)
        except IsADirectoryError:
            return None
        finally:
            os.close(fd)

    def exists(self, key: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(self._path(key)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def size(self, key: str) -> int | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        # Walk only the deepest folder the prefix names, then filter by the full prefix.
        folder = prefix.rpartition("/")[0]
        keys = [k for k in _walk(self.root, folder) if k.startswith(prefix)]
        keys.sort()
        return iter(keys)

    def delete(self, key: str) -> None:
        _unlink_quietly(self._path(key))


def sweep_temp_files(root: str, now: float | None = None) -> int:
    """Remove temp files under ``root`` untouched for ``STALE_AFTER_SECONDS``, at most once per
    ``SWEEP_EVERY_SECONDS`` (a marker file's mtime says when it last ran); return how many."""
    now = time.time() if now is None else now
    marker = os.path.join(root, SWEEP_MARKER)
    try:
        if now - os.stat(marker).st_mtime < SWEEP_EVERY_SECONDS:
            return 0
    except FileNotFoundError:
        if not os.path.isdir(root):  # a new store: nothing to sweep, and its marker says so
            _mark(root, marker, now, new=True)
            return 0
    except OSError:
        return 0
    if not _mark(root, marker, now, new=False):
        return 0  # not writable: the put that follows reports it
    removed = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            if TEMP_MARK not in name or name == SWEEP_MARKER:
                continue
            path = os.path.join(dirpath, name)
            try:
                if now - os.lstat(path).st_mtime > STALE_AFTER_SECONDS:
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass  # gone already, or another sweeper got it
    return removed


def _mark(root: str, marker: str, now: float, *, new: bool) -> bool:
    """Touch the sweep marker, making a new store's folder first (the put that follows needs it),
    so that the next writer of a new store does not walk what this run wrote; False if it cannot."""
    try:
        if new:
            os.makedirs(root, exist_ok=True)
        with open(marker, "wb"):
            pass
        os.utime(marker, (now, now))
    except OSError:
        return False
    return True


def _walk(root: str, folder: str) -> Iterator[str]:
    """Yield every key stored under ``folder`` (a key prefix ending at a segment boundary)."""
    base = os.path.join(root, folder) if folder else root
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        key = f"{folder}/{entry.name}" if folder else entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, key)
        elif TEMP_MARK not in entry.name:
            yield key


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
