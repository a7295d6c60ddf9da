"""``barque submit``: create a PipelineRun for an applied Pipeline, and optionally follow it.

The manifest is built through the operator's ``PipelineRun`` model (one source of truth
with the CRD) by a pure function; the API call and the follow loop are the thin shell.
Prints the run's name on stdout (so ``RUN=$(barque submit etl)`` works); with ``--wait``
progress goes to stderr and the exit code says how the run ended: 0 Succeeded, 1 otherwise.
``--param-file`` submits micro-batches instead (``barque_cli.submit_batches``): one run per
parameter set, a bounded number at once, and one summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any, Callable, Mapping

from barque_cli.cmd_status import TERMINAL, Kube, render_status
from barque_cli.usage import BATCHES_AT_ONCE, add_cluster_args

PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def register(sub: Any) -> None:
    p = sub.add_parser("submit", help="create a PipelineRun for an applied Pipeline and print its name")
    p.add_argument("pipeline", metavar="PIPELINE", help="the Pipeline's name")
    names = p.add_mutually_exclusive_group()
    names.add_argument("--name", default=None, help="the run's name (default: generated from the pipeline's)")
    names.add_argument("--generate-name", action="store_true", help="let the API server name the run (the default)")
    p.add_argument("--target", action="append", default=[], metavar="NODE", help="run only NODE and what it needs (repeatable)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="run parameter (repeatable)")
    p.add_argument("--no-cache", action="store_true", help="run every step, ignoring cached results")
    p.add_argument("--resume-from", default=None, metavar="RUN", help="reuse the succeeded steps of an earlier run")
    p.add_argument("--batch", action="append", default=[], metavar="[NODE=]V",
                   help="batch= for this run (spec.batch): none, all or N for every batched node, NODE=V for one (repeatable)")
    p.add_argument("--timeout", type=int, default=None, metavar="SECONDS", help="the run's timeout (spec.timeoutSeconds)")
    p.add_argument("--fail-fast", action="store_true",
                   help="stop at the first failure: start nothing more, stop running Jobs (spec.failurePolicy: FailFast)")
    p.add_argument("--overrides", default=None, metavar="JSON|@FILE",
                   help='for tests: a JSON object of asset name to the value stubbed in for it (spec.overrides), e.g. \'{"raw": [1, 2]}\'')
    p.add_argument("--param-file", default=None, metavar="FILE",
                   help="micro-batches: one run per line of FILE, each a JSON object of parameters (on top of --param); waits for them")
    p.add_argument("--batch-concurrency", type=BATCHES_AT_ONCE, default=1, metavar="N",
                   help="with --param-file: at most N of the batches' runs unfinished at once (default 1, one after another)")
    add_cluster_args(p)
    p.add_argument("--wait", action="store_true", help="follow the run until it ends; exit 0 only if it succeeded")
    p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_submit)




def cmd_submit(args: argparse.Namespace) -> int:
    options: dict[str, Any] = dict(
        targets=args.target, no_cache=args.no_cache, resume_from=args.resume_from, timeout_seconds=args.timeout,
        fail_fast=args.fail_fast, overrides=parse_overrides(args.overrides), batch=args.batch,
    )
    if args.param_file is not None:
        return _submit_batches(args, options)
    body = build_run(args.pipeline, name=args.name, params=parse_params(args.param), **options)
    kube = Kube.connect(args)
    kube.get("pipelines", args.pipeline)  # a clear "not found" now beats a failed run later
    created = kube.create("pipelineruns", body)
    name = created["metadata"]["name"]
    print(name, flush=True)
    if not args.wait:
        return 0
    final = follow(lambda: kube.get("pipelineruns", name), report=_progress, poll=args.poll)
    sys.stderr.write(render_status(final))
    return 0 if (final.get("status") or {}).get("phase") == "Succeeded" else 1


def _submit_batches(args: argparse.Namespace, options: Mapping[str, Any]) -> int:
    """One PipelineRun per parameter set of ``--param-file``, followed to the end; the summary on stdout."""
    from barque.errors import BarqueError
    from barque_cli.submit_batches import submit_many
    from barque_runtime.batches import read_param_file
    from barque_runtime.cancel import Cancellation

    if args.name:
        raise BarqueError("--name names one run, and --param-file makes one run per line",
                          where="--name", hint="leave --name out: each batch's run gets a generated name")
    base = parse_params(args.param)
    # Every manifest is built (and so checked) before the first run is created: a bad line 7
    # must not leave six runs behind.
    bodies = [build_run(args.pipeline, params={**base, **sets}, **options) for sets in read_param_file(args.param_file)]
    kube = Kube.connect(args)
    kube.get("pipelines", args.pipeline)
    # SIGTERM cancels the batches as Ctrl-C does, and either exits as the shell reports it, after the summary.
    with Cancellation() as cancellation:
        cancellation.armed = True
        summary = submit_many(
            bodies, create=lambda body: str(kube.create("pipelineruns", dict(body))["metadata"]["name"]),
            get=lambda name: kube.get("pipelineruns", name),
            cancel=lambda name: kube.patch("pipelineruns", name, {"spec": {"cancel": True}}),
            concurrency=args.batch_concurrency, poll=args.poll, report=_progress,
        )
        cancellation.armed = False
    sys.stdout.write(json.dumps(summary, default=str) + "\n")
    if cancellation.signum is not None:
        return 128 + cancellation.signum
    return 0 if summary["status"] == "succeeded" else 1


def parse_overrides(text: str | None) -> dict[str, Any] | None:
    """``--overrides``: a JSON object, given inline or as ``@FILE``; ``None`` when not given."""
    from barque.errors import BarqueError

    if text is None:
        return None
    where = "--overrides"
    if text.startswith("@"):
        where = text[1:]
        try:
            with open(where, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            raise BarqueError(f"cannot read the overrides file: {err}", where=where, hint="pass @FILE naming a UTF-8 JSON file") from None
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise BarqueError(f"the overrides are not JSON: {err}", where=where, hint='write a JSON object, e.g. \'{"raw": [1, 2]}\'') from None
    if not isinstance(doc, dict) or not doc:
        raise BarqueError("the overrides must be a JSON object of asset name to value, with one asset at least",
                          where=where, hint='e.g. \'{"raw": [1, 2]}\'')
    return doc


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; a malformed pair or name is a usage error."""
    from barque.errors import BarqueError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not PARAM_NAME.match(key):
            raise BarqueError(f"invalid parameter {pair!r}", where="--param", hint="write it as NAME=VALUE, NAME an identifier")
        out[key] = value
    return out


