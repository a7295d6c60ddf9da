"""Local commands: run, plan, list, graph, show, history, stats, and exec (what pods run)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from barque_cli.usage import BATCHES_AT_ONCE, WORKERS, add_cluster_args, at_least_one


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run a pipeline (or a target and what it needs) locally and print its summary")
    get = sub.add_parser("get", help="get assets: barca's name for `run` on assets (cache-aware; tasks need `run`)")
    for parser in (run, get):
        _run_arguments(parser)

    plan = sub.add_parser("plan", help="print the phased plan as JSON: the local run's, or the cluster's (--parallelism, a Pipeline manifest)")
    _files_and_target(plan)
    where = plan.add_mutually_exclusive_group()
    where.add_argument("--workers", type=WORKERS, default=None, help="the plan `barque run --workers N` runs: streams per phase, at least 1 (default: CPU count)")
    where.add_argument("--parallelism", type=at_least_one("streams per phase"), default=None,
                       help="the plan the operator runs for a Pipeline with spec.defaults.parallelism N (given a Pipeline manifest: its own)")
    plan.add_argument("--store", default=None)
    plan.add_argument("--cache", action="store_true", help="add each step's cache state and why")
    plan.add_argument("--partition", action="append", default=[], metavar="DIM=K[,K]", help="plan only these partition keys, as run --partition")
    plan.set_defaults(func=cmd_plan)

    lst = sub.add_parser("list", help="list nodes with their kinds and inputs")
    lst.add_argument("files", nargs="+")
    lst.add_argument("--json", action="store_true", help="JSON even on a terminal")
    lst.set_defaults(func=cmd_list)

    graph = sub.add_parser("graph", help="print the dependency graph as Mermaid or Graphviz DOT (or SVG), optionally with a run's states")
    graph.add_argument("files", nargs="+")
    graph.add_argument("--format", choices=("mermaid", "dot", "svg"), default="mermaid", help="svg renders the DOT with Graphviz's `dot`")
    graph.add_argument("--run", default=None, metavar="RUN_ID", help="show each node's state and duration in this run")
    graph.add_argument("--store", default=None, help="the store holding the run's step records (default .barque/ in the project)")
    add_cluster_args(graph)  # with one of them, --run names a PipelineRun
    graph.set_defaults(func=cmd_graph)

    show = sub.add_parser("show", help="print a node's stored value (its latest materialization)")
    _files_and_target(show)
    show.add_argument("--store", default=None)
    show.set_defaults(func=cmd_show)

    hist = sub.add_parser("history", help="recent local runs, or one run's steps and errors")
    hist.add_argument("run_id", nargs="?", metavar="RUN_ID", help="one run in detail: its fields, its steps, each failed step's error")
    hist.add_argument("--limit", type=int, default=20)
    hist.add_argument("--project", default=".", help="project folder holding .barque/ (default: here)")
    hist.add_argument("--store", default=None, help="the runs against this store (history follows the store)")
    hist.set_defaults(func=cmd_history)

    stats = sub.add_parser("stats", help="timing and cache statistics for a node")
    _files_and_target(stats)
    stats.add_argument("--store", default=None, help="the runs against this store (history follows the store)")
    stats.set_defaults(func=cmd_stats)

    exe = sub.add_parser("exec", help="execute one stream of a planned run (used in pods)")
    exe.add_argument("--store", default=os.environ.get("BARQUE_STORE"), required="BARQUE_STORE" not in os.environ)
    exe.add_argument("--run", default=os.environ.get("BARQUE_RUN_ID"), required="BARQUE_RUN_ID" not in os.environ)
    exe.add_argument("--phase", type=int, default=int(os.environ.get("BARQUE_PHASE", "0")))
    exe.add_argument("--stream", type=int, default=None, help="stream index (default: $JOB_COMPLETION_INDEX)")
    exe.add_argument("--hooks", action="store_true", help="run the run's hook of index --stream (its hook Job), not a phase")
    exe.set_defaults(func=cmd_exec)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments ``run`` and ``get`` share."""
    _files_and_target(parser)
    parser.add_argument("--no-cache", action="store_true", help="run every step, ignoring cached results")
    parser.add_argument("--refresh-all", action="store_true", dest="no_cache", help="barca's name for --no-cache: recompute every step of the targets' cone")
    parser.add_argument("--refresh", action="append", default=[], metavar="A,B", help="recompute these assets even when cached, and every asset of the cone below them")
    parser.add_argument("--no-cascade", action="store_true", help="with --refresh: recompute only the named assets, not what reads them")
    parser.add_argument("--partition", action="append", default=[], metavar="DIM=K[,K]", help="only these partition keys, across the cone (or a JSON object for compound keys)")
    parser.add_argument("--workers", type=WORKERS, default=None, help="parallel worker processes, at least 1 (default: CPU count)")
    parser.add_argument("--store", default=None, help="artifact store: a folder (default .barque/ in the project) or s3://bucket/prefix")
    parser.add_argument("--param", action="append", default=[], metavar="K=V", help="run parameter, passed to functions that take it")
    parser.add_argument("--param-file", default=None, metavar="FILE", help="micro-batches: one run per line of FILE, each a JSON object of parameters (on top of --param)")
    parser.add_argument("--batch", action="append", default=[], metavar="[NODE=]none|all|N",
                        help="override batch= for this run: none (one key per call), all or N, of every node that declares it; NODE=V of that node")
    parser.add_argument("--batch-concurrency", type=BATCHES_AT_ONCE, default=1, metavar="N", help="with --param-file: run up to N batches at once (default 1, one after another)")
    parser.add_argument("--dry-run", action="store_true", help="list every step as run or cached, and why; run nothing")
    parser.add_argument("--fail-fast", action="store_true",
                        help="stop at the first failure: start nothing more, stop running streams, the rest is cancelled")
    parser.add_argument("--resume-from", default=None, metavar="RUN_ID",
                        help="reuse the successful steps of an earlier run that failed or was cancelled, as they are")
    parser.add_argument("--json", action="store_true", help="print the JSON summary, even on a terminal")
    parser.add_argument("--pretty", action="store_true", help="print the human summary, even when piped")
    parser.add_argument("-o", "--output", choices=("value", "json", "pretty"), default=None, help="value: print only the value (with --json, the JSON summary)")
    parser.set_defaults(func=cmd_run)




