"""Where the executor meets streams: which results are streams, which parameters take one lazily.

A step's result is a stream when it is a generator (a sync one, or an async one made sync by
``asyncsteps``). A parameter receives an upstream stream lazily, chunk by chunk from the
store, when the function annotates it ``Iterator[...]``, ``Iterable[...]`` or
``Generator[...]`` (from ``typing`` or ``collections.abc``, a string annotation included);
any other parameter gets the stream joined (``bytes``, ``str`` or a list). The annotation is
read from the loaded function at call time: how a value is handed over is not part of the
graph's shape, so the static parser need not know it.
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import typing
from typing import Any, Callable

_LAZY = {collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator}
_LAZY_TEXT = re.compile(r"^(?:typing\.|collections\.abc\.|abc\.)?(?:Iterator|Iterable|Generator)\b")


def is_stream(result: Any) -> bool:
    """Whether a step's result is to be stored as a chunked artifact."""
    return inspect.isgenerator(result)


def iterator_params(fn: Callable[..., Any]) -> frozenset[str]:
    """The parameters of ``fn`` annotated as iterators, which get an upstream stream lazily."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or an odd callable: every input is joined
        return frozenset()
    return frozenset(name for name, p in params.items() if _is_lazy(p.annotation))


def _is_lazy(annotation: Any) -> bool:
    if isinstance(annotation, str):  # ``from __future__ import annotations``: read the text
        return bool(_LAZY_TEXT.match(annotation.strip()))
    return (typing.get_origin(annotation) or annotation) in _LAZY
