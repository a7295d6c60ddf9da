"""Run certificates: "this exact request gives this exact outcome as long as these checks hold".

After a local run in which every step was served from cache, the full path
(``barque_runtime.certify``), which knows every rule, writes down what that outcome depended
on as plain checks, and the outcome itself. The next identical request is answered by
``serve`` from the certificate alone, before argparse and before barque's heavy modules are
imported (``barque_cli.fastrun``). The checks are generic, so no rule of the planner or the
cache is written here a second time:

- the request: the argv as typed, the working directory, the interpreter, the CPU count, whether
  stdout/stderr are terminals, and where this module lives (another barque installation is
  another request);
- ``env``: the digest of every variable named, including its absence, and of every variable
  whose name starts with one of the ``prefixes`` (a new ``BARQUE_*`` variable voids it);
- ``until``: a moment past which the certificate is void (empty: the outcome does not depend on
  the clock);
- ``arg``: what each argv element is on disk (``file``, ``dir``, ``other``, ``absent``) and its
  real path;
- ``dir``: a directory's entry names (a file appearing where a walk would find it);
- ``probe``: the module finder's questions ("is this a file?", "a directory?") and answers;
- ``file``: a file's status (size, modification and change times in nanoseconds, inode, device)
  and the sha256 of its bytes; ``size``: a file's size alone; ``absent``: no file there.

A ``file`` check is git's index check. A write or a replacement changes a file's change time,
which no one can set back, so an unchanged status means unchanged bytes, and the file is not
read. Except a "racily clean" one: a file whose change time is not older than the moment the
certificate began (``written``, stamped by the same file system clock) may have been written
again within the same clock tick, after it was recorded, with the same size: its status
cannot vouch for it, so it is hashed, as is a file whose status changed (its bytes may be the
same: a ``touch``). An empty digest means status only (barque's own installed sources). The
status rests on the file system's ordered writes, as the store's commits do: on ext4 (ordered
data, the default), xfs and btrfs a file's new size and times reach the disk only with or
after its bytes, so a power cut cannot leave recorded metadata over lost data.

Anything in doubt (no certificate, a torn or foreign one, a failed check, another format)
means ``None``: the caller runs the normal path, which writes the certificate again. A
certificate is a line format of its own (tab-separated fields, ``\\``, tab, newline and
carriage return escaped), strictly read: an unknown line, a missing field, a number that does
not parse or a missing ``end`` make it absent. It is sealed as the parse cache's entries are
(``barque.seal``) and lives in ``<root>/.barque/certs/``, one per (working directory, argv),
and only where ``.barque/`` is already there. Reading it needs neither ``json`` nor ``re``, and
a check needs ``hashlib`` only to hash a file or a variable (bench/FINDINGS.md: those imports
were half of a fully cached run). This module imports nothing of barque's but ``barque.seal``.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import zlib

TYPE_CHECKING = False  # typing's own constant, without importing typing (the slim entry, barque_cli.fastrun, loads this)
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping, Sequence

from barque import seal

FORMAT = "barque-certificate 2"
FOLDER = os.path.join(".barque", "certs")
# The import path as the process started (the slim entry imports this module first): what a
# run loads its modules from, whatever the run adds to it later.
_START_PATH = list(sys.path)
STARTED_NS = time.time_ns()  # about when the process started, for what the writer records after the run
RUN_ID_SLOT = "run_id"  # the output's slots (``Answer.output``): the run id as is,
ELAPSED_SLOT = "elapsed:"  # and the elapsed seconds formatted with the spec that follows
_SPECIAL = ("\\", "\t", "\n", "\r")


class Answer:
    """What a certificate answers: the printed text as pieces and slots (odd positions:
    ``RUN_ID_SLOT`` or ``ELAPSED_SLOT`` + a format spec), where the history is and the rest of
    its row (``barque_runtime.history.append_run``), and the number of steps."""

    __slots__ = ("output", "history_folder", "history_rest", "steps")

    def __init__(self, output: list[str], history_folder: str, history_rest: str, steps: int) -> None:
        self.output = output
        self.history_folder = history_folder
        self.history_rest = history_rest
        self.steps = steps

    def text(self, run_id: str, elapsed: float) -> str:
        """The text to print for this run (without a final newline)."""
        parts = self.output[:]
        for i in range(1, len(parts), 2):
            slot = parts[i]
            parts[i] = run_id if slot == RUN_ID_SLOT else format(elapsed, slot[len(ELAPSED_SLOT):])
        return "".join(parts)


# --- the line format ------------------------------------------------------------------------

def field(value: str) -> str:
    """One field of a line, escaped."""
    if any(c in value for c in _SPECIAL):
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def unfield(raw: str) -> str:
    """The value of an escaped field; ``ValueError`` when it is not one ``field`` writes."""
    if "\\" not in raw:
        return raw
    parts = raw.split("\\\\")  # an escaped backslash first: the other escapes never hold two
    for i, part in enumerate(parts):
        part = part.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")
        if "\\" in part:
            raise ValueError("a stray backslash")
        parts[i] = part
    return "\\".join(parts)


def line(kind: str, *fields: str) -> str:
    """One line of a certificate (with its newline)."""
    return "\t".join([kind, *(field(f) for f in fields)]) + "\n"


# --- what the writer records and the reader compares ---------------------------------------

def request_lines(argv: Sequence[str], cwd: str) -> str:
    """What this process was asked, as the lines a certificate for it starts with."""
    return "".join((
        line("argv", *argv), line("cwd", cwd), line("python", sys.version), line("executable", sys.executable),
        line("path", *_START_PATH), line("cpus", str(os.cpu_count())),
        line("tty", _flag(sys.stdout), _flag(sys.stderr)), line("module", os.path.abspath(__file__)),
    ))


def name(argv: Sequence[str], cwd: str) -> str:
    """The file name of the certificate for ``argv`` run in ``cwd``: a checksum of the request,
    no digest (two requests sharing a name only replace each other's certificate; the request
    inside decides)."""
    raw = line("name", FORMAT, cwd, *argv).encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}.cert"


def path_in(root: str, argv: Sequence[str], cwd: str) -> str:
    """Where the certificate for ``argv`` run in ``cwd`` lives in project ``root``."""
    return os.path.join(root, FOLDER, name(argv, cwd))


def _sha256(data: bytes) -> str:
    """The sha256 of ``data`` in hex. CPython's own implementation where there is one (3.11's
    ``_sha256``): ``hashlib`` first loads OpenSSL, ~3-4 ms of a slim run's ~17 ms of CPU, and a
    run digests its ``BARQUE_*``/``BARCA_*`` variables every time (bench/FINDINGS.md lists this
    trick; ``from hashlib import sha256`` alone undoes it)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        from hashlib import sha256
    return sha256(data).hexdigest()