def _files_and_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "items",
        nargs="*",
        metavar="TARGET_OR_FILE",
        help="[TARGET[,TARGET...]] [FILE.py|DIR/ ...], barca's order; files first and then targets works too; no file: the current folder",
    )


def split_items(items: list[str]) -> tuple[list[str], list[str]]:
    """Files and targets of the positionals, by barca's rule (see ``barque_runtime.positionals``)."""
    from barque_runtime.positionals import split_positionals

    return split_positionals(items)


def _params(pairs: list[str]) -> dict[str, str]:
    from barque.errors import BarqueError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BarqueError(f"--param {pair!r} is not KEY=VALUE", hint="write e.g. --param date=2026-01-01")
        out[key] = value
    return out


def _print(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=None if not sys.stdout.isatty() else 2, default=str) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    """``run`` and ``get``: the same run; ``get`` refuses a task target, as barca does."""
    from barque_runtime.cancel import early_sigterm, interrupting_signal

    try:
        with early_sigterm():  # until run() takes over; never around the summary, which must print
            from barque_cli.output import output_mode, render
            from barque_runtime import api

            mode = output_mode(args.json, args.pretty, args.output, os.environ, sys.stdout.isatty())
            files, targets = split_items(args.items)
        options = dict(
            target=targets or None, workers=args.workers, store=args.store, params=_params(args.param), no_cache=args.no_cache,
            refresh=args.refresh, cascade=not args.no_cascade, partition=args.partition, assets_only=args.command == "get",
            batch=args.batch,
        )
        _check_batch_flags(args)
        if args.dry_run:
            _print(api.dry_run(*files, **options))
            return 0
        if args.param_file:  # micro-batches: one summary of them all, exit 1 unless every batch succeeded
            from barque_runtime.batches import read_param_file

            base = options.pop("params")
            batches = api.run_many(*files, params=read_param_file(args.param_file), concurrency=args.batch_concurrency, base_params=base, **options)
            _print(batches)
            cancelled = [r for r in batches["runs"] if r["status"] == "cancelled"]
            return exit_code(cancelled[0]) if cancelled else 0 if batches["status"] == "succeeded" else 1
        summary = api.run(*files, **options, fail_fast=args.fail_fast, resume_from=args.resume_from, certify=_certifier(args, mode))
    except BaseException as err:  # a signal before the run was prepared: nothing to summarize
        signum = interrupting_signal(err)
        if signum is None:
            raise
        return 128 + signum
    text = render(summary, mode)
    if text:
        sys.stdout.write(text + "\n")
    if mode == "json" and summary["status"] != "succeeded":  # barca's envelope on stderr, after the summary
        from barque_cli.envelope import envelope_line, run_failure

        failure = run_failure(summary)
        if failure is not None:
            sys.stderr.write(envelope_line(failure) + "\n")
    return exit_code(summary)


