"""Which files make up a project, where its root is, and which file a module name means.

Pure path logic over the file system: nothing here reads Python source beyond a quick look
for a barque or barca import, and nothing is imported. Paths inside the project are handled
as POSIX strings relative to the root (``""`` is the root itself), so node ids do not depend
on how a file was named on the command line.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import stat
import sys
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

from barque.errors import PipelineDefinitionError

# What a walk never reads, as barca's walk ("What a walk finds"): these directories, besides
# every directory whose name starts with ".", and test and packaging files. A file named on
# the command line is read whatever its name.
SKIP_DIRS = frozenset({"__pycache__", "venv", "node_modules", "site-packages", "build", "dist", "tests", "test"})
SKIP_FILES = frozenset({"conftest.py", "setup.py"})
_IMPORTS_API = re.compile(rb"^[ \t]*(?:from|import)[ \t]+(?:barque|barca)\b", re.MULTILINE)
# Top-level module names a project file may not take: a worker has already imported (or will
# import) the standard library's and barque's own modules under these names.
_TAKEN = frozenset(sys.stdlib_module_names) | {"__main__", "barque", "barque_runtime", "barque_cli", "barque_operator", "barca"}


def find_root(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """The project root for ``paths``: the deepest directory holding the root of each path.

    A path's own root is the parent of the top package above it: walk up from the file's
    directory (or the directory) while it holds an ``__init__.py``; without a package, that
    directory itself. With one path, or paths inside the first one's root, that is the first
    one's root; two sibling directories (``barque run jobs/ reports/``) share their parent.
    """
    if not paths:
        raise PipelineDefinitionError("no pipeline files given", hint="Name a pipeline file or a directory.")
    roots = [_own_root(resolve(p)) for p in paths]
    return Path(os.path.commonpath(roots)) if len(set(roots)) > 1 else roots[0]


def _own_root(first: Path) -> Path:
    start = first if first.is_dir() else first.parent
    top: Path | None = None
    current = start
    while (current / "__init__.py").is_file() and current.parent != current:
        top = current
        current = current.parent
    return top.parent if top is not None else start


def resolve(raw: str | os.PathLike[str]) -> Path:
    """``Path(raw).resolve()``, with a symbolic-link loop as a definition error."""
    try:
        return Path(raw).resolve()
    except (RuntimeError, OSError) as exc:  # 3.11 raises RuntimeError on a loop, 3.13 OSError
        raise PipelineDefinitionError(
            f"cannot follow the path: {exc}",
            where=str(raw),
            hint="A symbolic link there points (through others) back to itself: fix or remove the link.",
        ) from None


def expand_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Resolve ``paths`` to pipeline files, in the order given, without duplicates.

    A file is taken as named, whatever it imports. A directory contributes every regular
    ``.py`` file below it that imports barque or barca, in sorted order; anything else there
    (a named pipe, a device, a broken or looping link) is skipped without being opened.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = resolve(raw)
        if path.is_dir():
            found.update(dict.fromkeys(_walk(path)))
        elif path.is_file():
            found[path] = None
        elif path.exists():
            raise PipelineDefinitionError(
                "not a regular file (a named pipe, a device or a socket), so barque does not read it",
                where=str(raw),
                hint="Name the pipeline's .py file or its directory.",
            )
        else:
            raise PipelineDefinitionError(
                "no such file or directory", where=str(raw), hint="Check the path; name a .py file or a directory."
            )
    return list(found)


def walks_into(name: str) -> bool:
    """Whether a directory walk descends into a subdirectory of this name."""
    return not name.startswith(".") and name not in SKIP_DIRS


def _walk(directory: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if walks_into(d))
        for name in sorted(filenames):
            if name.endswith(".py") and not _is_test_file(name):
                path = Path(dirpath) / name
                if _imports_api(path):
                    yield path


def _is_test_file(name: str) -> bool:
    """``test_*.py``, ``*_test.py``, ``conftest.py``, ``setup.py``: a walk leaves them out, as barca's does."""
    return name in SKIP_FILES or name.startswith("test_") or name.endswith("_test.py")


def _imports_api(path: Path) -> bool:
    """Whether ``path``, a regular file, imports barque or barca. Opened without blocking and
    checked again once open: a named pipe called ``x.py`` would otherwise hang the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return _IMPORTS_API.search(handle.read()) is not None
    except OSError:
        return False
    finally:
        os.close(fd)


def relative_to_root(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form; an error when it lies outside."""
    try:
        return resolve(path).relative_to(root).as_posix()
    except ValueError:
        raise PipelineDefinitionError(
            f"the file is outside the project root {root}",
            where=str(path),
            hint="Pass root= (or run from) a directory that contains every pipeline file.",
        ) from None


