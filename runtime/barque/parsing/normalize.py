"""One syntax tree written out without positions, hashed, and the module-level names it reads.

``digest(node)`` writes a tree as a flat token list (each node's class, then its fields in
order, lists prefixed with their length, so two different trees never give the same list)
and hashes it: positions are not fields, so comments, whitespace and formatting do not
count; a docstring at the top of a function or class body is left out too. The walk keeps
its own stack, so an expression nested 1,000 deep (``1+1+...``, valid Python) does not hit
the interpreter's recursion limit.

While writing, it works out Python's scopes (function, lambda, class body, comprehension)
to tell which names the code reads from its module's global namespace: a parameter, an
assignment target or a loop variable is local, so ``partitions_from(orders)`` passing an
upstream's name as a parameter never counts as reading the upstream's code (that would
defeat early cutoff). It over-approximates where Python's rules are dynamic (a class body
may read a global of the same name as a class attribute), never the other way. Reads come
out as attribute chains (``("util", "RATE")``), so ``util.RATE`` can later be resolved to
one name of module ``util`` rather than to the whole module.

What cannot be read statically is flagged: ``globals()``, ``vars()``, ``locals()``,
``exec``, ``eval``, ``getattr`` with a non-literal name, ``sys.modules``, ``importlib`` and
``__import__`` (``digest.dynamic``); ``importlib.import_module("mod")`` and
``__import__("mod")`` with a literal name record that module instead, and
``getattr(x, "name")`` reads ``x.name``.
"""

from __future__ import annotations

import ast
import hashlib
from typing import Any, Callable, Sequence

# ``ctx`` (load, store, del) follows from where a node sits, so it adds nothing; type comments
# are comments; ``type_params`` is absent before Python 3.12 and empty for almost every def.
_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "type_params"})
# Names whose use reaches the module's namespace in ways no static reading can follow.
DYNAMIC_NAMES = frozenset({"globals", "vars", "locals", "exec", "eval", "__import__", "import_module"})
_IMPORT_CALLS = frozenset({("__import__",), ("import_module",), ("importlib", "import_module")})

Chain = tuple[str, ...]


class Scope:
    """One Python scope: the names it binds and the names and chains it loads."""

    __slots__ = ("parent", "is_class", "names", "chains", "bound", "globals", "imported")

    def __init__(self, parent: Scope | None, is_class: bool = False) -> None:
        self.parent = parent
        self.is_class = is_class
        self.names: set[str] = set()
        self.chains: set[Chain] = set()
        self.bound: set[str] = set()
        self.globals: set[str] = set()
        self.imported: set[str] = set()


class Digest:
    """A tree's hash and what it reads: ``reads`` are chains rooted at a module-level name;
    ``import_reads`` chains rooted at a name an import inside the code binds (``imports``
    holds those statements); ``modules`` are literal names given to ``import_module``."""

    __slots__ = ("hash", "reads", "import_reads", "imports", "dynamic", "modules")

    def __init__(self) -> None:
        self.hash = ""
        self.reads: set[Chain] = set()
        self.import_reads: set[Chain] = set()
        self.imports: list[ast.Import | ast.ImportFrom] = []
        self.dynamic = False
        self.modules: set[str] = set()


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
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Nodes the walk treats itself (scopes, imports, dynamic calls), by the ``_Walk`` method.
_SPECIAL: dict[type, str] = {
    **dict.fromkeys(_FUNCS, "_function"), **dict.fromkeys(_COMPS, "_comprehension"),
    ast.Lambda: "_lambda", ast.ClassDef: "_class", ast.Call: "_call", ast.Global: "_global",
    ast.Nonlocal: "_nonlocal", ast.Import: "_import", ast.ImportFrom: "_import", ast.ExceptHandler: "_handler",
}


def digest(node: ast.AST, keep_decorator: Callable[[ast.expr], bool] | None = None) -> Digest:
    """Hash ``node`` and collect what it reads (see the module docstring).

    ``keep_decorator`` filters the decorators of ``node`` itself when it is a def (barque's
    own are left out: their arguments enter the cache key separately); nested ones all count.
    """
    return _Walk(node, keep_decorator).run()