def _certifier(args: argparse.Namespace, mode: str) -> Any:
    """What writes the run's certificate (``barque_runtime.certify``), for the console script's
    own command line only: the slim entry (``barque_cli.fastrun``) answers that line next time."""
    argv = getattr(args, "console_argv", None)
    if argv is None:
        return None

    def certify(*run: Any) -> None:
        from barque_cli.output import render
        from barque_runtime.certify import certify as write

        write(argv, os.getcwd(), lambda summary: render(summary, mode), *run)

    return certify


def _check_batch_flags(args: argparse.Namespace) -> None:
    """``--param-file`` runs batches, which ``--dry-run`` does not; ``--batch-concurrency`` needs batches."""
    from barque.errors import BarqueError

    if args.param_file and args.dry_run:
        raise BarqueError("--dry-run shows one run; --param-file runs one per line", hint="drop --dry-run, or --param-file and give --param K=V")
    if args.batch_concurrency != 1 and not args.param_file:
        raise BarqueError("--batch-concurrency sets how many batches run at once", hint="give the batches with --param-file FILE")


def exit_code(summary: dict[str, Any]) -> int:
    """0 succeeded, 1 failed; a cancelled run exits as the shell reports its signal: 130 (SIGINT), 143 (SIGTERM)."""
    if summary["status"] == "cancelled":
        return 143 if summary.get("cancelled_by") == "SIGTERM" else 130
    return 0 if summary["status"] == "succeeded" else 1


def cmd_plan(args: argparse.Namespace) -> int:
    from barque_runtime import api

    manifests = [i for i in args.items if i.endswith((".yaml", ".yml"))]
    if manifests or args.parallelism is not None:
        _print(_cluster_plan(args, manifests))
        return 0
    files, targets = split_items(args.items)
    _print(api.plan(*files, target=targets or None, workers=args.workers, store=args.store, with_cache=args.cache, partition=args.partition))
    return 0


def _cluster_plan(args: argparse.Namespace, manifests: list[str]) -> dict[str, Any]:
    """The plan the operator pins for a run (``planpin.cluster_plan``): of the Pipeline in a
    manifest (its graph and parallelism), or of pipeline files under ``--parallelism``."""
    from barque.errors import BarqueError

    if args.cache or args.partition:
        raise BarqueError("--cache and --partition are the local run's: the cluster plans neither",
                          hint="leave them out with --parallelism or a Pipeline manifest, or plan the local run with --workers")
    from barque_operator.planpin import cluster_plan

    if not manifests:
        from barque.parsing import parse_project

        files, targets = split_items(args.items)
        return cluster_plan(parse_project(files or ["."], hashes=False), targets, args.parallelism).to_dict()
    if len(manifests) > 1 or len(args.items) > 2:
        raise BarqueError(f"give one Pipeline manifest (and at most a target), not {' '.join(args.items)}",
                          hint="barque plan [TARGET] etl.yaml [--parallelism N]")
    graph, parallelism = _pipeline_of(manifests[0])
    targets = [i for i in args.items if i not in manifests]
    return cluster_plan(graph, [t for given in targets for t in given.split(",")], args.parallelism or parallelism).to_dict()


def _pipeline_of(path: str) -> tuple[Any, int]:
    """The graph and parallelism of the Pipeline in a manifest (``barque compile``'s output), checked as the operator checks it."""
    import yaml

    from barque.errors import BarqueError
    from barque_operator.models import PipelineSpec
    from barque_operator.validation import pipeline_graph, pydantic_problems
    from pydantic import ValidationError

    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict) and d.get("kind") == "Pipeline"]
    except (OSError, yaml.YAMLError) as err:
        raise BarqueError(f"cannot read the manifest: {err}", where=path, hint="give the file `barque compile` wrote") from None
    if len(docs) != 1:
        raise BarqueError(f"{len(docs)} Pipeline objects in the manifest, not one", where=path,
                          hint="give the file `barque compile` wrote for one Pipeline")
    try:
        spec = PipelineSpec.model_validate(docs[0].get("spec") or {})
    except ValidationError as err:
        raise BarqueError("; ".join(pydantic_problems(err, "spec")), where=path, hint="fix the field, or compile the Pipeline again") from None
    return pipeline_graph(spec), spec.defaults.parallelism  # a packed Pipeline's is parsed from its code


