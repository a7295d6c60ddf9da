"""barca's static warnings, read from a node's function body: an input it never uses, and an
environment variable it reads without declaring it in ``env=``.

Warnings only: they never stop a run or change a cache key. As in barca (``barca docs
assets``, "Unused inputs" and "Environment variables"), the unused-input check prefers
silence to a wrong warning:

- an input counts as used when its name appears in the body as code (anything but ``del``),
  or as a whole word in any string of the body that is not a statement of its own (SQL and
  ``df.query`` strings read variables by name);
- nothing is reported for an ``_`` input, an input from a sensor, an input annotated
  ``duckdb.DuckDBPyRelation``, a stub body (docstring, ``pass``, ``...``, ``raise``), a
  function with ``**kwargs``, or a body that names a dynamic access (``locals``, ``eval``,
  ``_getframe``, ...) or calls a query entry point (``sql``, ``execute``, ``query``, ...) with an
  argument that is not a literal.

Environment reads are ``os.environ["NAME"]``, ``os.environ.get("NAME")`` and
``os.getenv("NAME")`` with a literal name, in the function body and in the project functions
and classes it reaches (barca also reads pydantic settings fields; barque does not yet).
"""

from __future__ import annotations

import ast
import re
from typing import Iterable, Mapping

from barque.model import Node, ParseWarning
from barque.parsing.source import FunctionNode, SourceModule

DYNAMIC = frozenset({"locals", "vars", "eval", "exec", "currentframe", "_getframe", "f_locals", "f_back", "getargvalues", "stack"})
QUERY_CALLS = frozenset({"sql", "execute", "executemany", "query", "from_query", "table", "view", "read_sql", "read_sql_query", "SQLContext"})


def node_warnings(
    node: Node, fn: FunctionNode, nodes: Mapping[str, Node], modules: Mapping[str, SourceModule]
) -> list[ParseWarning]:
    """The warnings of one node, unused inputs first; environment reads of the function and
    of the project functions and classes it reaches (``node.helpers``), each name once."""
    facts = _Body(fn)
    out = [
        ParseWarning(node.id, "unused_input", spec.param, unused_message(node.id, spec.param))
        for spec in node.inputs
        if not spec.ordering_only
        and nodes[spec.source].kind != "sensor"
        and dict(node.readers).get(spec.param) != "duckdb"
        and not facts.uses(spec.param)
    ]
    reads = set(facts.env_reads)
    for helper, _ in node.helpers:
        for body in _helper_bodies(helper, modules):
            reads.update(_Body(body).env_reads)
    declared = set(node.env)
    out += [ParseWarning(node.id, "undeclared_env", name, f"{node.id} reads {name} without declaring it in env=")
            for name in sorted(reads) if name not in declared]
    return out


def _helper_bodies(helper: str, modules: Mapping[str, SourceModule]) -> list[FunctionNode]:
    """The functions a helper entry (``file:name``) stands for: the function, or a class's methods."""
    file, _, name = helper.rpartition(":")
    mod = modules.get(file)
    if mod is None:
        return []
    if name in mod.functions:
        return [mod.functions[name]]
    for stmt in mod.tree.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == name:
            return [f for f in stmt.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return []


def unused_message(node: str, param: str) -> str:
    """barca's words for an unused input."""
    return (
        f"{node} never uses its input `{param}`. It is still loaded in full each time the step runs, and it counts "
        f"toward the step's cache key. Use it, remove it from inputs=, or rename the parameter `_{param}` if it is "
        "there for ordering only (a `_` input is not loaded and never flagged)"
    )


def summary_lines(warnings: Iterable[ParseWarning]) -> list[str]:
    """What a command prints on stderr, barca's way: one line per unused input, and one line
    for every undeclared environment read of the steps it plans."""
    items = list(warnings)
    lines = [w.message for w in items if w.kind == "unused_input"]
    env = [w for w in items if w.kind == "undeclared_env"]
    if env:
        steps = len({w.node for w in env})
        names = ", ".join(sorted({w.name for w in env}))
        lines.append(f"{steps} step{'s' if steps != 1 else ''} read{'s' if steps == 1 else ''} environment variables "
                     f"not declared in env=: {names}")
    return lines


class _Body:
    """What one walk of a function body finds: names used, strings, silencing constructs, env reads."""

    def __init__(self, fn: FunctionNode) -> None:
        self.names: set[str] = set()
        self.strings: list[str] = []
        self.env_reads: list[str] = []
        self.silent = fn.args.kwarg is not None or _is_stub(fn.body)
        # One walk, parents before children: a docstring's Expr and a call are seen before
        # the string and the function they hold.
        docstrings: set[int] = set()
        called: set[int] = set()
        queries: list[ast.expr] = []  # query entry points named; silent unless each is called
        todo: list[ast.AST] = list(fn.body)
        while todo:
            sub = todo.pop()
            todo.extend(ast.iter_child_nodes(sub))
            kind = type(sub)
            if kind is ast.Name:
                if type(sub.ctx) is not ast.Del:  # type: ignore[attr-defined]
                    self.names.add(sub.id)  # type: ignore[attr-defined]
                if sub.id in DYNAMIC:  # type: ignore[attr-defined]
                    self.silent = True
                elif sub.id in QUERY_CALLS:  # type: ignore[attr-defined]
                    queries.append(sub)  # type: ignore[arg-type]
            elif kind is ast.Attribute:
                if sub.attr in DYNAMIC:  # type: ignore[attr-defined]
                    self.silent = True
                elif sub.attr in QUERY_CALLS:  # type: ignore[attr-defined]
                    queries.append(sub)  # type: ignore[arg-type]
            elif kind is ast.Constant:
                value = sub.value  # type: ignore[attr-defined]
                if isinstance(value, (str, bytes)) and id(sub) not in docstrings:
                    self.strings.append(value if isinstance(value, str) else value.decode("utf-8", "replace"))
            elif kind is ast.Expr:
                docstrings.add(id(sub.value))  # type: ignore[attr-defined]
            elif kind is ast.Call:
                called.add(id(sub.func))  # type: ignore[attr-defined]
                self._call(sub)  # type: ignore[arg-type]
            elif kind is ast.Subscript and _is_environ(sub.value):  # type: ignore[attr-defined]
                self._env(sub.slice)  # type: ignore[attr-defined]
        self.silent |= any(id(q) not in called for q in queries)  # used as a value: may be called with anything

    def _call(self, call: ast.Call) -> None:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in QUERY_CALLS and any(not isinstance(a, ast.Constant) for a in [*call.args, *(k.value for k in call.keywords)]):
            self.silent = True  # text barque cannot read may name any input
        if call.args and isinstance(func, ast.Attribute) and (
            (func.attr == "get" and _is_environ(func.value)) or (func.attr == "getenv" and _is_name(func.value, "os"))
        ):
            self._env(call.args[0])

    def _env(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value not in self.env_reads:
            self.env_reads.append(node.value)

    def uses(self, param: str) -> bool:
        if self.silent or param in self.names:
            return True
        word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(param)}(?![A-Za-z0-9_])")
        return any(word.search(text) for text in self.strings)


def _is_stub(body: list[ast.stmt]) -> bool:
    """A body of a docstring, ``pass``, ``...`` or ``raise`` only uses nothing by definition."""
    return all(
        isinstance(s, (ast.Pass, ast.Raise)) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in body
    )


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_environ(node: ast.expr) -> bool:
    """``os.environ`` (or ``environ`` imported from os: the name alone)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ" and _is_name(node.value, "os")) or _is_name(node, "environ")
