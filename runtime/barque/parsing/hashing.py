"""Code hashes for the cache: a node's normalized function and the project helpers it uses.

A function is hashed from its syntax tree without positions, so comments, whitespace and
formatting do not count. Its own docstring and barque's decorators are left out (barque's
decorator arguments enter the cache key separately); any other decorator is kept, since it
wraps the function and can change what it returns. Any change to the signature or body
changes the hash.

Helpers: every module-level function of a project file that the body names (called or
passed as a value) through a name defined in the same file, a name imported from a project
module (module level or inside the function), or ``mod.fn`` / ``pkg.mod.fn`` through a
project module; followed transitively through the helpers' own bodies, and hashed the same
way. Not followed: methods and classes, module-level constants, ``getattr`` and
``importlib`` (anything dynamic), star imports, and anything outside the project root.
A name the function binds itself (a parameter, an assignment or loop target) is local and
never a helper: ``partitions_from(orders)`` passes ``orders`` as a parameter, and counting
it as the upstream's code would defeat early cutoff. Nested scopes are not worked out.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Callable

from barque.parsing.project import Func, Project
from barque.parsing.source import Binding, FunctionNode, SourceModule, import_bindings

# ``ctx`` (load, store, del) follows from where a node sits, so it adds nothing; type comments
# are comments; ``type_params`` is absent before Python 3.12 and empty for almost every def.
_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "type_params"})


class _Digest:
    __slots__ = ("hash", "names", "stored", "chains", "imports")

    def __init__(self) -> None:
        self.hash = ""
        self.names: set[str] = set()
        self.stored: set[str] = set()
        self.chains: set[tuple[str, ...]] = set()
        self.imports: list[ast.Import | ast.ImportFrom] = []


def _field_table() -> dict[type, tuple[str, ...]]:
    """The fields that count, for every node class of this Python's ``ast``."""
    table: dict[type, tuple[str, ...]] = {}
    todo = [ast.AST]
    while todo:
        cls = todo.pop()
        table[cls] = tuple(f for f in getattr(cls, "_fields", ()) if f not in _SKIPPED_FIELDS)
        todo.extend(cls.__subclasses__())
    return table


_FIELDS = _field_table()


def _digest(fn: FunctionNode, keep_decorator: Callable[[ast.expr], bool]) -> _Digest:
    """Hash ``fn`` (see ``_writer``) and collect the names, attribute chains and imports
    its code uses."""
    out: list[str] = []
    found = _Digest()
    walk = _writer(out, found)
    out.append("async def" if isinstance(fn, ast.AsyncFunctionDef) else "def")
    out.append(fn.name)
    for dec in fn.decorator_list:
        if keep_decorator(dec):
            out.append("@")
            walk(dec)
    walk(fn.args)
    out.append("->")
    if fn.returns is not None:
        walk(fn.returns)
    body = fn.body[1:] if _has_docstring(fn) else fn.body
    out.append("[%d" % len(body))
    for stmt in body:
        walk(stmt)
    found.hash = hashlib.sha256("\x00".join(out).encode("utf-8", "surrogatepass")).hexdigest()
    return found


def _writer(out: list[str], found: _Digest) -> Callable[[ast.AST], None]:
    """A function writing a tree out as a flat token list: each node's class, then its
    fields in order, lists prefixed with their length, so two different trees never give
    the same list. Positions are not fields, so they do not count. ``Name`` and
    ``Constant``, most of any tree, take a short path."""
    emit, names, stored, chains, imports = out.append, found.names, found.stored, found.chains, found.imports
    fields_of, AST, Name, Constant, Attribute, Load = _FIELDS, ast.AST, ast.Name, ast.Constant, ast.Attribute, ast.Load
    imports_types, Arguments = (ast.Import, ast.ImportFrom), ast.arguments

    def walk(node: ast.AST) -> None:
        cls = node.__class__
        if cls is Name:
            names.add(node.id)  # type: ignore[attr-defined]
            if node.ctx.__class__ is not Load:  # type: ignore[attr-defined]
                stored.add(node.id)  # type: ignore[attr-defined]
            emit("Name")
            emit(node.id)  # type: ignore[attr-defined]
            return
        if cls is Constant:
            emit("Constant")
            emit(repr(node.value))  # type: ignore[attr-defined]
            emit(repr(node.kind))  # type: ignore[attr-defined]
            return
        if cls is Arguments and _plain(node):  # type: ignore[arg-type]
            _plain_arguments(node, emit, walk)  # type: ignore[arg-type]
            return
        if cls is Attribute:
            chain = _chain(node)  # type: ignore[arg-type]
            if chain is not None:
                chains.add(chain)
        elif cls in imports_types:
            imports.append(node)  # type: ignore[arg-type]
        emit(cls.__name__)
        for name in fields_of[cls]:
            value = getattr(node, name, None)
            if value.__class__ is list:
                emit("[%d" % len(value))
                for item in value:
                    if isinstance(item, AST):
                        walk(item)
                    else:
                        emit(repr(item))
            elif isinstance(value, AST):
                walk(value)
            else:
                emit(repr(value))

    return walk


