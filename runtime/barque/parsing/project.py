"""The set of files being read and name resolution across them.

``Project`` reads each file at most once, on demand, and answers "what does this expression
name?" for a name or ``a.b.c`` chain in a given module: barque's API, a project module, or a
function defined in a project file (following re-exports such as a package ``__init__.py``
doing ``from .sources import raw``). Nothing is ever imported.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Mapping, NamedTuple, Union

from barque.errors import PipelineDefinitionError
from barque.parsing.files import ModuleFinder, ModuleRef
from barque.parsing.source import (
    API_NAMES,
    Api,
    Binding,
    FromModule,
    Local,
    Module,
    SourceModule,
    read_module,
)

# A re-export chain longer than this is taken as a loop (``a`` imports from ``b`` and back).
_MAX_HOPS = 32


class Func(NamedTuple):
    """A function defined at module level in project file ``rel``."""

    rel: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.rel}:{self.name}"


Target = Union[Api, Module, Func]


class Project:
    """Files read so far (root-relative path -> module) and the lookups between them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.finder = ModuleFinder(root)
        self.modules: dict[str, SourceModule] = {}

    def load(self, rel: str) -> SourceModule:
        """Read and parse root-relative file ``rel`` (once)."""
        mod = self.modules.get(rel)
        if mod is None:
            try:
                data = (self.root / rel).read_bytes()
            except OSError as exc:
                raise PipelineDefinitionError(
                    f"cannot read the file: {exc.strerror}", where=rel, hint="Check that the file exists and is readable."
                ) from None
            mod = read_module(rel, data, self.finder)
            self.modules[rel] = mod
        return mod

    def resolve(self, mod: SourceModule, expr: ast.expr, overlay: Mapping[str, Binding] | None = None) -> Target | None:
        """What ``expr`` (a name or an attribute chain) names in ``mod``; ``None`` when it is
        not barque's API, a project module or a project function. ``overlay`` holds bindings
        that shadow the module's (imports inside a function body)."""
        if isinstance(expr, ast.Name):
            binding = overlay.get(expr.id) if overlay else None
            if binding is None:
                binding = mod.bindings.get(expr.id)
            return self._bound(mod, binding, 0)
        if isinstance(expr, ast.Attribute):
            return self.member(self.resolve(mod, expr.value, overlay), expr.attr)
        return None

    def resolve_chain(self, mod: SourceModule, chain: tuple[str, ...], overlay: Mapping[str, Binding] | None) -> Target | None:
        """Like ``resolve`` for a pre-split chain ``("mod", "fn")``."""
        binding = overlay.get(chain[0]) if overlay else None
        target = self._bound(mod, binding if binding is not None else mod.bindings.get(chain[0]), 0)
        for attr in chain[1:]:
            target = self.member(target, attr)
            if target is None:
                return None
        return target

    def member(self, target: Target | None, attr: str, hops: int = 0) -> Target | None:
        """``target.attr``: an API export, a submodule or a name in a project module."""
        if isinstance(target, Api):
            if target.name == "":
                return Api(attr) if attr in API_NAMES else (Api("") if attr == "decorators" else None)
            return None
        if not isinstance(target, Module):
            return None
        return self._from_module(target.ref, attr, hops)

    def function(self, func: Func) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        return self.modules[func.rel].functions.get(func.name) if func.rel in self.modules else None

    def _bound(self, mod: SourceModule, binding: Binding | None, hops: int) -> Target | None:
        if isinstance(binding, Local):
            return Func(mod.rel, binding.name)
        if isinstance(binding, (Api, Module)):
            return binding
        if isinstance(binding, FromModule):
            return self._from_module(binding.ref, binding.name, hops + 1)
        return None

    def _from_module(self, ref: ModuleRef, name: str, hops: int) -> Target | None:
        # As `from pkg import name` does: a name the module binds first, then a submodule.
        if hops > _MAX_HOPS:
            return None
        if ref.file is not None:
            source = self.load(ref.file)
            if name in source.bindings:
                return self._bound(source, source.bindings[name], hops)
        sub = self.finder.submodule(ref, name)
        return Module(sub) if sub is not None else None
