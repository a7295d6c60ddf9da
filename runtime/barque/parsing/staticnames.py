"""The one rule by which the parser takes a module-level name to hold the value it was assigned.

The parser reads a name's value from the source (partition keys, batch groups: through
``barque.parsing.foldkeys``) only when Python, running the module, cannot give the name any
other value by the time a decorator or a run-time step reads it. Otherwise the parse and a run
would disagree (a plan or a cached partition set that differs from a fresh run's). A name
qualifies when:

- one top-level statement binds it, and nothing else in the file does (a binding inside an
  ``if``, ``try`` or loop may not happen at import; a second binding, ``del``, ``+=``, a loop
  target, a parameter or an import of that name may change it);
- the module has no way to reach its globals without naming them: no star import, no
  ``global``/``nonlocal`` of the name, no attribute of that name (``sys.modules[__name__].KEYS``)
  and none of the reflective identifiers below;
- every use only reads it: a comparison, an f-string value, an operand, the iterable of a loop
  or a comprehension, ``partitions(NAME)``, or ``batches(NAME)`` as a ``batch=`` argument of a
  decorator. Anything else (an attribute, a subscript, an argument, an assignment, a list
  element, a return) may mutate it or keep an alias that is mutated later.

An operand, an iterable and ``partitions(NAME)`` hand on the value's items, so a name used that
way must hold no inner list (``for row in ROWS: row.append(...)``): ``shares_items`` says so.
Another file of the project changing the name (``import pipe; pipe.KEYS.append(...)``) is not
seen here.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import NamedTuple

from barque.parsing.source import Api, SourceModule

# Identifiers, as names or attributes, through which code can reach a module's globals without
# naming them: globals()["KEYS"], vars(m), getattr(m, "KEYS"), m.__dict__, f.__globals__, ...
_REFLECTIVE = frozenset({
    "globals", "vars", "locals", "exec", "eval", "setattr", "getattr", "delattr", "builtins", "__builtins__",
    "__import__", "__dict__", "__globals__", "f_globals", "attrgetter", "getmembers",
})
# The decorators that return their function unchanged and keep none of their arguments.
_INERT_DECORATORS = ("asset", "task", "sensor")


class StaticName(NamedTuple):
    """A name the rule accepts: ``value`` is the expression its one assignment gives."""

    value: ast.expr
    shares_items: bool  # some use hands on the value's items, so it must hold no inner list


def static_name(mod: SourceModule, name: str) -> StaticName | None:
    """What module-level ``name`` surely holds whenever the module reads it, or ``None`` when
    the rule (see the module docstring) does not accept it."""
    facts = _facts_of(mod)
    if name not in facts.verdicts:
        facts.verdicts[name] = _verdict(mod, facts, name)
    return facts.verdicts[name]


class _Facts:
    """What one walk over a module's tree finds, shared by every name asked about."""

    def __init__(self) -> None:
        self.open = False  # a star import or a reflective identifier: any name may be rebound
        self.parents: dict[int, ast.AST] = {}
        self.bound: Counter[str] = Counter()  # binding sites per name, anywhere in the file
        self.declared: set[str] = set()  # global/nonlocal
        self.attributes: set[str] = set()
        self.loads: dict[str, list[ast.Name]] = {}
        self.verdicts: dict[str, StaticName | None] = {}


def _facts_of(mod: SourceModule) -> _Facts:
    if not isinstance(mod.static_names, _Facts):
        mod.static_names = _walk(mod.tree)
    return mod.static_names


def _walk(tree: ast.Module) -> _Facts:
    facts = _Facts()
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            facts.parents[id(child)] = node
        for name in _bound_names(node):
            facts.bound[name] += 1
        if isinstance(node, ast.Name):
            facts.open |= node.id in _REFLECTIVE
            if isinstance(node.ctx, ast.Load):
                facts.loads.setdefault(node.id, []).append(node)
        elif isinstance(node, ast.Attribute):
            facts.open |= node.attr in _REFLECTIVE
            facts.attributes.add(node.attr)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            facts.declared.update(node.names)
        elif isinstance(node, ast.ImportFrom):
            facts.open |= any(a.name == "*" for a in node.names)
    return facts