def cmd_list(args: argparse.Namespace) -> int:
    from barque.parsing import parse_project

    graph = parse_project(args.files)
    rows: list[dict[str, Any]] = [
        {
            "id": n.id,
            "kind": n.kind,
            "inputs": {i.param: ("collect:" if i.collect else "") + i.source for i in n.inputs},
            "partitions": {p.dimension: p.kind for p in n.partitions},
            "freshness": n.freshness.kind + (f" {n.freshness.cron}" if n.freshness.cron else ""),
        }
        for n in sorted(graph.nodes.values(), key=lambda n: n.id)
    ]
    if args.json or not sys.stdout.isatty():
        _print(rows)
        return 0
    for r in rows:
        ins = ", ".join(f"{k}<-{v}" for k, v in r["inputs"].items()) or "-"
        print(f"{r['kind']:<7} {r['id']:<40} {r['freshness']:<10} inputs: {ins}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from barque.graphviz import run_states, to_dot, to_mermaid
    from barque.parsing import parse_project

    graph = parse_project(args.files)
    if args.run and (args.namespace or args.kubeconfig or args.context):
        from barque.hookstore import hooks_of_run

        store, run_id, records = _pipeline_run(args)
        states = run_states(records.values(), hooks_of_run(store, run_id))
    elif args.run:
        from barque.hookstore import hooks_of_run
        from barque.store import open_store

        store_uri = args.store or os.path.join(graph.root, ".barque")
        states = run_states(_run_records(store_uri, graph.root, args.run).values(), hooks_of_run(open_store(store_uri), args.run))
    else:
        states = None
    if args.format == "mermaid":
        print(to_mermaid(graph, states))
    else:
        dot = to_dot(graph, states)
        print(_render_svg(dot) if args.format == "svg" else dot)
    return 0


def _run_records(store_uri: str, root: str, run_id: str) -> dict[str, dict[str, Any]]:
    """The step records of ``run_id``: the store's, and the history's for the steps the planner
    settled as cached (they leave no record in the store); an error naming the store when there are none."""
    from barque.errors import BarqueError
    from barque.records import read_step_records
    from barque.store import open_store
    from barque_runtime.history import location, run_steps

    try:
        recs = read_step_records(open_store(store_uri), run_id)
    except ValueError as err:  # a run id that cannot be a store key
        raise BarqueError(f"--run {run_id!r} is not a run id: {err}", hint="`barque history` lists the runs") from err
    recs = {**run_steps(location(store_uri, root), run_id), **recs}
    if not recs:
        raise BarqueError(f"run {run_id} left no step records", where=store_uri, hint="`barque history` lists the runs; pass --store for another store")
    return recs


def _pipeline_run(args: argparse.Namespace) -> tuple[Any, str, dict[str, dict[str, Any]]]:
    """(store, run id, step records) of the PipelineRun ``--run`` names, from the store its status pins."""
    from barque.store import open_store
    from barque_cli.cluster_records import cluster_run_records
    from barque_cli.cmd_logs import store_location
    from barque_cli.cmd_status import Kube

    kube = Kube.connect(args)
    run = kube.get("pipelineruns", args.run)
    run_id, uri = store_location(run, lambda name: kube.get("pipelines", name))
    store = open_store(args.store or uri)
    return store, run_id, cluster_run_records(store, run, run_id)


def _render_svg(dot: str) -> str:
    """``dot`` rendered to SVG by Graphviz's ``dot`` program."""
    import shutil
    import subprocess

    from barque.errors import BarqueError

    exe = shutil.which("dot")
    if exe is None:
        raise BarqueError(
            "--format svg needs Graphviz's `dot` program, which is not installed",
            hint="install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or use --format dot",
        )
    done = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BarqueError(f"Graphviz's dot failed: {done.stderr.strip()}", where=exe, hint="report it with the output of --format dot")
    return done.stdout


def cmd_show(args: argparse.Namespace) -> int:
    from barque_runtime.inspect import stored_value

    files, targets = split_items(args.items)
    if len(targets) != 1:
        from barque.errors import BarqueError

        raise BarqueError("show takes exactly one target", hint="e.g. `barque show pipeline.py summary`")
    _print(stored_value(files, targets[0], args.store))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from barque_runtime.history import location, recent_runs

    folder = location(args.store, args.project)
    if args.run_id is None:
        _print(recent_runs(folder, args.limit))
        return 0
    from barque_runtime.runlogs import run_detail

    _print(run_detail(folder, args.run_id, args.store or os.path.join(args.project, ".barque")))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from barque.parsing import parse_project
    from barque.targets import resolve_one
    from barque_runtime.history import location, node_stats

    files, targets = split_items(args.items)
    graph = parse_project(files)
    folder = location(args.store, graph.root)
    _print([node_stats(folder, resolve_one(graph, t)) for t in targets])
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    if args.hooks:
        from barque_runtime.hooks import exec_hook

        return exec_hook(args.store, args.run, args.stream)
    from barque_runtime.podexec import exec_stream

    return exec_stream(args.store, args.run, args.phase, args.stream)
