"""Run certificates: "this exact request gives this exact outcome as long as these checks hold".

After a local run in which every step was served from cache, the full path
(``barque_runtime.certify``), which knows every rule, writes down what that outcome depended
on as plain checks, and the outcome itself. The next identical request is answered by
``serve`` from the certificate alone, before argparse and before barque's heavy modules are
imported (``barque_cli.fastrun``). The checks are generic, so no rule of the planner or the
cache is written here a second time:

- ``request``: the argv as typed, the working directory, the interpreter, the CPU count, whether
  stdout/stderr are terminals, and where this module lives (another barque installation is
  another request);
- ``env``: the digest of every variable named, including its absence, and of every variable
  whose name starts with one of ``prefixes`` (a new ``BARQUE_*`` variable voids it);
- ``valid_until``: a moment past which the certificate is void (``None``: the outcome does not
  depend on the clock);
- ``paths``: what each argv element is on disk (``file``, ``dir``, ``other``, ``absent``) and its
  real path;
- ``dirs``: the digest of a directory's listing (a file appearing where a walk would find it);
- ``probes``: the module finder's questions ("is this a file?", "a directory?") and answers;
- ``files``: a file's sha256, or its size alone, or its absence, or (barque's own installed
  sources only) its status: size, modification and change times in nanoseconds and inode, any
  write or replacement of which the kernel records (the change time cannot be set back).

Anything in doubt (no certificate, a torn or foreign one, a failed check, another format)
means ``None``: the caller runs the normal path, which writes the certificate again. A
certificate is JSON sealed as the parse cache's entries are (``barque.seal``: the sha256 of
its body, or an HMAC under ``BARQUE_STORE_KEY``) and read without pickle. It lives in
``<root>/.barque/certs/``, one per (working directory, argv), and only where ``.barque/`` is
already there. This module imports nothing of barque's but ``barque.seal``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
TYPE_CHECKING = False  # typing's own constant, without importing typing (the slim entry, barque_cli.fastrun, loads this)
if TYPE_CHECKING:
    from typing import Any, Mapping, Sequence

from barque import seal

FORMAT = 1
FOLDER = os.path.join(".barque", "certs")
# The import path as the process started (the slim entry imports this module first): what a
# run loads its modules from, whatever the run adds to it later.
_START_PATH = list(sys.path)
STARTED_NS = time.time_ns()  # about when the process started, for what the writer records after the run
_TTY = ("stdout_tty", "stderr_tty")


def request(argv: Sequence[str], cwd: str) -> dict[str, Any]:
    """What this process was asked, as a certificate records it."""
    return {
        "argv": list(argv),
        "cwd": cwd,
        "python": sys.version,
        "executable": sys.executable,
        "path": _START_PATH,
        "cpus": os.cpu_count(),
        "stdout_tty": _isatty(sys.stdout),
        "stderr_tty": _isatty(sys.stderr),
        "module": os.path.abspath(__file__),
    }


def name(argv: Sequence[str], cwd: str) -> str:
    """The file name of the certificate for ``argv`` run in ``cwd``."""
    raw = json.dumps([FORMAT, cwd, list(argv)]).encode("utf-8", "surrogateescape")
    return hashlib.sha256(raw).hexdigest()[:32] + ".json"


def path_in(root: str, argv: Sequence[str], cwd: str) -> str:
    """Where the certificate for ``argv`` run in ``cwd`` lives in project ``root``."""
    return os.path.join(root, FOLDER, name(argv, cwd))


def env_digest(value: str | None) -> str | None:
    """How a certificate records a variable's value (never in clear); ``None`` when unset."""
    return None if value is None else hashlib.sha256(b"barque-cert-env\0" + value.encode("utf-8", "surrogateescape")).hexdigest()


