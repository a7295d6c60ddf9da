"""Reading decorator argument values that must be literals, and the small checks around them.

Every reader takes the expression and the module it sits in, and either returns a plain value
or raises ``PipelineDefinitionError`` naming the argument, where it is and what to write.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from barque.serializers import SERIALIZERS
from barque.errors import PipelineDefinitionError
from barque.parsing.foldkeys import fold_groups
from barque.parsing.source import SourceModule

STATIC_HINT = "barque reads the decorator from the source without running it, so write the value out as a literal"


def not_static(mod: SourceModule, node: ast.AST, what: str, expected: str) -> PipelineDefinitionError:
    return PipelineDefinitionError(
        f"{what} cannot be read statically: expected {expected}",
        where=mod.where(node),
        hint=f"{STATIC_HINT} ({expected}).",
    )


def literal(mod: SourceModule, node: ast.expr, what: str, expected: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise not_static(mod, node, what, expected) from None


def string(mod: SourceModule, node: ast.expr, what: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise not_static(mod, node, what, "a string literal")


# Characters with a meaning in step ids (``node[dim=key,...]``, ``node#partitions``) and in
# target lists (``a,b``): a node name holding one could share its step id with another node's.
ID_SYNTAX = "[],=#"


def node_name(mod: SourceModule, node: ast.expr) -> str:
    """A ``name=`` value: a non-empty string that cannot be mistaken for a step id's syntax."""
    value = string(mod, node, "name=")
    bad = sorted({c for c in value if c in ID_SYNTAX or not c.isprintable()})
    if not value.strip():
        problem = "cannot be empty"
    elif bad:
        problem = "contains " + ", ".join(repr(c) for c in bad) + ", which step ids and target lists use"
    elif value != value.strip():
        problem = "starts or ends with a space"
    else:
        return value
    raise PipelineDefinitionError(
        f"name={value!r} {problem}",
        where=mod.where(node),
        hint="Write a name of letters, digits and punctuation such as _ - . / : (without [ ] , = #), "
        "or leave name= out: the node is then called <file>:<function>.",
    )


def choice(mod: SourceModule, node: ast.expr, what: str, choices: Iterable[str], kind: str, hint: str) -> str:
    """A string literal that must be one of ``choices``; anything else is an error saying it is
    not ``kind`` and giving ``hint``, where ``{choices}`` stands for the choices listed."""
    value, allowed = string(mod, node, what), tuple(choices)
    if value not in allowed:
        raise PipelineDefinitionError(
            f"{what}{value!r} is not {kind}",
            where=mod.where(node),
            hint=hint.format(choices=", ".join(repr(c) for c in allowed)),
        )
    return value


def serializer(mod: SourceModule, node: ast.expr, what: str) -> str:
    return choice(mod, node, what, SERIALIZERS, "a serializer barque knows",
                  "Use one of {choices}, or leave it out to choose by value.")


# The longest timeout or retry backoff accepted, in seconds: a year. Longer is surely a typo,
# and the run's timers (setitimer, sleep) overflow on values such as 1e12, let alone 1e999.
MAX_SECONDS = 365 * 24 * 3600


def number(mod: SourceModule, node: ast.expr, what: str, *, optional: bool = False) -> float | None:
    """A duration in seconds: a finite number from 0 to ``MAX_SECONDS`` (``None`` allowed
    when ``optional``); ``1e999`` is infinite and refused like a negative number."""
    value = literal(mod, node, what, "a number literal")
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
        raise PipelineDefinitionError(
            f"{what} must be a number of seconds, at least 0 and at most {MAX_SECONDS:,} (a year), not {shown(mod, node)}",
            where=mod.where(node),
            hint=f"Write {what}<seconds>, e.g. {what}30.",
        )
    return float(value)


def shown(mod: SourceModule, node: ast.expr) -> str:
    """The value as written, cut short (a repr of a huge integer may be refused by Python)."""
    text = mod.segment(node)
    return text if len(text) <= 40 else text[:37] + "..."


def attempts(mod: SourceModule, node: ast.expr, what: str) -> int:
    return positive_int(mod, node, what, " (the total number of attempts)", f"Write {what}=1 for no retry, {what}=3 for up to three attempts.")