def _bound_names(node: ast.AST) -> list[str]:
    """The names ``node`` binds (or unbinds), in whatever scope."""
    if isinstance(node, ast.Name):
        return [] if isinstance(node.ctx, ast.Load) else [node.id]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.alias):
        return [node.asname or node.name.partition(".")[0]]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    return []


def _verdict(mod: SourceModule, facts: _Facts, name: str) -> StaticName | None:
    if facts.open or name in facts.declared or name in facts.attributes or facts.bound[name] != 1:
        return None
    if name not in mod.constants or not any(_binds(stmt, name) for stmt in mod.tree.body):
        return None
    shares = False
    for use in facts.loads.get(name, ()):
        kind = _use(mod, facts, use)
        if kind is None:
            return None
        shares |= kind == "shares"
    return StaticName(mod.constants[name], shares)


def _use(mod: SourceModule, facts: _Facts, node: ast.Name) -> str | None:
    """``"reads"`` when this use keeps nothing of the value, ``"shares"`` when it hands on the
    value's items, ``None`` when it may change the value or keep it."""
    up = facts.parents.get(id(node))
    if isinstance(up, (ast.Compare, ast.FormattedValue)):
        return "reads"
    if isinstance(up, ast.BinOp) or (isinstance(up, (ast.comprehension, ast.For)) and up.iter is node):
        return "shares"
    if not isinstance(up, ast.Call) or not up.args or up.args[0] is not node:
        return None
    if len(up.args) == 1 and not up.keywords and _is_api(mod, facts, up.func, "partitions"):
        return "shares"  # partitions() returns a new list of the same items
    if _is_api(mod, facts, up.func, "batches") and _decorator_argument(mod, facts, up):
        return "reads"  # batches() returns its argument, and the inert decorator drops it
    return None


def _is_api(mod: SourceModule, facts: _Facts, func: ast.expr, name: str) -> bool:
    """Whether ``func`` is barque's or barca's ``name`` wherever it is called: ``name`` (or an
    alias of it) or ``barque.name``."""
    if isinstance(func, ast.Attribute):
        return func.attr == name and _bound_once_to(mod, facts, func.value, "")
    return _bound_once_to(mod, facts, func, name)


def _bound_once_to(mod: SourceModule, facts: _Facts, node: ast.expr, api: str) -> bool:
    """Whether ``node`` is a name bound to the API export ``api`` (``""``: the module itself) that
    nothing else in the file binds (a parameter or a local of that name would shadow it)."""
    if not isinstance(node, ast.Name) or facts.bound[node.id] != 1:
        return False
    binding = mod.bindings.get(node.id)
    return isinstance(binding, Api) and binding.name == api


def _decorator_argument(mod: SourceModule, facts: _Facts, call: ast.Call) -> bool:
    """Whether ``call`` is a keyword argument of an inert barque decorator on a top-level function."""
    keyword = facts.parents.get(id(call))
    decorator = facts.parents.get(id(keyword))
    fn = facts.parents.get(id(decorator))
    return (
        isinstance(keyword, ast.keyword)
        and isinstance(decorator, ast.Call)
        and isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        and decorator in fn.decorator_list
        and facts.parents.get(id(fn)) is mod.tree
        and any(_is_api(mod, facts, decorator.func, kind) for kind in _INERT_DECORATORS)
    )


def _binds(stmt: ast.stmt, name: str) -> bool:
    """Whether top-level ``stmt`` assigns ``name``: a binding inside an ``if``, ``try`` or loop may
    not happen when the module is imported, and then the run-time evaluation would not find it."""
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
    return isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(stmt.target, ast.Name) and stmt.target.id == name