def listing_digest(directory: str) -> str | None:
    """The digest of a directory's sorted entry names; ``None`` when it cannot be listed."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def path_kind(arg: str) -> list[Any]:
    """``[kind, real path]`` of a path as typed (``absent`` and ``None`` when nothing is there)."""
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return ["absent", None]
    kind = "file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "other"
    return [kind, os.path.realpath(arg)]


def file_status(path: str) -> list[int] | None:
    """What a ``stat`` check compares: size, modification and change times (ns), inode."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def file_digest(path: str) -> str | None:
    """The sha256 of a regular file's bytes; ``None`` when it cannot be read."""
    data = _read_regular(path)
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read_regular(path: str) -> bytes | None:
    """A regular file's bytes, else ``None``; opened without blocking, so a named pipe put
    where a file was cannot hang the check."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        # One read for a file that does not grow meanwhile (a regular file reads short only at its end).
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:
            chunks = [data]
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def serve(argv: Sequence[str], cwd: str, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The outcome a certificate holds for this request when one is found and all its checks
    hold, else ``None``."""
    key = seal.configured_key(environ)
    wanted = name(argv, cwd)
    for folder in _candidates(argv, cwd):
        data = _read_regular(os.path.join(folder, FOLDER, wanted))
        if data is not None:
            return _served(data, key, argv, cwd, environ)
    return None


def write(path: str, body: Mapping[str, Any], temp_mark: str) -> None:
    """Write a certificate atomically (best effort: a folder that cannot be written, or a body
    that is not plain JSON, means none)."""
    try:
        encoded = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8", "surrogateescape")
    except (TypeError, ValueError):
        return
    data = seal.sealed(encoded, seal.configured_key())
    tmp = f"{path}{temp_mark}{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _served(data: bytes, key: bytes | None, argv: Sequence[str], cwd: str, environ: Mapping[str, str]) -> dict[str, Any] | None:
    body = seal.unseal(data, key)
    if body is None:
        return None
    try:
        doc = json.loads(body)
        if doc["format"] != FORMAT or doc["request"] != request(argv, cwd):
            return None
        if not (_env_holds(doc["env"], environ) and _clock_holds(doc["valid_until"]) and _paths_hold(doc["paths"])
                and _dirs_hold(doc["dirs"]) and _probes_hold(doc["probes"]) and _files_hold(doc["files"])):
            return None
        outcome = doc["outcome"]
        return outcome if isinstance(outcome, dict) else None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # not what barque_runtime.certify writes: no certificate


def _candidates(argv: Sequence[str], cwd: str) -> list[str]:
    """The folders a certificate for this request may sit in, nearest first: the working
    directory and the folders of the paths in ``argv``, each with its parents. Where one is
    found does not decide whether it is served; its checks do."""
    starts = [cwd] + [os.path.join(cwd, a) for a in argv if a and not a.startswith("-") and os.path.exists(a)]
    seen: dict[str, None] = {}
    for start in starts:
        folder = os.path.abspath(start)
        if not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        while folder not in seen:
            seen[folder] = None
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return list(seen)


def _env_holds(env: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    values = env["values"]
    prefixes = tuple(env["prefixes"])
    if any(n.startswith(prefixes) and n not in values for n in environ):
        return False
    return all(env_digest(environ.get(n)) == digest for n, digest in values.items())


def _clock_holds(valid_until: float | None) -> bool:
    return valid_until is None or time.time() < float(valid_until)


def _paths_hold(paths: Sequence[Sequence[Any]]) -> bool:
    return all(path_kind(arg) == [kind, real] for arg, kind, real in paths)


def _dirs_hold(dirs: Sequence[Sequence[Any]]) -> bool:
    return all(listing_digest(directory) == digest for directory, digest in dirs)


def _probes_hold(probes: Sequence[Sequence[Any]]) -> bool:
    return all((os.path.isfile(p) if kind == "f" else os.path.isdir(p)) is answer for p, kind, answer in probes)


def _files_hold(files: Sequence[Sequence[Any]]) -> bool:
    for path, how, expected in files:
        if how == "sha256":
            if file_digest(path) != expected:
                return False
        elif how == "size":
            try:
                if os.stat(path).st_size != expected:
                    return False
            except OSError:
                return False
        elif how == "stat":
            if file_status(path) != expected:
                return False
        elif how == "absent":
            if os.path.lexists(path):
                return False
        else:
            return False
    return True


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

