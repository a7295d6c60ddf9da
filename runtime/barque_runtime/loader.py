"""Import user modules from a code root, the way a pod or a local worker does.

Pipeline files written for barca (``from barca import asset``) run unchanged: when no
``barca`` package is installed, ``barca`` is an alias of ``barque``, whose decorators take
the same arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
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


class ModuleLoader:
    """Loads node functions from modules under ``root``; each module is imported once per process."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        alias_barca()

    def module(self, node: Node) -> ModuleType:
        return importlib.import_module(node.module)

    def function(self, node: Node) -> Callable[..., Any]:
        fn = getattr(self.module(node), node.function, None)
        if not callable(fn):
            raise AttributeError(f"{node.file} has no function {node.function!r}; was the file changed after planning?")
        return fn