def env_digest(value: str | None) -> str:
    """How a certificate records a variable's value (never in clear); empty when unset."""
    return "" if value is None else _sha256(b"barque-cert-env\0" + value.encode("utf-8", "surrogateescape"))


def listing(directory: str) -> list[str] | None:
    """A directory's sorted entry names; ``None`` when it cannot be listed."""
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return None


def path_kind(arg: str) -> tuple[str, str]:
    """``(kind, real path)`` of a path as typed (``absent`` and an empty path when nothing is there)."""
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return "absent", ""
    kind = "file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "other"
    return kind, os.path.realpath(arg)


def status_of(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What a ``file`` check compares of a status: size, modification and change times (ns), inode, device."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def file_status(path: str) -> tuple[int, int, int, int, int] | None:
    """``status_of`` a path; ``None`` when there is nothing to stat."""
    try:
        return status_of(os.stat(path))
    except OSError:
        return None


def fingerprint(path: str) -> tuple[tuple[int, int, int, int, int], str] | None:
    """A regular file's status and the sha256 of its bytes, the status taken before the read on
    the same descriptor (a write after it changes the status); ``None`` when it cannot be read."""
    found = read_regular(path)
    return None if found is None else (status_of(found[0]), _sha256(found[1]))


def file_digest(path: str) -> str | None:
    """The sha256 of a regular file's bytes; ``None`` when it cannot be read."""
    found = fingerprint(path)
    return None if found is None else found[1]


def read_regular(path: str) -> tuple[os.stat_result, bytes] | None:
    """A regular file's status (taken before the read) and bytes, else ``None``; opened without blocking, so a named
    pipe put where a file was cannot hang the check."""
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
        return st, data
    except OSError:
        return None
    finally:
        os.close(fd)


# --- writing ----------------------------------------------------------------------------------

class Draft:
    """A certificate being written: its temp file is made first, so that its change time is the
    file system clock's ``written`` stamp, taken before anything is recorded (what a racily
    clean file is judged against). ``commit`` seals the lines and puts it in place; ``abandon``
    drops it. Best effort: a folder that cannot be written means no certificate."""

    def __init__(self, path: str, temp_mark: str) -> None:
        self.path = path
        self.tmp = f"{path}{temp_mark}{os.getpid()}"
        self.written_ns: int | None = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                self.written_ns = os.fstat(fd).st_ctime_ns
            finally:
                os.close(fd)
        except OSError:
            self.abandon()

    def commit(self, lines: Iterable[str]) -> None:
        """Seal ``lines`` (after the format line, before ``end``) and put the certificate in place."""
        if self.written_ns is None:
            return
        body = "".join([FORMAT + "\n", *lines, "end\n"]).encode("utf-8", "surrogateescape")
        try:
            with open(self.tmp, "wb") as f:
                f.write(seal.sealed(body, seal.configured_key()))
            os.replace(self.tmp, self.path)
        except OSError:
            self.abandon()

    def abandon(self) -> None:
        """Remove the temp file; no certificate."""
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


# --- reading ----------------------------------------------------------------------------------

def serve(argv: Sequence[str], cwd: str, environ: Mapping[str, str]) -> Answer | None:
    """The answer a certificate holds for this request when one is found and all its checks
    hold, else ``None``."""
    key = seal.configured_key(environ)
    wanted = name(argv, cwd)
    for folder in _candidates(argv, cwd):
        found = read_regular(os.path.join(folder, FOLDER, wanted))
        if found is not None:
            return _served(found[1], key, argv, cwd, environ)
    return None


def _served(data: bytes, key: bytes | None, argv: Sequence[str], cwd: str, environ: Mapping[str, str]) -> Answer | None:
    body = seal.unseal(data, key)
    if body is None:
        return None
    head = FORMAT + "\n" + request_lines(argv, cwd)
    text = body.decode("utf-8", "surrogateescape")
    if not text.startswith(head) or not text.endswith("\nend\n"):
        return None
    try:
        return _checked(text[len(head):-len("end\n")].split("\n")[:-1], environ)
    except (ValueError, IndexError):
        return None  # not what barque_runtime.certify writes: no certificate


def _checked(lines: list[str], environ: Mapping[str, str]) -> Answer | None:
    """The answer of a certificate's lines when every check among them holds; ``None`` at the
    first that fails; ``ValueError`` (or ``IndexError``) for a line it does not write."""
    written = 0
    values: dict[str, str] = {}
    prefixes: tuple[str, ...] | None = None
    outcome: dict[str, list[str]] = {}
    for raw in lines:
        kind, *fields = raw.split("\t")
        if "\\" in raw:  # most lines hold no escape: unescaping every field was most of reading 2,000 of them
            fields = [unfield(f) for f in fields]
        if kind == "file":
            path, size, mtime, ctime, ino, dev, digest = fields
            if not _file_holds(path, "\t".join((size, mtime, ctime, ino, dev)), int(ctime), digest, written):
                return None
        elif kind == "size":
            path, size = fields
            try:
                if os.stat(path).st_size != int(size):
                    return None
            except OSError:
                return None
        elif kind == "absent":
            (path,) = fields
            if os.path.lexists(path):
                return None
        elif kind == "probe":
            path, how, answer = fields
            if how not in ("f", "d") or answer not in ("0", "1"):
                raise ValueError(raw)
            if (os.path.isfile(path) if how == "f" else os.path.isdir(path)) is not (answer == "1"):
                return None
        elif kind == "dir":
            if listing(fields[0]) != fields[1:]:
                return None
        elif kind == "arg":
            arg, what, real = fields
            if path_kind(arg) != (what, real):
                return None
        elif kind == "env":
            variable, digest = fields
            values[variable] = digest
            if env_digest(environ.get(variable)) != digest:
                return None
        elif kind == "prefixes":
            prefixes = tuple(fields)
        elif kind == "written":
            (stamp,) = fields
            written = int(stamp)
        elif kind == "until":
            (until,) = fields
            if until and time.time() >= float(until):
                return None
        elif kind in ("output", "history", "steps") and kind not in outcome:
            outcome[kind] = fields
        else:
            raise ValueError(raw)
    if prefixes is None or not written or len(outcome) != 3:
        raise ValueError("an incomplete certificate")
    if any(n.startswith(prefixes) and n not in values for n in environ):
        return None  # a variable barque reads appeared
    output, (folder, rest), (steps,) = outcome["output"], outcome["history"], outcome["steps"]
    if len(output) % 2 != 1 or any(s != RUN_ID_SLOT and not s.startswith(ELAPSED_SLOT) for s in output[1::2]):
        raise ValueError("an output it does not write")
    return Answer(output, folder, rest, int(steps))


def _file_holds(path: str, recorded: str, ctime: int, digest: str, written: int) -> bool:
    """git's index check: the status as recorded (``status_of``'s fields as a line holds them)
    and not racily clean, else the bytes' sha256."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if ctime < written and recorded == f"{st.st_size}\t{st.st_mtime_ns}\t{st.st_ctime_ns}\t{st.st_ino}\t{st.st_dev}":
        return True
    return bool(digest) and file_digest(path) == digest


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


def _flag(stream: Any) -> str:
    try:
        return "1" if stream.isatty() else "0"
    except (AttributeError, ValueError):
        return "0"