class _Walk:
    """The state of one ``digest``: an explicit stack of tokens, nodes and scope switches."""

    def __init__(self, root: ast.AST, keep: Callable[[ast.expr], bool] | None) -> None:
        self.root, self.keep = root, keep
        self.module = Scope(None)
        self.scopes = [self.module]
        self.found = Digest()
        self.quiet: set[int] = set()  # ids of names a literal import_module call makes harmless

    def run(self) -> Digest:
        out: list[str] = []
        emit, stack, found, quiet = out.append, [self.root], self.found, self.quiet
        fields_of, AST, Name, Constant, Attribute, Load = _FIELDS, ast.AST, ast.Name, ast.Constant, ast.Attribute, ast.Load
        special, Arguments = _HANDLERS, ast.arguments
        scope = self.module
        while stack:
            item = stack.pop()
            cls = item.__class__
            if cls is str:
                emit(item)  # type: ignore[arg-type]
            elif cls is Scope:
                scope = item  # type: ignore[assignment]
            elif cls is Name:
                ident = item.id  # type: ignore[attr-defined]
                emit("Name")
                emit(ident)
                if item.ctx.__class__ is Load:  # type: ignore[attr-defined]
                    scope.names.add(ident)
                    if ident in DYNAMIC_NAMES and id(item) not in quiet:
                        found.dynamic = True
                else:
                    scope.bound.add(ident)
            elif cls is Constant:
                emit("Constant")
                emit(repr(item.value))  # type: ignore[attr-defined]
                emit(repr(item.kind))  # type: ignore[attr-defined]
            elif cls is Attribute and self._attribute(item, scope, emit):  # type: ignore[arg-type]
                pass
            elif cls in special:
                special[cls](self, item, scope, emit, stack)
            elif cls is Arguments and _plain(item):  # type: ignore[arg-type]
                _plain_arguments(item, emit, stack)  # type: ignore[arg-type]
            else:
                emit(cls.__name__)
                fields = fields_of[cls]
                if fields:  # operators and contexts have none
                    _push_fields(item, fields, stack, AST)
        found.hash = hashlib.sha256("\x00".join(out).encode("utf-8", "surrogatepass")).hexdigest()
        self._resolve()
        return found

    def _attribute(self, node: ast.Attribute, scope: Scope, emit: Callable[[str], None]) -> bool:
        """A plain ``a.b.c`` chain: written as the generic walk would and loaded as one chain."""
        chain = _chain(node)
        if chain is None:
            return False
        for token in _chain_tokens(chain):
            emit(token)
        scope.chains.add(chain)
        if (chain[0] == "importlib" or chain[:2] == ("sys", "modules")) and id(node) not in self.quiet:
            self.found.dynamic = True
        return True

    def _function(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        fn: ast.FunctionDef = node  # type: ignore[assignment]
        emit(node.__class__.__name__)
        emit(fn.name)
        scope.bound.add(fn.name)
        decorators = fn.decorator_list
        if node is self.root and self.keep is not None:
            decorators = [d for d in decorators if self.keep(d)]
        inner = self._scope(scope, fn.args)
        # Decorators, defaults and annotations are evaluated where the def stands; the body inside.
        stack.append(scope)
        _push_list(_body(fn), stack)
        stack.append(inner)
        stack.append(fn.returns if fn.returns is not None else "~")
        stack.append(fn.args)
        _push_list(decorators, stack)

    def _lambda(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        emit("Lambda")
        inner = self._scope(scope, node.args)  # type: ignore[attr-defined]
        stack.extend((scope, node.body, inner, node.args))  # type: ignore[attr-defined]

    def _class(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        cls: ast.ClassDef = node  # type: ignore[assignment]
        emit("ClassDef")
        emit(cls.name)
        scope.bound.add(cls.name)
        inner = Scope(scope, is_class=True)
        self.scopes.append(inner)
        stack.append(scope)
        _push_list(_body(cls), stack)
        stack.append(inner)
        _push_list(cls.keywords, stack)
        _push_list(cls.bases, stack)
        _push_list(cls.decorator_list, stack)

    def _comprehension(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        # The first iterable is evaluated in the enclosing scope, everything else inside.
        emit(node.__class__.__name__)
        gens: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        inner = Scope(scope)
        self.scopes.append(inner)
        stack.append(scope)
        for i in range(len(gens) - 1, -1, -1):
            gen = gens[i]
            stack.append(repr(gen.is_async))
            _push_list(gen.ifs, stack)
            stack.append(gen.iter if i else "<iter>")
            stack.append(gen.target)
        stack.append("[%d" % len(gens))
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
        stack.extend(reversed(parts))
        stack.append(inner)
        stack.append(gens[0].iter)

    def _call(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        call: ast.Call = node  # type: ignore[assignment]
        func, args = call.func, call.args
        target = _chain_of(func)
        if target == ("getattr",) and len(args) >= 2:
            base, name = _chain_of(args[0]), args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                if base is not None:
                    # Reads ``base.name``, not ``base`` as a value: the base is written out
                    # here, without the walk loading it.
                    scope.chains.add(base + (name.value,))
                    emit("Call")
                    stack.extend(reversed(call.keywords))
                    stack.append("[%d" % len(call.keywords))
                    stack.extend(reversed(args[1:]))
                    stack.extend(reversed(_chain_tokens(base)))
                    stack.append("[%d" % len(args))
                    stack.append(func)
                    return
            else:
                self.found.dynamic = True
        elif target in _IMPORT_CALLS and args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
            self.found.modules.add(args[0].value)
            self.quiet.add(id(func))
        emit("Call")
        _push_fields(call, _FIELDS[ast.Call], stack, ast.AST)

    def _global(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        emit("Global")
        scope.globals.update(node.names)  # type: ignore[attr-defined]
        _push_list(node.names, stack)  # type: ignore[attr-defined]

    def _nonlocal(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        emit("Nonlocal")
        scope.bound.update(node.names)  # type: ignore[attr-defined]
        _push_list(node.names, stack)  # type: ignore[attr-defined]

    def _handler(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        if node.name is not None:  # type: ignore[attr-defined]
            scope.bound.add(node.name)  # type: ignore[attr-defined]  # `except E as exc`: exc is local
        emit("ExceptHandler")
        _push_fields(node, _FIELDS[ast.ExceptHandler], stack, ast.AST)

    def _import(self, node: ast.AST, scope: Scope, emit: Callable[[str], None], stack: list[object]) -> None:
        if scope is not self.module:
            self.found.imports.append(node)  # type: ignore[arg-type]
            names = [a.asname or a.name.partition(".")[0] for a in node.names if a.name != "*"]  # type: ignore[attr-defined]
            scope.bound.update(names)
            scope.imported.update(names)
        emit(node.__class__.__name__)
        _push_fields(node, _FIELDS[node.__class__], stack, ast.AST)

    def _scope(self, parent: Scope, args: ast.arguments) -> Scope:
        inner = Scope(parent)
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, (args.vararg, args.kwarg))]
        inner.bound.update(a.arg for a in params)
        self.scopes.append(inner)
        return inner

    def _resolve(self) -> None:
        """Sort each scope's loads into module-level reads and reads of imported names."""
        reads, import_reads = self.found.reads, self.found.import_reads
        for scope in self.scopes:
            for name in scope.names:
                kind = _lookup(name, scope)
                if kind == "global":
                    reads.add((name,))
                elif kind == "import":
                    import_reads.add((name,))
            for chain in scope.chains:
                kind = _lookup(chain[0], scope)
                if kind == "global":
                    reads.add(chain)
                elif kind == "import":
                    import_reads.add(chain)


_HANDLERS: dict[type, Callable[..., None]] = {cls: getattr(_Walk, method) for cls, method in _SPECIAL.items()}


def _plain(args: ast.arguments) -> bool:
    return not (args.posonlyargs or args.kwonlyargs or args.defaults or args.vararg or args.kwarg)


def _plain_arguments(args: ast.arguments, emit: Callable[[str], None], stack: list[object]) -> None:
    """The common shape, plain parameters without defaults, written under its own tag so that
    it never reads like the general form: per parameter its name, then "~" or its annotation."""
    emit("arguments*")
    emit("[%d" % len(args.args))
    for arg in reversed(args.args):
        stack.append(arg.annotation if arg.annotation is not None else "~")
        stack.append(arg.arg)


def _lookup(name: str, scope: Scope) -> str:
    """Where ``name`` loaded in ``scope`` comes from: ``global``, ``import`` (a name an import
    inside the code binds) or ``local``."""
    first = True
    current: Scope | None = scope
    while current is not None and current.parent is not None:
        if name in current.globals:
            return "global"
        if current.is_class:
            # A class body reads its own names, or the module's when not yet bound: count both.
            # Nested functions never see the class body's names.
            if first and name in current.bound:
                return "global"
        elif name in current.bound:
            return "import" if name in current.imported else "local"
        current, first = current.parent, False
    return "global"


def _push_fields(node: ast.AST, fields: tuple[str, ...], stack: list[Any], AST: type) -> None:
    """Queue ``node``'s fields so that they come off the stack in order."""
    for name in reversed(fields):
        value = getattr(node, name, None)
        if value.__class__ is list:
            _push_list(value, stack)  # type: ignore[arg-type]
        elif isinstance(value, AST):
            stack.append(value)
        else:
            stack.append(repr(value))


def _push_list(items: Sequence[object], stack: list[object]) -> None:
    for item in reversed(items):
        stack.append(item if isinstance(item, ast.AST) else repr(item))
    stack.append("[%d" % len(items))


def _body(node: ast.FunctionDef | ast.ClassDef) -> list[ast.stmt]:
    """The body without its docstring (docstrings do not count, like comments)."""
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return node.body[1:]
    return node.body


def _chain_tokens(chain: Chain) -> list[str]:
    """The tokens the generic walk writes for the chain's ``Attribute``/``Name`` nodes."""
    return ["Attribute"] * (len(chain) - 1) + ["Name", chain[0]] + [repr(attr) for attr in chain[1:]]


def _chain(node: ast.Attribute) -> Chain | None:
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if isinstance(value, ast.Name):
        parts.append(value.id)
        return tuple(reversed(parts))
    return None


def _chain_of(node: ast.expr) -> Chain | None:
    if isinstance(node, ast.Name):
        return (node.id,)
    return _chain(node) if isinstance(node, ast.Attribute) else None
