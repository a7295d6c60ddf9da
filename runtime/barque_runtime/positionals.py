"""The positional arguments of ``get``/``run``/``plan``/``show``/``stats``: which are files, which targets.

barca's rule comes first ("Arguments: target, then files or directories"): the first
positional is a file argument if it ends in ``.py`` or ``/``, is ``.`` or ``..``, or is an
existing directory written with a ``/`` in it; otherwise it is the target (``a,b`` for several)
and every later positional is a file or directory. No file argument means the project in the
current directory, as barca reads the whole project.

barque's own earlier order, files first and then targets (``barque run pipeline.py report``),
keeps working: barca refuses it and prints the corrected command, but it is unambiguous, and
barque's users and scripts already type it. So does a directory named without a ``/`` that
holds Python files, alone or followed by targets only (``barque run shop``, ``barque run shop
report``), which barca would read as a target; followed by a file or directory
(``barque run shop jobs/``) it is a target, as in barca.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping, Sequence

from barque.errors import BarqueError


def is_file_argument(arg: str, isdir: Callable[[str], bool] = os.path.isdir) -> bool:
    """barca's test of the first positional: a file or directory, not a target name."""
    return arg.endswith((".py", "/")) or arg in (".", "..") or ("/" in arg and isdir(arg))


def split_positionals(items: list[str], *, holds_python: Callable[[str], bool] | None = None) -> tuple[list[str], list[str]]:
    """``(files, targets)`` for the positionals as typed; files default to ``["."]``."""
    holds = holds_python or _holds_python
    if not items:
        return ["."], []
    first, rest = items[0], items[1:]
    if is_file_argument(first):
        return _files_then_targets(items, holds)
    if holds(first) and not any(is_file_argument(r) or os.path.exists(r) for r in rest):
        return _files_then_targets(items, holds)  # barque's ``barque run DIR [TARGET]``
    targets = _names(first)
    return rest or ["."], targets


def _files_then_targets(items: list[str], holds: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """barque's earlier order: what is a file or a folder of Python files is a file; the rest are targets."""
    files = [i for i in items if i.endswith((".py", "/")) or i in (".", "..") or os.path.isfile(i) or holds(i)]
    targets = [name for i in items if i not in files for name in _names(i)]
    return files, targets


def _names(arg: str) -> list[str]:
    """``a,b`` names two targets; an empty name (``a,,b``) is a usage error, as in barca."""
    names = arg.split(",")
    if any(not n.strip() for n in names):
        raise BarqueError(f"an empty target name in {arg!r}", hint="separate target names by single commas, e.g. `barque get a,b`")
    return [n.strip() for n in names]


def _holds_python(path: str) -> bool:
    """Whether ``path`` is a directory with a ``.py`` file somewhere below it."""
    return os.path.isdir(path) and any(name.endswith(".py") for _, _, names in os.walk(path) for name in names)


def parse_selection(given: str | Mapping[str, Any] | Sequence[str] | None) -> dict[str, tuple[str, ...]]:
    """``--partition``'s keys by dimension: ``region=emea,amer``, or a JSON object
    (``{"region": "emea", "day": ["d1", "d2"]}``) for compound keys, as barca takes them.
    Repeated flags add up; a malformed one is a usage error."""
    items: list[str | Mapping[str, Any]] = [given] if isinstance(given, (str, Mapping)) else list(given or ())
    selection: dict[str, list[str]] = {}
    for item in items:
        for dim, values in _one_selection(item).items():
            selection.setdefault(dim, []).extend(v for v in values if v not in selection.get(dim, []))
    return {dim: tuple(values) for dim, values in selection.items()}


def _one_selection(item: str | Mapping[str, Any]) -> dict[str, list[str]]:
    hint = 'write --partition region=emea,amer or --partition \'{"region": "emea", "day": ["d1", "d2"]}\''
    if isinstance(item, str) and item.lstrip().startswith("{"):
        try:
            item = json.loads(item)
        except ValueError as err:
            raise BarqueError(f"--partition {item!r} is not a JSON object: {err}", hint=hint) from None
    if isinstance(item, Mapping):
        out = {}
        for dim, values in item.items():
            listed = values if isinstance(values, list) else [values]
            out[str(dim)] = [str(v) for v in listed]
        return out
    dim, sep, values = item.partition("=")
    keys = [v.strip() for v in values.split(",")]
    if not sep or not dim.strip() or not all(keys):
        raise BarqueError(f"--partition {item!r} is not DIMENSION=KEY[,KEY...]", hint=hint)
    return {dim.strip(): keys}
