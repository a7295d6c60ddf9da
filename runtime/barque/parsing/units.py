"""Which module-level statements make the value of each module-level name of a project file.

A name's value at run time is the work of every top-level statement that binds it (a def,
a class, ``RATE = 2``, ``RATE: int = 2``, ``RATE += 1``, ``del RATE``, an import, a loop or
``with`` target, anything inside a module-level ``if``/``try``/``with``/``for`` block: the
whole block counts), of every function that declares it ``global`` (a write from inside a
function; then every top-level statement that calls something counts too), and of every top-level statement that may change it in place: one that calls
something or assigns to an attribute or item (``REGISTRY.append(f)``, ``util.RATE = 3``,
``TABLE["k"] = 1``) counts for every name it mentions. Those statements are the name's
*units*; hashing them all is what makes an edit of any of them change the cache key.

Import statements also say where a name leads (``meanings``: a project module, or a name in
one), so that ``util.RATE`` can be followed into ``util``; a name bound only by imports of
project modules or barque's API is *pure*: its value is fully described by where it leads.
A project star import is kept apart (``stars``): any name may come from it.
"""

from __future__ import annotations

import ast

from barque.parsing.files import ModuleFinder
from barque.parsing.source import Api, Binding, FromModule, Module, SourceModule, import_bindings

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


class ModuleIndex:
    """The units of each module-level name of one file, and where imported names lead."""

    def __init__(self) -> None:
        self.units: dict[str, list[ast.stmt]] = {}
        self.meanings: dict[str, list[Binding]] = {}
        self.pure: frozenset[str] = frozenset()
        self.stars: list[str] = []


def index_module(mod: SourceModule, finder: ModuleFinder) -> ModuleIndex:
    """Index ``mod``'s top-level statements (see the module docstring). One pass over the
    module's top level; only non-definition statements (usually small) are walked inside."""
    idx = ModuleIndex()
    impure: set[str] = set()
    changers: list[ast.stmt] = []
    bound_here: set[str] = set()
    for stmt in mod.tree.body:
        bound, mentioned, changes, imports = _scan(stmt)
        bound_here |= bound
        for imp in imports:
            _add_import(idx, impure, imp, mod.rel, finder)
        names = bound | mentioned if changes else bound
        for name in names:
            _attach(idx, name, stmt)
        if changes:
            changers.append(stmt)
        if not isinstance(stmt, _IMPORTS):
            impure.update(names)
    if b"global" in mod.data:
        for stmt in mod.tree.body:
            globals_written = _global_writes(stmt)
            bound_here |= globals_written
            for name in globals_written:
                # The writer counts, and so does every module-level statement that may call
                # it (which one does is not worked out): dropping a `setup()` call changes it.
                for unit in [stmt, *changers]:
                    _attach(idx, name, unit)
                impure.add(name)
    if not idx.stars:
        # A name only mentioned (a builtin such as `range` or `print`) is no module-level name.
        for name in set(idx.units) - bound_here:
            del idx.units[name]
    idx.pure = frozenset(set(idx.units) - impure)
    return idx


def _attach(idx: ModuleIndex, name: str, stmt: ast.stmt) -> None:
    units = idx.units.setdefault(name, [])
    if stmt not in units:
        units.append(stmt)


def _add_import(idx: ModuleIndex, impure: set[str], stmt: ast.Import | ast.ImportFrom, rel: str, finder: ModuleFinder) -> None:
    for name, binding in import_bindings(stmt, rel, finder, []):
        if isinstance(binding, (Module, FromModule)):
            idx.meanings.setdefault(name, []).append(binding)
        elif not isinstance(binding, Api):
            impure.add(name)  # an outside module: only the statement itself says what it is
    if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
        ref = finder.relative(stmt.level, stmt.module, rel) if stmt.level else finder.absolute(stmt.module or "", rel)
        if ref is not None and ref.file is not None:
            idx.stars.append(ref.file)


def _scan(stmt: ast.stmt) -> tuple[set[str], set[str], bool, list[ast.Import | ast.ImportFrom]]:
    """What a top-level statement binds at module level, the names it mentions, whether it
    may change something in place (a call, an attribute or item store) and its imports."""
    if isinstance(stmt, _DEFS):
        return {stmt.name}, set(), False, []
    if isinstance(stmt, _IMPORTS):
        return _import_names(stmt), set(), False, [stmt]
    bound: set[str] = set()
    mentioned: set[str] = set()
    imports: list[ast.Import | ast.ImportFrom] = []
    changes = False
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name):
            (mentioned if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            continue
        if isinstance(node, _DEFS):
            bound.add(node.name)  # a def inside a module-level block: its body is its own unit
            continue
        if isinstance(node, _IMPORTS):
            bound |= _import_names(node)
            imports.append(node)
            continue
        if isinstance(node, ast.Call) or (
            isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load)
        ):
            changes = True
        todo.extend(ast.iter_child_nodes(node))
    return bound, mentioned, changes, imports


def _import_names(stmt: ast.Import | ast.ImportFrom) -> set[str]:
    return {a.asname or a.name.partition(".")[0] for a in stmt.names if a.name != "*"}


def _global_writes(stmt: ast.stmt) -> set[str]:
    """Names a ``global`` statement anywhere inside ``stmt`` declares (a function writing them)."""
    return {name for node in ast.walk(stmt) if isinstance(node, ast.Global) for name in node.names}
