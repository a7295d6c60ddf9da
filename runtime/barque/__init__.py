"""barque: plain Python functions as pipeline nodes, planned statically, run locally or on Kubernetes.

The decorators are inert. ``run`` and ``plan`` are the Python API; they load the runner only
when called, so importing ``barque`` in a pipeline file costs next to nothing. The public
names load on first use (PEP 562's module ``__getattr__``), so a module of the package
(``barque.certificate``, read by the slim console entry) can be imported without ``typing``
and the decorators (bench/FINDINGS.md, "run certificate").
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own constant, without importing typing (mypy reads it the same)
if TYPE_CHECKING:
    from typing import Any

    from barque.decorators import (
        Always,
        Failed,
        Manual,
        Schedule,
        Skip,
        asset,
        asset_ref,
        batches,
        batches_by,
        collect,
        group,
        partitions,
        partitions_from,
        sensor,
        sink,
        task,
        unsafe,
    )
    from barque.errors import BarqueError
    from barque.fanout import BranchResultError, ParallelError, parallel, parallel_map
    from barque.runreport import RunReport

__all__ = [
    "Always",
    "BarqueError",
    "BranchResultError",
    "Failed",
    "Manual",
    "ParallelError",
    "RunReport",
    "Schedule",
    "Skip",
    "asset",
    "asset_ref",
    "batches",
    "batches_by",
    "collect",
    "get",
    "group",
    "parallel",
    "parallel_map",
    "partitions",
    "partitions_from",
    "plan",
    "run",
    "run_many",
    "sensor",
    "sink",
    "task",
    "unsafe",
]

# The fan-out runtime (fork, pickle, tempfile) loads only when a step uses it, so a pipeline
# module that imports barque for its decorators pays nothing for it.
_FANOUT = frozenset({"BranchResultError", "ParallelError", "parallel", "parallel_map"})
_DECORATORS = frozenset({"Always", "Failed", "Manual", "Schedule", "Skip", "asset", "asset_ref", "batches", "batches_by", "collect",
                         "group", "partitions", "partitions_from", "sensor", "sink", "task", "unsafe"})


def __getattr__(name: str) -> Any:
    if name in _DECORATORS:
        from barque import decorators

        return getattr(decorators, name)
    if name == "BarqueError":
        from barque.errors import BarqueError

        return BarqueError
    if name in _FANOUT:
        from barque import fanout

        return getattr(fanout, name)
    if name == "RunReport":  # a run hook's report type, loaded only when a pipeline names it
        from barque.runreport import RunReport

        return RunReport
    raise AttributeError(f"module 'barque' has no attribute {name!r}")

__version__ = "0.1.0"


def run(*files: str, target: str | None = None, **options: Any) -> dict[str, Any]:
    """Run the pipeline in ``files`` locally and return the same summary ``barque run`` prints."""
    from importlib import import_module

    # The runner lives in barque_runtime, a layer above this package; it is looked up by
    # name at call time so that importing barque never pulls in the runner.
    summary: dict[str, Any] = import_module("barque_runtime.api").run(*files, target=target, **options)
    return summary


def run_many(*files: str, params: Any, concurrency: int = 1, **options: Any) -> dict[str, Any]:
    """Run the pipeline once per parameter set in ``params`` (an iterable of dicts), up to
    ``concurrency`` at a time; return one summary with a line per batch."""
    from importlib import import_module

    summary: dict[str, Any] = import_module("barque_runtime.api").run_many(*files, params=params, concurrency=concurrency, **options)
    return summary


def get(target_or_file: str, *files: str, **options: Any) -> Any:
    """Get assets as ``barque get`` does and return the value itself, as ``barca.get`` does.

    ``get("total", "pipeline.py")`` is the asset ``total``'s value; ``get("pipeline.py")`` the
    last asset's; a partitioned target maps ``"dim=value"`` keys to values. A failed step
    raises ``BarqueError``.
    """
    from importlib import import_module

    return import_module("barque_runtime.api").get(target_or_file, *files, **options)


def plan(*files: str, target: str | None = None, **options: Any) -> dict[str, Any]:
    """Return the phased plan for ``files`` as the dict ``barque plan`` prints."""
    from importlib import import_module

    doc: dict[str, Any] = import_module("barque_runtime.api").plan(*files, target=target, **options)
    return doc
