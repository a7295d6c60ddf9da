"""Where a node may be declared, checked from the syntax tree before anything runs.

A worker imports the module and calls what the node's name is bound to once the import has
finished, so a node is a ``def`` at the top level of its module whose name nothing binds
again: not a later ``def`` of the same name, an assignment, a ``del``, an import, an
``except ... as`` or a ``global`` statement in a function. A ``def`` inside an ``if``,
``try``, loop or ``with`` block may not run at all, or run twice, so a node is not allowed
there either. Following Python's binding rules in those cases would mean guessing which
branch runs; the parser refuses instead, naming both places.

barque's decorators anywhere else (on a method, a nested function or a class) would be
ignored by the parser and by every run, so they are refused too; so are relative imports
inside functions that could not work (the module-level ones are checked as they are read).
"""

from __future__ import annotations

import ast
from typing import Callable, Collection

from barque.errors import PipelineDefinitionError
from barque.parsing.files import ModuleFinder
from barque.parsing.source import FunctionNode, SourceModule, check_relative_import

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
_BLOCK_WORDS = {
    "If": "if", "For": "for", "AsyncFor": "async for", "While": "while", "With": "with",
    "AsyncWith": "async with", "Try": "try", "TryStar": "try", "Match": "match",
}


def check_node_binding(mod: SourceModule, fn: FunctionNode, kind: str) -> None:
    """Refuse a node whose function is defined inside a block or bound again later."""
    block = mod.enclosing.get(id(fn))
    if block is not None:
        word = _BLOCK_WORDS.get(type(block).__name__, type(block).__name__.lower())
        raise PipelineDefinitionError(
            f"@{kind} {fn.name}() is defined inside the `{word}` block at {mod.where(block)}; "
            "a node's function must be defined at the top level of its module",
            where=mod.where(fn),
            hint=f"Move {fn.name}() out of the `{word}` block: barque cannot tell whether, or how often, it runs.",
        )
    last = mod.last_bound.get(fn.name)
    if last is not None and last is not fn:
        raise PipelineDefinitionError(
            f"`{fn.name}` is {_rebinding(last)} at {mod.where(last)}; "
            "a node's function must be bound once at module level",
            where=mod.where(fn),
            hint=f"Rename one of them, or remove the later binding: a run calls whatever `{fn.name}` "
            "is bound to once the module is imported, which would not be this function.",
        )


def _rebinding(site: ast.AST) -> str:
    """How ``site`` binds the name again, for the message."""
    if isinstance(site, (*_DEFS, ast.ClassDef)):
        return "defined again"
    if isinstance(site, (ast.Import, ast.ImportFrom)):
        return "imported again"
    if isinstance(site, ast.Delete):
        return "deleted"
    if isinstance(site, ast.ExceptHandler):
        return "bound again (and then unbound) by `except ... as`"
    if isinstance(site, ast.pattern):
        return "bound again by a `case` pattern"
    return "assigned again"


def check_inner(
    mod: SourceModule,
    node_functions: Collection[str],
    decorator_kind: Callable[[ast.expr], str | None],
    finder: ModuleFinder,
) -> None:
    """Refuse barque decorators that no run would see, ``global`` statements that rebind a
    node's name, and relative imports inside functions that cannot work.

    ``decorator_kind(expr)`` names the barque decorator an expression uses (``"asset"``),
    or ``None``. Every statement is visited once, without a generator: this runs over
    every function body of a 10,000-node file.
    """
    stack: list[tuple[list[ast.stmt], ast.stmt | None]] = [(mod.tree.body, None)]
    while stack:
        body, owner = stack.pop()
        for stmt in body:
            if isinstance(stmt, _SCOPES):
                if owner is not None or isinstance(stmt, ast.ClassDef):
                    _refuse_unseen_decorators(mod, stmt, owner, decorator_kind)
                stack.append((stmt.body, stmt))
            elif isinstance(stmt, _COMPOUND):
                stack.extend((block, owner) for block in _blocks(stmt))
            elif owner is None:
                continue
            elif isinstance(stmt, ast.Global):
                _refuse_global(mod, stmt, owner, node_functions)
            elif isinstance(stmt, ast.ImportFrom) and stmt.level:
                check_relative_import(stmt, mod.rel, finder)


_SCOPES = (*_DEFS, ast.ClassDef)
_COMPOUND = tuple(
    getattr(ast, name) for name in ("If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar", "Match")
    if hasattr(ast, name)
)


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists inside a compound statement."""
    blocks = [getattr(stmt, name, []) for name in ("body", "orelse", "finalbody")]
    blocks += [h.body for h in getattr(stmt, "handlers", ())] + [c.body for c in getattr(stmt, "cases", ())]
    return blocks


def _refuse_unseen_decorators(
    mod: SourceModule, stmt: ast.stmt, owner: ast.stmt | None, decorator_kind: Callable[[ast.expr], str | None]
) -> None:
    for dec in getattr(stmt, "decorator_list", ()):
        kind = decorator_kind(dec)
        if kind is None:
            continue
        name = getattr(stmt, "name", "")
        if isinstance(stmt, ast.ClassDef):
            what = f"class {name}"
        elif isinstance(owner, ast.ClassDef):
            what = f"{name}(), a method of class {owner.name}"
        else:
            what = f"{name}(), a function nested in {getattr(owner, 'name', '')}()"
        raise PipelineDefinitionError(
            f"@{kind} on {what}: barque only reads and runs functions defined at the top level of a module",
            where=mod.where(dec),
            hint="Move the function to the module's top level (a plain def, not a method), or remove the decorator.",
        )


def _refuse_global(mod: SourceModule, stmt: ast.Global, owner: ast.stmt, node_functions: Collection[str]) -> None:
    for name in stmt.names:
        if name in node_functions:
            raise PipelineDefinitionError(
                f"{getattr(owner, 'name', '')}() declares `global {name}`, so calling it can rebind the node {name}()",
                where=mod.where(stmt),
                hint="Use another name for the global variable: a node's function must be bound once, by its def.",
            )