def _plain(args: ast.arguments) -> bool:
    return not (args.posonlyargs or args.kwonlyargs or args.defaults or args.vararg or args.kwarg)


def _plain_arguments(args: ast.arguments, emit: Callable[[str], None], walk: Callable[[ast.AST], None]) -> None:
    """The common shape, plain parameters without defaults, written under its own tag so
    that it never reads like the general form: per parameter its name, then "~" or its
    annotation."""
    emit("arguments*")
    emit("[%d" % len(args.args))
    for arg in args.args:
        emit(arg.arg)
        if arg.annotation is not None:
            walk(arg.annotation)
        else:
            emit("~")


def _local_names(fn: FunctionNode, stored: set[str]) -> set[str]:
    """Names ``fn`` binds itself: its parameters and the targets it assigns (``stored``,
    collected by the hashing walk)."""
    args = fn.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, (args.vararg, args.kwarg))]
    return {a.arg for a in params} | stored


def _has_docstring(fn: FunctionNode) -> bool:
    first = fn.body[0] if fn.body else None
    return (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    )


def _chain(node: ast.Attribute) -> tuple[str, ...] | None:
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if isinstance(value, ast.Name):
        parts.append(value.id)
        return tuple(reversed(parts))
    return None


class Hasher:
    """Hashes functions once each and follows their project-local helpers."""

    def __init__(self, project: Project, is_barque_decorator: Callable[[SourceModule, ast.expr], bool]) -> None:
        self.project = project
        self._is_barque = is_barque_decorator
        self._digests: dict[int, _Digest] = {}
        self._uses: dict[int, tuple[Func, ...]] = {}

    def code_hash(self, mod: SourceModule, fn: FunctionNode) -> str:
        return self._digest(mod, fn).hash

    def helpers(self, mod: SourceModule, fn: FunctionNode) -> tuple[tuple[str, str], ...]:
        """``(file:function, hash)`` of every helper ``fn`` reaches, sorted."""
        todo = list(self._direct(mod, fn))
        if not todo:
            return ()
        me = Func(mod.rel, fn.name)
        seen: dict[Func, str] = {}
        while todo:
            func = todo.pop()
            if func in seen or func == me:
                continue
            helper_mod = self.project.modules[func.rel]
            helper_fn = helper_mod.functions[func.name]
            seen[func] = self._digest(helper_mod, helper_fn).hash
            todo.extend(self._direct(helper_mod, helper_fn))
        return tuple(sorted((f.ref, h) for f, h in seen.items()))

    def _digest(self, mod: SourceModule, fn: FunctionNode) -> _Digest:
        found = self._digests.get(id(fn))  # the trees stay alive, so ids are stable
        if found is None:
            found = _digest(fn, lambda dec: not self._is_barque(mod, dec))
            self._digests[id(fn)] = found
        return found

    def _direct(self, mod: SourceModule, fn: FunctionNode) -> tuple[Func, ...]:
        """The project functions ``fn`` names directly."""
        uses = self._uses.get(id(fn))
        if uses is not None:
            return uses
        found = self._digest(mod, fn)
        overlay: dict[str, Binding] = {}
        for stmt in found.imports:  # imports inside the function shadow the module's names
            overlay.update(import_bindings(stmt, mod.rel, self.project.finder, []))
        out: dict[Func, None] = {}
        local = _local_names(fn, found.stored)
        for name in found.names - local:
            if name in overlay or name in mod.bindings:
                self._keep(self.project.resolve_chain(mod, (name,), overlay), out)
        for chain in found.chains:
            if chain[0] not in local and (chain[0] in overlay or chain[0] in mod.bindings):
                self._keep(self.project.resolve_chain(mod, chain, overlay), out)
        uses = tuple(out)
        self._uses[id(fn)] = uses
        return uses

    def _keep(self, target: object, out: dict[Func, None]) -> None:
        if isinstance(target, Func) and self.project.function(target) is not None:
            out[target] = None
