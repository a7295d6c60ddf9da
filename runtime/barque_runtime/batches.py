"""Micro-batches: the same pipeline run once per parameter set, one after another or a few at once.

``run_many(files, params=[{...}, {...}], concurrency=N)`` is ``barque run`` once per set (each
a run of its own: its own run id, history entry and step records, the shared store and cache),
then one summary of the batches. Sets run in the order given; with ``concurrency`` above 1,
up to that many run at once, each in a forked child process, since a run owns its process's
signal handlers and worker pool; the iterable is read only as places free up, so a long or
endless generator of sets is fine. ``barque run --param-file FILE`` reads the sets from a
file of one JSON object per line (values are strings, as ``--param`` gives them).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from barque.errors import BarqueError, PipelineDefinitionError

BATCH_FIELDS = (
    "run_id", "status", "cancelled_by", "steps_executed", "steps_cached", "steps_failed", "steps_skipped", "steps_filtered", "elapsed_seconds",
    "final_output", "failures", "hooks",  # a batch's run hooks: how each went, apart from its status
)


def read_param_file(path: str) -> list[dict[str, str]]:
    """The parameter sets of ``path``: one JSON object per line; blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BarqueError(f"cannot read the parameter file {path}: {err}", hint="pass a UTF-8 file with one JSON object per line") from None
    sets = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            doc = json.loads(line)
        except ValueError as err:
            raise BarqueError(f"line {number} is not JSON: {err}", where=where, hint='write one object per line, e.g. {"date": "2026-01-01"}') from None
        sets.append(check_params(doc, where))
    if not sets:
        raise BarqueError(f"the parameter file {path} holds no parameter set", hint='write one JSON object per line, e.g. {"date": "2026-01-01"}')
    return sets


def check_params(doc: Any, where: str) -> dict[str, str]:
    """``doc`` if it is a mapping of names to strings (run parameters are strings), else a clear error."""
    if not isinstance(doc, Mapping):
        raise BarqueError(f"a parameter set must be a JSON object, not {type(doc).__name__}", where=where, hint='e.g. {"date": "2026-01-01"}')
    for key, value in doc.items():
        if not isinstance(value, str):
            raise BarqueError(
                f"parameter {key!r} is {json.dumps(value)}, not a string: run parameters are strings, as --param gives them",
                where=where,
                hint=f'write it as a string: "{key}": "{value}"',
            )
    return {str(k): v for k, v in doc.items()}


def run_many(
    run: Callable[..., dict[str, Any]],
    files: tuple[str, ...],
    params: Iterable[Mapping[str, str]],
    concurrency: int = 1,
    base_params: Mapping[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Call ``run(*files, params=base_params | set, **options)`` for each set; the batches' summary.

    A batch whose run cannot start (a ``BarqueError``, e.g. a Manual node never computed) is
    reported with status ``error`` and the others still run; a pipeline that does not parse
    raises ``PipelineDefinitionError`` at once, as it would for every set. ``status`` is ``succeeded`` when every batch did.
    """
    if concurrency < 1:
        raise BarqueError(f"batch concurrency {concurrency} runs nothing", hint="give 1 or more (--batch-concurrency N)")
    started = time.perf_counter()
    sets = (dict(base_params or {}) | check_params(p, f"parameter set {i}") for i, p in enumerate(params))
    if concurrency == 1:
        batches = _in_turn(run, files, sets, options)
    else:
        batches = _concurrently(run, files, sets, options, concurrency)
    return summarize(batches, concurrency, time.perf_counter() - started)


def summarize(batches: list[dict[str, Any]], concurrency: int, elapsed_seconds: float) -> dict[str, Any]:
    """The one summary of micro-batches, each a dict with its ``status`` (``succeeded``,
    ``failed``, ``cancelled`` or ``error``), in the order of the sets; shared by ``barque run
    --param-file`` and the cluster's ``barque submit --param-file``."""
    counts = {s: sum(1 for b in batches if b["status"] == s) for s in ("succeeded", "failed", "cancelled", "error")}
    status = "succeeded" if counts["succeeded"] == len(batches) else "cancelled" if counts["cancelled"] else "failed"
    return {
        "status": status,
        "batches": len(batches),
        **{f"batches_{state}": n for state, n in counts.items()},
        "concurrency": concurrency,
        "elapsed_seconds": round(elapsed_seconds, 4),
        "runs": [{"batch": i, **b} for i, b in enumerate(batches)],
    }


def _one(run: Callable[..., dict[str, Any]], files: tuple[str, ...], params: dict[str, str], options: Mapping[str, Any]) -> dict[str, Any]:
    try:
        summary = run(*files, params=params, **options)
    except PipelineDefinitionError:  # the same for every set: said once, not once per batch
        raise
    except BarqueError as err:
        return {"params": params, "status": "error", "error": str(err)}
    return {"params": params, **{k: summary[k] for k in BATCH_FIELDS if k in summary}}


def _in_turn(run: Callable[..., dict[str, Any]], files: tuple[str, ...], sets: Iterable[dict[str, str]], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One batch after another, until the sets run out or one is cancelled (Ctrl-C, SIGTERM)."""
    batches: list[dict[str, Any]] = []
    try:
        for params in sets:
            batches.append(_one(run, files, params, options))
            if batches[-1]["status"] == "cancelled":
                break
    except KeyboardInterrupt:  # between two runs, where no run's handler catches it
        pass
    return batches


def _concurrently(
    run: Callable[..., dict[str, Any]], files: tuple[str, ...], sets: Iterable[dict[str, str]], options: Mapping[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` batches at once in forked children; results in the order of the sets.

    Once a batch is cancelled (Ctrl-C reaches every child of the terminal's process group, and
    each run cancels itself) no new one starts; those running finish with their own summary.
    """
    results: dict[int, dict[str, Any]] = {}
    pending: dict[Future[dict[str, Any]], tuple[int, dict[str, str]]] = {}
    with ProcessPoolExecutor(max_workers=limit, mp_context=multiprocessing.get_context("fork")) as pool:
        try:
            for index, params in enumerate(sets):
                if len(pending) >= limit:
                    _collect(wait(pending, return_when=FIRST_COMPLETED).done, pending, results)
                if any(r["status"] == "cancelled" for r in results.values()):
                    break
                pending[pool.submit(_one, run, files, params, options)] = (index, params)
        except KeyboardInterrupt:
            pass
        _collect(set(pending), pending, results)
    return [results[i] for i in sorted(results)]


def _collect(
    done: Iterable[Future[dict[str, Any]]], pending: dict[Future[dict[str, Any]], tuple[int, dict[str, str]]], results: dict[int, dict[str, Any]]
) -> None:
    for future in done:
        index, params = pending.pop(future)
        try:
            results[index] = future.result()
        except (KeyboardInterrupt, BrokenProcessPool):  # its child was interrupted before its run could report
            results[index] = {"params": params, "status": "cancelled"}