def boolean(mod: SourceModule, node: ast.expr, what: str) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    raise not_static(mod, node, what, "True or False")


def positive_int(mod: SourceModule, node: ast.expr, what: str, meaning: str = "", hint: str | None = None) -> int:
    """A whole number of at least 1, written as a literal; ``meaning`` follows the rule in the error."""
    value = literal(mod, node, what, "an integer literal")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PipelineDefinitionError(
            f"{what} must be a whole number of at least 1{meaning}, not {shown(mod, node)}",
            where=mod.where(node),
            hint=hint or f"Write {what}<n>, e.g. {what}2.",
        )
    return value


def weight(mod: SourceModule, node: ast.expr) -> int:
    """``weight=``: the slots of the worker pool a step takes while it runs, at least 1."""
    return positive_int(mod, node, "weight=", " (the worker slots the step takes while it runs)",
                        "Write weight=2 for a step that needs two workers' share of memory, or leave it out (1).")


def key_groups(mod: SourceModule, node: ast.expr) -> tuple[tuple[str, ...], ...] | None:
    """``batches(node)``'s groups when the parser can fold them (``foldkeys.fold_groups``), else
    ``None`` (the run evaluates them).

    Keys are strings or integers (an integer is its string, as for partition keys); an empty
    group or a key in two groups is an error, as in barca."""
    groups = fold_groups(mod, node)
    if groups is None:
        return None
    written = node.elts if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) == len(groups) else None
    seen: set[str] = set()
    for index, keys in enumerate(groups):
        where = mod.where(written[index] if written else node)
        if not keys:
            raise PipelineDefinitionError(
                "batches() has an empty group", where=where, hint="Remove the empty group: every group names at least one key."
            )
        for key in keys:
            if key in seen:
                raise PipelineDefinitionError(
                    f"batches() names the key {key!r} in two groups", where=where, hint="Put each key in one group at most."
                )
            seen.add(key)
    return groups


def string_list(mod: SourceModule, node: ast.expr, what: str) -> tuple[str, ...]:
    if isinstance(node, ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
    raise not_static(mod, node, what, 'a list of string literals, e.g. ["A", "B"]')


# -- cron ---------------------------------------------------------------------------------

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (field name, lowest, highest, names mapped to numbers)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
# Compiled on first use (re caches it), not at import: only a Schedule(...) freshness needs it.
_ITEM = r"^(?P<range>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$"


def cron_problem(cron: str) -> str | None:
    """Why ``cron`` is not a valid 5-field cron expression, or ``None`` when it is."""
    fields = cron.split()
    if len(fields) != 5:
        return f"it has {len(fields)} fields, a cron expression has 5 (minute hour day-of-month month day-of-week)"
    for text, (name, low, high, names) in zip(fields, _FIELDS):
        for item in text.lower().split(","):
            problem = _item_problem(item, low, high, names)
            if problem:
                return f"the {name} field {text!r}: {problem}"
    return None


def _item_problem(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    match = re.match(_ITEM, item)
    if not match:
        return f"{item!r} is not a number, a range a-b, a step x/n, a list or *"
    if match["step"] is not None and int(match["step"]) == 0:
        return "a step of 0"
    if match["range"] == "*":
        return None
    bounds = []
    for part in match["range"].split("-"):
        value = names.get(part, int(part) if part.isdigit() else None)
        if value is None:
            return f"{part!r} is not a number or a name"
        if not low <= value <= high:
            return f"{value} is out of range {low}-{high}"
        bounds.append(value)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"the range {item!r} runs backwards"
    return None


# -- did you mean ---------------------------------------------------------------------------


def did_you_mean(word: str, choices: Iterable[str]) -> list[str]:
    """The choices within one edit of ``word`` (two edits for words longer than four
    characters), closest first; several when they tie."""
    limit = 2 if len(word) > 4 else 1
    scored = sorted((_distance(word, c), c) for c in choices)
    scored = [(d, c) for d, c in scored if d <= limit]
    if not scored:
        return []
    best = scored[0][0]
    return [c for d, c in scored if d == best]


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean `x`?`` (or nothing), for the end of a message."""
    close = did_you_mean(word, choices)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
