"""Code hashes for the cache: a node's normalized function and everything in the project it reaches.

A function is hashed from its syntax tree without positions (``normalize``), so comments,
whitespace, formatting and docstrings do not count. barque's decorators are left out of a
node's own hash (their arguments enter the cache key separately); any other decorator is
kept, since it wraps the function and can change what it returns.

Helpers are everything in the project a node can reach, followed transitively and across
files, each keyed ``file:name`` with its own hash: functions, whole classes (every method
and the class body), module-level assignments and the imports a body reads (a name's
hash covers all the module-level statements that make its value, see ``units``),
whether named directly, through ``from util import RATE``, ``import util; util.RATE``,
``pkg.mod.fn``, a package re-export, an import inside the function, or
``getattr(mod, "literal")``. A name imported from a project module is followed to where it
leads rather than listed itself; an import of an outside module is listed (``p.py:np``),
since changing it changes what the code calls.

Where static reading cannot tell what is reached, the whole module is hashed instead and
listed as ``file:*``, never nothing: ``getattr`` with a non-literal name, ``globals()``,
``vars()``, ``exec``/``eval``, ``sys.modules``, ``importlib``/``__import__`` with a
non-literal name (a literal one hashes the module it names), an attribute of a project
module that the module does not bind, a project module passed around as a value, and any
name of a module that star-imports a project module (the star's source is hashed whole).
Not seen: a module-level statement of a file the node never reaches that mutates another
module (``util.RATE = 3`` in an unrelated file), and methods of objects that arrive as
inputs (their class is not named in the body).

A name the function binds itself (a parameter, an assignment or loop target) is local and
never a helper: ``partitions_from(orders)`` passes ``orders`` as a parameter, and counting
it as the upstream's code would defeat early cutoff.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Callable

from barque.parsing.files import ModuleRef
from barque.parsing.normalize import Chain, Digest, digest
from barque.parsing.project import Project
from barque.parsing.source import Binding, FromModule, FunctionNode, Module, SourceModule, import_bindings
from barque.parsing.units import ModuleIndex, index_module

Ref = tuple[str, str]  # (file, module-level name), or (file, "*") for the whole module
WHOLE = "*"


class Hasher:
    """Hashes each statement once and follows what nodes reach, memoized across nodes."""

    def __init__(self, project: Project, is_barque_decorator: Callable[[SourceModule, ast.expr], bool]) -> None:
        self.project = project
        self._is_barque = is_barque_decorator
        self._digests: dict[int, Digest] = {}  # by id of the statement: the trees stay alive
        self._indexes: dict[str, ModuleIndex] = {}
        self._refs: dict[Ref, tuple[str, tuple[Ref, ...]]] = {}

    def code_hash(self, mod: SourceModule, fn: FunctionNode) -> str:
        return self._digest(mod, fn).hash

    def helpers(self, mod: SourceModule, fn: FunctionNode) -> tuple[tuple[str, str], ...]:
        """``(file:name, hash)`` of everything ``fn`` reaches, sorted; ``file:*`` is a whole module."""
        # The node's own name is its code hash, unless something else binds or changes that
        # name too (a later def, `raw = wrap(raw)`): then those statements count as well.
        me: Ref = (mod.rel, fn.name)
        alone = self._index(mod.rel).units.get(fn.name) == [fn]
        todo = list(self._deps(mod.rel, self._digest(mod, fn)))
        seen: dict[Ref, str] = {}
        if not alone:
            todo.append(me)
        while todo:
            ref = todo.pop()
            if ref in seen or (ref == me and alone):
                continue
            seen[ref], deps = self._ref(ref)
            todo.extend(deps)
        return tuple(sorted((f"{rel}:{name}", h) for (rel, name), h in seen.items()))

    def _digest(self, mod: SourceModule, stmt: ast.AST) -> Digest:
        found = self._digests.get(id(stmt))
        if found is None:
            keep = (lambda dec: not self._is_barque(mod, dec)) if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            found = digest(stmt, keep)
            self._digests[id(stmt)] = found
        return found

    def _index(self, rel: str) -> ModuleIndex:
        idx = self._indexes.get(rel)
        if idx is None:
            idx = index_module(self.project.load(rel), self.project.finder)
            self._indexes[rel] = idx
        return idx

    def _ref(self, ref: Ref) -> tuple[str, tuple[Ref, ...]]:
        """A name's hash (all its units) and the refs its units reach."""
        found = self._refs.get(ref)
        if found is None:
            rel, name = ref
            mod = self.project.load(rel)
            digests = [self._digest(mod, mod.tree)] if name == WHOLE else [self._digest(mod, u) for u in self._index(rel).units[name]]
            joined = digests[0].hash if len(digests) == 1 else hashlib.sha256(" ".join(d.hash for d in digests).encode()).hexdigest()
            deps: dict[Ref, None] = {}
            for d in digests:
                deps.update(dict.fromkeys(self._deps(rel, d)))
            if name == WHOLE:
                # The module's own names are in its hash already; listing each of them for
                # every node that reaches it would make a big dynamic module quadratic.
                deps = {dep: None for dep in deps if dep[0] != rel}
            found = (joined, tuple(deps))
            self._refs[ref] = found
        return found

    def _deps(self, rel: str, found: Digest) -> list[Ref]:
        """The refs a digest of code in file ``rel`` reaches directly."""
        out: list[Ref] = []
        for chain in found.reads:
            self._resolve(rel, chain, out, set())
        if found.import_reads:
            overlay: dict[str, list[Binding]] = {}
            for stmt in found.imports:
                for name, binding in import_bindings(stmt, rel, self.project.finder, []):
                    overlay.setdefault(name, []).append(binding)
            for chain in found.import_reads:
                for binding in overlay.get(chain[0], ()):
                    self._follow(binding, chain[1:], out, set())
        if found.dynamic:
            out.append((rel, WHOLE))
        for dotted in found.modules:
            ref = self.project.finder.absolute(dotted, rel)
            if ref is not None and ref.file is not None:
                out.append((ref.file, WHOLE))
        return out

    def _resolve(self, rel: str, chain: Chain, out: list[Ref], guard: set[Ref]) -> None:
        """``chain`` read at module level of ``rel``: its first name's units, then, where the
        name is an import of a project module or one of its names, on into that module."""
        idx = self._index(rel)
        name = chain[0]
        if name in idx.units:
            if name not in idx.pure:
                out.append((rel, name))
            for binding in idx.meanings.get(name, ()):
                self._follow(binding, chain[1:], out, guard)
        out.extend((star, WHOLE) for star in idx.stars)

    def _follow(self, binding: Binding, rest: Chain, out: list[Ref], guard: set[Ref]) -> None:
        if isinstance(binding, Module):
            self._member(binding.ref, rest, out, guard)
        elif isinstance(binding, FromModule):
            self._member(binding.ref, (binding.name, *rest), out, guard)

    def _member(self, ref: ModuleRef, rest: Chain, out: list[Ref], guard: set[Ref]) -> None:
        """``module.rest...``: a name the module binds, else a submodule (as ``from pkg
        import name`` looks them up), else the whole module."""
        if not rest:
            if ref.file is not None:
                out.append((ref.file, WHOLE))  # the module itself as a value: anything in it
            return
        attr = rest[0]
        if ref.file is not None:
            key = (ref.file, attr)
            idx = self._index(ref.file)
            if key not in guard and (attr in idx.units or idx.stars):
                guard.add(key)  # a package importing its own submodule, or an import loop
                self._resolve(ref.file, rest, out, guard)
                return
        sub = self.project.finder.submodule(ref, attr)
        if sub is not None:
            self._member(sub, rest[1:], out, guard)
        elif ref.file is not None and (ref.file, attr) not in guard:
            out.append((ref.file, WHOLE))  # not bound statically: set from elsewhere, or dynamically