def module_name(rel: str) -> str:
    """The dotted module name of a root-relative file: ``pkg/sub/mod.py`` -> ``pkg.sub.mod``."""
    parts = rel[: -len(".py")].split("/") if rel.endswith(".py") else rel.split("/")
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_problem(rel: str) -> tuple[str, str] | None:
    """Why root-relative file ``rel`` cannot be imported under its module name (a message
    and a hint), or ``None`` when it can."""
    if not rel.endswith(".py"):
        return ("a pipeline file must be a .py file: a worker imports it as a module",
                f"Rename it to {rel.rsplit('/', 1)[-1].split('.')[0] or 'pipeline'}.py.")
    parts = rel[: -len(".py")].split("/")
    dotted = [p for p in parts if "." in p]
    if dotted:
        return (f"cannot be imported: the module name {module_name(rel)!r} has a dot inside {dotted[0]!r}, "
                "which Python reads as a package separator",
                "Rename the file (or directory) without dots inside its name, e.g. with _ instead of .")
    top = parts[0]
    if top in _TAKEN:
        what = "barque's own" if top.startswith("barque") or top == "barca" else "the standard library's"
        return (f"the module name {top!r} is taken by {what} module {top}, which a worker imports instead of "
                "this file (or this file would replace it for everything that imports it)",
                f"Rename {top if len(parts) > 1 else top + '.py'} to something else, e.g. {top}_pipeline.")
    return None


def package_depth(rel: str) -> int:
    """How many packages deep the module of root-relative file ``rel`` is (0 for a top-level
    module): how many dots a relative import in it may use."""
    return len(module_name(rel).split(".")) - (0 if rel.endswith("__init__.py") else 1)


def parent_dir(rel: str) -> str:
    """The root-relative directory of a root-relative path (``""`` for the root)."""
    head, _, _ = rel.rpartition("/")
    return head


def join(base: str, *parts: str) -> str:
    return "/".join(p for p in (base, *parts) if p)


class ModuleRef(NamedTuple):
    """A project module: ``file`` is its source (``None`` for a namespace package) and
    ``pkgdir`` the directory holding its submodules (``None`` for a plain module)."""

    file: str | None
    pkgdir: str | None


def probes_hold(root: Path, probes: Iterable[Sequence[object]]) -> bool:
    """Whether every recorded probe of ``ModuleFinder.probes`` still gets the same answer."""
    for kind, rel, answer in probes:
        path = root / str(rel)
        if (path.is_file() if kind == "f" else path.is_dir()) is not answer:
            return False
    return True


class ModuleFinder:
    """Looks module names up the way a worker's import does, inside the project root only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._isfile: dict[str, bool] = {}
        self._isdir: dict[str, bool] = {}
        self._in_package: dict[str, bool] = {}

    def probes(self) -> list[tuple[str, str, bool]]:
        """Every question asked of the file system so far and its answer (``f``: is a regular
        file, ``d``: is a directory): with the files' bytes, all a parse depended on."""
        return [("f", rel, ok) for rel, ok in self._isfile.items()] + [("d", rel, ok) for rel, ok in self._isdir.items()]

    def is_file(self, rel: str) -> bool:
        if rel not in self._isfile:
            self._isfile[rel] = (self.root / rel).is_file()
        return self._isfile[rel]

    def is_dir(self, rel: str) -> bool:
        if rel not in self._isdir:
            self._isdir[rel] = (self.root / rel).is_dir()
        return self._isdir[rel]

    def absolute(self, dotted: str, importer: str) -> ModuleRef | None:
        """``import dotted`` from file ``importer``: a file inside a package looks in the root
        only; any other file looks beside itself first, then in the root."""
        here = parent_dir(importer)
        bases = [""] if self._inside_package(here) else list(dict.fromkeys([here, ""]))
        namespace: ModuleRef | None = None
        for base in bases:
            ref = self._at(join(base, *dotted.split(".")))
            if ref is not None and ref.file is not None:
                return ref
            namespace = namespace or ref
        return namespace

    def relative(self, level: int, dotted: str | None, importer: str) -> ModuleRef | None:
        """``from .dotted import ...`` (``level`` dots) from file ``importer``."""
        base = parent_dir(importer)
        for _ in range(level - 1):
            if not base:
                return None  # above the project root: not a project module
            base = parent_dir(base)
        if dotted is None:
            return self._at(base) if base else None
        return self._at(join(base, *dotted.split(".")))

    def compiled(self, level: int, dotted: str, importer: str) -> bool:
        """Whether ``from .dotted import ...`` names a module without source in the project
        (an extension module or a bytecode file), which Python can import but barque does
        not read."""
        base = parent_dir(importer)
        for _ in range(level - 1):
            base = parent_dir(base)
        stem = join(base, *dotted.split("."))
        suffixes = importlib.machinery.EXTENSION_SUFFIXES + importlib.machinery.BYTECODE_SUFFIXES
        return any(self.is_file(stem + suffix) for suffix in suffixes)

    def submodule(self, ref: ModuleRef, name: str) -> ModuleRef | None:
        if ref.pkgdir is None:
            return None
        return self._at(join(ref.pkgdir, name))

    def _at(self, rel: str) -> ModuleRef | None:
        if self.is_dir(rel):
            init = join(rel, "__init__.py")
            if self.is_file(init):
                return ModuleRef(init, rel)
        if self.is_file(rel + ".py"):
            return ModuleRef(rel + ".py", None)
        if self.is_dir(rel):
            return ModuleRef(None, rel)
        return None

    def _inside_package(self, directory: str) -> bool:
        """Every directory from the root down to ``directory`` holds an ``__init__.py``."""
        if directory not in self._in_package:
            ok = not directory or (
                self.is_file(join(directory, "__init__.py")) and self._inside_package(parent_dir(directory))
            )
            self._in_package[directory] = ok
        return self._in_package[directory]
