"""Evaluating a node's ``run_if`` (read by ``barque.parsing.conditions``) in the worker, before its call.

Kept apart from the parser so a worker does not import it: ``BUILTINS`` is all a condition
reaches besides its own parameters (the parser refuses any other name), so evaluating its text
with nothing else in scope is what it was read as.
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping

BUILTINS = ("abs", "all", "any", "bool", "dict", "float", "int", "isinstance", "len", "list", "max", "min",
            "round", "set", "sorted", "str", "sum", "tuple")


def holds(source: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether the condition ``source`` (a lambda's text) is true of the call's arguments ``kwargs``."""
    fn = eval(source, {"__builtins__": {name: getattr(builtins, name) for name in BUILTINS}})  # noqa: S307 - the user's own lambda, checked by the parser
    code = fn.__code__
    return bool(fn(**{name: kwargs.get(name) for name in code.co_varnames[: code.co_argcount]}))
