"""The authoring API. Every decorator returns the function unchanged: pipeline code runs
without barque, and barque learns the graph by reading the source, never by calling these.

The signatures mirror barca's so that a type checker flags a misspelt argument.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, TypedDict, TypeVar, Unpack, overload

F = TypeVar("F", bound=Callable[..., Any])


def _mark(fn: F | None) -> Any:
    """What a decorator returns: the function itself for the bare form (``@asset``), else
    a decorator that returns its function unchanged (``@asset(...)``)."""
    return fn if fn is not None else _identity


def _identity(fn: F) -> F:
    return fn


class NodeOptions(TypedDict, total=False):
    """The keywords every node kind takes (``@sensor(...)`` takes just these). The parser reads
    them from the source and applies the defaults: ``retries=1``, ``retry_backoff=0.0``,
    ``weight=1``, the others unset. tests/unit/barque/test_decorator_signatures.py holds these
    keys to the parser's accepted arguments."""

    name: str | None
    partitions: Mapping[str, Any] | None
    serializer: str | None
    freshness: Any
    timeout_seconds: float | None
    retries: int
    retry_backoff: float
    description: str | None
    tags: Iterable[str] | None
    env: Iterable[str] | None
    weight: int


class StepOptions(NodeOptions, total=False):
    """What an asset and a task add: inputs, batched calls and a condition."""

    inputs: Mapping[str, Any] | None
    batch: Any
    run_if: Callable[..., bool] | None


class AssetOptions(StepOptions, total=False):
    """``@asset(...)``'s keywords."""

    deterministic: bool  # default True
    cutoff: bool  # default False


class TaskOptions(StepOptions, total=False):
    """``@task(...)``'s keywords."""

    on: str | None  # a run hook: "failure", "success" or "always"


# Each decorator takes its function positionally (bare ``@asset``, as barca allows) or only
# keywords (``@asset(...)``); the overloads tell a type checker which form returns what, and the
# options' TypedDicts which keywords each kind accepts.


@overload
def asset(fn: F, /) -> F: ...
@overload
def asset(fn: None = None, /, **options: Unpack[AssetOptions]) -> Callable[[F], F]: ...
def asset(fn: F | None = None, /, **_: Any) -> Any:
    """Mark a cached pipeline node. Returns the function unchanged."""
    return _mark(fn)


@overload
def task(fn: F, /) -> F: ...
@overload
def task(fn: None = None, /, **options: Unpack[TaskOptions]) -> Callable[[F], F]: ...
def task(fn: F | None = None, /, **_: Any) -> Any:
    """Mark a step that always runs and is never cached. Returns the function unchanged."""
    return _mark(fn)


@overload
def sensor(fn: F, /) -> F: ...
@overload
def sensor(fn: None = None, /, **options: Unpack[NodeOptions]) -> Callable[[F], F]: ...
def sensor(fn: F | None = None, /, **_: Any) -> Any:
    """Mark a source that observes external state and returns ``(update_detected, output)``."""
    return _mark(fn)


def sink(
    path: str, /, *, serializer: str | None = None, partition_by: Iterable[str] | None = None, rows_per_file: int | None = None
) -> Callable[[F], F]:
    """Also write the asset's output to ``path`` (local or ``s3://``); a path ending in ``/`` is
    a Hive-partitioned dataset (``partition_by=`` columns, ``rows_per_file=``). Returns the function unchanged."""
    return _identity


def batches(groups: Iterable[Iterable[Any]], /, *, strict: bool = False) -> Any:
    """``batch=batches([["r1", "r2"], ["r3"]])``: the keys of each group share a call; a key in
    no group runs alone (an error with ``strict=True``)."""
    return groups


def batches_by(fn: Callable[[Any], Any], /, *, max_size: int | None = None) -> Any:
    """``batch=batches_by(label, max_size=20)``: keys with the same ``label(key)`` share a call,
    at most ``max_size`` per call."""
    return fn


class Failed:
    """Return ``Failed("reason")`` as one key's value from a batched call to fail that key
    alone; the call's other keys succeed and are cached (barca's ``Failed``)."""

    def __init__(self, reason: str = "") -> None:
        self.reason = str(reason)

    def __repr__(self) -> str:
        return f"Failed({self.reason!r})"


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


Always = _Marker("Always")
Manual = _Marker("Manual")


class Schedule:
    """Freshness on a cron schedule, e.g. ``Schedule("0 5 * * *")``."""

    def __init__(self, cron: str, **_: Any) -> None:
        self.cron = cron

    def __repr__(self) -> str:
        return f"Schedule({self.cron!r})"


def partitions(values: Iterable[Any]) -> list[Any]:
    """Declare partition keys; a literal list is read statically."""
    return list(values)


def partitions_from(source: Any) -> Any:
    """Take partition keys from an upstream node."""
    return source


def collect(source: Any) -> Any:
    """Inside ``inputs=``: receive every partition of ``source`` as a list, in key order."""
    return source


class Skip:
    """Return ``Skip("why")`` from a step to not produce: the step ends ``filtered`` with that
    reason, its dependants are ``filtered`` too, and a ``collect`` over it receives only the
    keys that produced. Without barque the call just returns this object."""

    __slots__ = ("reason",)

    def __init__(self, reason: str = "") -> None:
        self.reason = str(reason)

    def __repr__(self) -> str:
        return f"Skip({self.reason!r})"


def asset_ref(ref: str) -> str:
    """Name a node in another file as ``"path/to/file.py:function"``."""
    return ref


def unsafe(fn: F) -> F:
    """Mark code barque cannot reason about (barca's marker); it changes nothing and returns ``fn``."""
    return fn


class Group:
    """An organizational group of nodes (barca's ``group()``): names nodes for people, runs nothing."""

    def __init__(self, name: str, members: Iterable[Any] = (), output: Any = None, description: str | None = None) -> None:
        self.name = name
        self.members = list(members)
        self.output = output
        self.description = description

    def __repr__(self) -> str:
        return f"group({self.name!r})"


def group(name: str, *, members: Iterable[Any] = (), output: Any = None, description: str | None = None) -> Group:
    """Group nodes for listings, as barca does; adds no step, dependency or cache key."""
    return Group(name, members, output, description)
