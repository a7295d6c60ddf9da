"""Where the executor meets streams: which results are streams, which parameters take one lazily.

A step's result is a stream when it is a generator (a sync one, or an async one made sync by
``asyncsteps``). A parameter receives an upstream stream lazily, chunk by chunk from the
store, when the function annotates it ``Iterator[...]``, ``Iterable[...]`` or
``Generator[...]`` (from ``typing`` or ``collections.abc``, a string annotation included);
any other parameter gets the stream joined (``bytes``, ``str`` or a list). The annotation is
read from the loaded function at call time: how a value is handed over is not part of the
graph's shape, so the static parser need not know it.

``inspect`` (with ``dis``, ~6 ms) is imported only to read the signature of a step that has
inputs: nothing else on a run's path needs it, and a step without inputs has no parameter
to hand a stream to (bench/FINDINGS.md, issue 11).
"""

from __future__ import annotations

import collections.abc
import re
import types
import typing
from typing import Any, Callable, Collection

_LAZY = {collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator}
_LAZY_TEXT = re.compile(r"^(?:typing\.|collections\.abc\.|abc\.)?(?:Iterator|Iterable|Generator)\b")


def is_stream(result: Any) -> bool:
    """Whether a step's result is to be stored as a chunked artifact."""
    return isinstance(result, types.GeneratorType)  # what inspect.isgenerator checks


def iterator_params(fn: Callable[..., Any], inputs: Collection[str]) -> frozenset[str]:
    """The parameters of ``fn`` among ``inputs`` (its step's input parameters) annotated as
    iterators, which get an upstream stream lazily."""
    if not inputs:
        return frozenset()
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or an odd callable: every input is joined
        return frozenset()
    return frozenset(name for name, p in params.items() if name in inputs and _is_lazy(p.annotation))


def _is_lazy(annotation: Any) -> bool:
    if isinstance(annotation, str):  # ``from __future__ import annotations``: read the text
        return bool(_LAZY_TEXT.match(annotation.strip()))
    return (typing.get_origin(annotation) or annotation) in _LAZY
