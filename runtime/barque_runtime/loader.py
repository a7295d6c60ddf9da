"""Import user modules from a code root, the way a pod or a local worker does.

Pipeline files written for barca (``from barca import asset``) run unchanged: when no
``barca`` package is installed, ``barca`` is an alias of ``barque``, whose decorators take
the same arguments.

Modules under the root are compiled from their source at every import, never loaded from a
``__pycache__`` file: Python trusts a ``.pyc`` whose recorded mtime (to the second) and size
match the source, so an edit within the same second that keeps the size would run the old code
under the new code's cache key. The cost is one compile per module per worker.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from barque.model import Node


def alias_barca() -> None:
    """Make ``import barca`` resolve to barque when barca itself is not installed."""
    if "barca" in sys.modules or importlib.util.find_spec("barca") is not None:
        return
    import barque

    sys.modules["barca"] = barque


class SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module from the bytes on disk now; no bytecode cache is read or written."""

    def get_code(self, fullname: str) -> Any:
        return compile(self.get_data(self.path), self.path, "exec", dont_inherit=True)


_HOOKED: set[str] = set()


def compile_from_source_under(root: Path) -> None:
    """Make imports from ``root`` and the folders below it use ``SourceOnlyLoader`` (once per root)."""
    top = str(root)
    if top in _HOOKED:
        return
    _HOOKED.add(top)

    def hook(path: str) -> importlib.machinery.FileFinder:
        if path == top or path.startswith(top + os.sep):
            return importlib.machinery.FileFinder(path, (SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES))
        raise ImportError(path)  # not ours: the next hook takes it

    sys.path_hooks.insert(0, hook)
    for cached in [p for p in sys.path_importer_cache if p == top or p.startswith(top + os.sep)]:
        del sys.path_importer_cache[cached]


class ModuleLoader:
    """Loads node functions from modules under ``root``; each module is imported once per process."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        compile_from_source_under(self.root)
        alias_barca()

    def module(self, node: Node) -> ModuleType:
        return importlib.import_module(node.module)

    def function(self, node: Node) -> Callable[..., Any]:
        fn = getattr(self.module(node), node.function, None)
        if not callable(fn):
            raise AttributeError(f"{node.file} has no function {node.function!r}; was the file changed after planning?")
        return fn
