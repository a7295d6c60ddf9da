"""``barque doctor``: check a project, the interpreter and the store without running anything.

Each check is a ``Check`` record: a name, whether it passed, one line of detail (ending in what
to do when it failed) and a little data for tools. Nothing here imports the user's code or
evaluates a partition expression: the sources are parsed as ``barque run`` parses them. The
store check of a local folder writes a probe and removes it at once; a remote store is only
listed, so doctor changes nothing there.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(paths: Sequence[str], store_uri: str | None) -> list[Check]:
    """Every check, in the order a person would fix them: interpreter, project, sources, store."""
    checks = [check_python(), check_cpus()]
    project = check_project(paths)
    checks.append(project)
    if not project.ok:
        return checks
    sources = check_sources(paths)
    checks.append(sources)
    root = Path(project.data["root"])
    checks.append(check_store(store_uri or str(root / ".barque")))
    return checks


def check_python() -> Check:
    import barque

    version = ".".join(map(str, sys.version_info[:3]))
    data = {"executable": sys.executable, "version": version, "barque": barque.__version__}
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check("python", False, f"Python {version} at {sys.executable}; barque needs {need} or newer: install barque with a newer Python", data)
    return Check("python", True, f"Python {version} at {sys.executable}, barque {barque.__version__}", data)


def check_cpus() -> Check:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return Check("workers", True, f"{usable} CPU(s) usable: `barque run` starts up to {usable} workers unless --workers says otherwise", {"cpus": usable})


def check_project(paths: Sequence[str]) -> Check:
    from barque.errors import BarqueError
    from barque.parsing.files import expand_paths, find_root

    try:
        root = find_root(paths or ["."])
        files = expand_paths(paths or ["."])
    except BarqueError as err:
        return Check("project", False, str(err))
    if not files:
        return Check("project", False, f"no pipeline files under {', '.join(paths or ['.'])}: name a .py file that imports barque or barca", {"root": str(root)})
    rel = [os.path.relpath(f, root) for f in files]
    return Check("project", True, f"root {root}, {len(files)} pipeline file(s)", {"root": str(root), "files": rel})


def check_sources(paths: Sequence[str]) -> Check:
    from barque.errors import BarqueError
    from barque.parsing import parse_project

    try:
        graph = parse_project(list(paths or ["."]), use_cache=False)  # a check writes nothing, and parses afresh
    except BarqueError as err:
        return Check("sources", False, str(err))
    kinds: dict[str, int] = {}
    for node in graph.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    summary = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(kinds.items())) or "no nodes"
    return Check("sources", True, f"parsed: {summary}", {"nodes": len(graph.nodes), "kinds": kinds})


def check_store(uri: str) -> Check:
    """A local folder: create it if needed, write, read back and delete a probe. Elsewhere: list."""
    from barque.errors import BarqueError
    from barque.store import open_store

    data = {"uri": uri}
    try:
        store = open_store(uri)
        if "://" in uri and not uri.startswith("file://"):
            next(iter(store.list("cache/")), None)
            return Check("store", True, f"{uri} answers a listing (nothing was written)", data)
        key = f"tmp/doctor-{os.getpid()}"
        store.put(key, b"probe", durable=False)
        read = store.get(key)
        store.delete(key)
        if read != b"probe":
            return Check("store", False, f"{uri} did not return what was written: check the file system", data)
        return Check("store", True, f"{uri} is writable", data)
    except (BarqueError, OSError) as err:
        return Check("store", False, f"{uri}: {err}; check the path and its permissions, or pass --store", data)
