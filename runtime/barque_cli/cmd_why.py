"""``barque why TARGET [FILES...]`` (alias ``barque lineage``): where a stored value came from.

Thin: parses the arguments, asks ``barque_runtime.lineage.why`` and prints its records as text
on a terminal or as JSON (``--json``, or whenever stdout is not a terminal, as ``list`` does).
With ``--pipeline NAME`` it asks about the values a cluster Pipeline's runs stored: the Pipeline
(read from the cluster) names the store (``spec.store.uri``, or ``--store``) and the env values
its steps are keyed with (``spec.defaults.env``), and its refs scope (namespace and name) says
which stored values are its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from barque.errors import BarqueError
from barque_cli.usage import add_cluster_args


def register(sub: Any) -> None:
    for name in ("why", "lineage"):
        p = sub.add_parser(name, help="say which run, code and inputs produced a node's stored value, and if it is current")
        p.add_argument("items", nargs="+", metavar="TARGET_OR_FILE", help="the node, and the pipeline files or folders (default: .)")
        p.add_argument("--store", default=None, help="the store: a folder (default .barque/ in the project) or s3://bucket/prefix")
        p.add_argument("--partition", action="append", default=[], metavar="DIM=KEY", help="only this partition key")
        p.add_argument("--param", action="append", default=[], metavar="K=V", help="run parameter today's key is made with")
        p.add_argument("--depth", type=int, default=0, help="follow the inputs' producers this many levels up (default 0)")
        p.add_argument("--json", action="store_true", help="JSON even on a terminal")
        p.add_argument("--pipeline", default=None, metavar="NAME",
                       help="the values this cluster Pipeline's runs stored (its store, env and refs; -n for its namespace)")
        add_cluster_args(p)
        p.set_defaults(func=cmd_why)


def _pairs(flag: str, pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BarqueError(f"{flag} {pair!r} is not KEY=VALUE", hint=f"write e.g. {flag} region=emea")
        out[key] = value
    return out


def cmd_why(args: argparse.Namespace) -> int:
    from barque_cli.cmd_local import split_items
    from barque_runtime.lineage import format_text, why

    try:
        files, targets = split_items(args.items)
    except BarqueError:  # no file named: the project is the current folder
        files, targets = ["."], list(args.items)
    if len(targets) != 1:
        raise BarqueError("why takes exactly one target", hint="e.g. `barque why report pipeline.py`")
    if args.depth < 0:
        raise BarqueError("--depth cannot be negative", hint="0 shows the value alone, 1 its inputs' producers too")
    store, cluster = args.store, None
    if args.pipeline:
        store, cluster = pipeline_side(args)
    provs = why(
        files,
        targets[0],
        store=store,
        cluster=cluster,
        params=_pairs("--param", args.param),
        partition=_pairs("--partition", args.partition),
        depth=args.depth,
    )
    if args.json or not sys.stdout.isatty():
        sys.stdout.write(json.dumps([p.to_dict() for p in provs], default=str) + "\n")
    else:
        print(format_text(provs))
    return 0


def pipeline_side(args: argparse.Namespace) -> tuple[str, Any]:
    """(store URI, ``ClusterScope``) of the Pipeline ``--pipeline`` names, read from the cluster."""
    from barque.artifacts import cluster_ref_scope
    from barque_cli.cmd_status import Kube, cli_error
    from barque_runtime.lineage import ClusterScope

    kube = Kube.connect(args)
    spec = kube.get("pipelines", args.pipeline).get("spec") or {}
    where = f"Pipeline {kube.namespace}/{args.pipeline}"
    store = args.store or (spec.get("store") or {}).get("uri")
    if not store:
        raise cli_error("the Pipeline names no store (spec.store.uri): its runs use the operator's default store",
                        where=where, hint="pass --store s3://BUCKET/PREFIX (a run's status.storeUri, `barque status RUN --json`)",
                        exit_code=2)
    env = dict((spec.get("defaults") or {}).get("env") or {})
    return store, ClusterScope(scope=cluster_ref_scope(kube.namespace, args.pipeline), env=env)
