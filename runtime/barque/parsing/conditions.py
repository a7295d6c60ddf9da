"""``run_if=``: a condition on a node's own inputs, read from the syntax tree and kept as text.

Written as a lambda over some of the function's parameters, ``run_if=lambda orders: len(orders) > 0``;
the worker evaluates it (``barque.runif``) on the very arguments the call would get, before the call, and a false
condition ends the step ``filtered``. The lambda may use its parameters, literals and the
builtins in ``BUILTINS`` only, so its text is all there is to it: that text (normalized) is part
of the node's cache key, and nothing it reads can change without the key changing.
"""

from __future__ import annotations

import ast

from barque.errors import PipelineDefinitionError
from barque.parsing.source import FunctionNode, SourceModule
from barque.runif import BUILTINS

_EXAMPLE = "run_if=lambda orders: len(orders) > 0"


def read_run_if(mod: SourceModule, value: ast.expr, fn: FunctionNode) -> str:
    """The condition's normalized source; a clear error (file:line) for anything else."""
    if not isinstance(value, ast.Lambda):
        raise PipelineDefinitionError(
            f"run_if= of {fn.name}() must be a lambda over its inputs, not `{mod.segment(value)[:60]}`",
            where=mod.where(value),
            hint=f"Write e.g. {_EXAMPLE}; barque reads it without running the module.",
        )
    args = value.args
    if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs or args.defaults or not args.args:
        raise PipelineDefinitionError(
            f"run_if= of {fn.name}() must take plain parameters named after {fn.name}()'s",
            where=mod.where(value),
            hint=f"Write e.g. {_EXAMPLE} (no defaults, *args or **kwargs).",
        )
    params = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    names = [a.arg for a in args.args]
    for name in names:
        if name not in params:
            raise PipelineDefinitionError(
                f"run_if= of {fn.name}() takes `{name}`, which is not a parameter of {fn.name}()",
                where=mod.where(value),
                hint=f"Name the condition's parameters after {fn.name}()'s: {', '.join(sorted(params)) or 'it has none'}.",
            )
    allowed = set(names) | set(BUILTINS)
    for sub in ast.walk(value.body):
        if isinstance(sub, ast.Name) and sub.id not in allowed:
            raise PipelineDefinitionError(
                f"run_if= of {fn.name}() reads `{sub.id}`, which is neither one of its parameters nor an allowed builtin",
                where=mod.where(sub),
                hint=f"A condition sees only its inputs (and {', '.join(BUILTINS)}): move other logic into the "
                     "function and return barque.Skip(...) from it.",
            )
        if isinstance(sub, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)) or (
                isinstance(sub, ast.Attribute) and sub.attr.startswith("_")):
            raise PipelineDefinitionError(
                f"run_if= of {fn.name}() is too clever to read: `{mod.segment(sub)[:60]}`",
                where=mod.where(sub),
                hint="Keep the condition a plain expression over its inputs, or return barque.Skip(...) from the function.",
            )
    return ast.unparse(value)