def build_run(
    pipeline: str,
    *,
    name: str | None = None,
    targets: list[str] | None = None,
    params: Mapping[str, str] | None = None,
    no_cache: bool = False,
    resume_from: str | None = None,
    timeout_seconds: int | None = None,
    fail_fast: bool = False,
    overrides: Mapping[str, Any] | None = None,
    batch: list[str] | None = None,
) -> dict[str, Any]:
    """The PipelineRun manifest, validated by the operator's model. Pure.

    Without ``name`` the run gets ``generateName: <pipeline>-`` and the API server adds a
    random suffix, so two submits never collide.
    """
    from barque.batchflag import parse_batch_flags
    from barque.errors import BarqueError
    from barque_operator import models as m
    from pydantic import ValidationError

    if not _valid_ref(pipeline):
        raise BarqueError(f"invalid Pipeline name {pipeline!r}", where="PIPELINE", hint="give the name of an applied Pipeline")
    spec: dict[str, Any] = {"pipelineRef": {"name": pipeline}}
    if targets:
        spec["targets"] = list(targets)
    if params:
        bad = next((k for k in params if not PARAM_NAME.match(k)), None)
        if bad is not None:
            raise BarqueError(f"invalid parameter name {bad!r}", where="params", hint="parameter names are identifiers")
        spec["params"] = dict(sorted(params.items()))
    if no_cache:
        spec["noCache"] = True
    if resume_from:
        spec["resumeFrom"] = resume_from
    if timeout_seconds is not None:
        spec["timeoutSeconds"] = timeout_seconds
    if fail_fast:
        spec["failurePolicy"] = "FailFast"
    if overrides:
        spec["overrides"] = dict(overrides)
    if batch:
        parse_batch_flags(batch)  # a malformed value is a usage error now; node names are the operator's to check
        spec["batch"] = list(batch)
    meta = {"name": name} if name else {"generateName": f"{pipeline[:57]}-"}
    try:
        run = m.PipelineRun.model_validate({"apiVersion": m.API_VERSION, "kind": "PipelineRun", "metadata": meta, "spec": spec})
    except ValidationError as e:
        detail = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise BarqueError(f"invalid PipelineRun: {detail}", hint="check --name, --resume-from, --timeout and --overrides") from None
    return run.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")


def _valid_ref(name: str) -> bool:
    return bool(re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", name)) and len(name) <= 253


def follow(
    get: Callable[[], dict[str, Any]],
    *,
    report: Callable[[dict[str, Any]], None] = lambda run: None,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Call ``get`` every ``poll`` seconds until the run's phase is terminal; return that run.

    ``report`` sees the run each time its phase or progress changes.
    """
    seen: tuple[Any, ...] | None = None
    while True:
        run = get()
        status = run.get("status") or {}
        now = (status.get("phase"), status.get("progress"))
        if now != seen:
            report(run)
            seen = now
        if status.get("phase") in TERMINAL:
            return run
        sleep(poll)


def _progress(run: Mapping[str, Any]) -> None:
    status = run.get("status") or {}
    print(f"{run['metadata']['name']}: {status.get('phase') or 'Pending'} {status.get('progress') or ''}".rstrip(),
          file=sys.stderr, flush=True)
