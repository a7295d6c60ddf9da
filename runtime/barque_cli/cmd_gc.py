"""``barque gc [FILES...] [--dry-run] [--max-size SIZE] [--keep-runs N]``: evict what no current plan reads.

See ``barque.storegc`` for what is kept and what goes. Prints one JSON document: what was (or,
with ``--dry-run``, would be) deleted, and the bytes freed and kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from barque.errors import BarqueError

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\Z", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


def parse_size(text: str) -> int:
    """``500M``, ``2GiB``, ``1.5G``, ``1000`` (bytes) as a number of bytes."""
    match = _SIZE.match(text.strip())
    unit = (match.group(2) or "").upper().removesuffix("B") if match else None
    if match is None or unit not in _UNITS:
        # argparse turns this into "barque gc: error: argument --max-size: ..." and exit 2
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write a number of bytes, or one with K, M, G or T (KiB, MiB, GiB: powers of 2)")
    return int(float(match.group(1)) * _UNITS[unit])


def register(sub: Any) -> None:
    p = sub.add_parser("gc", help="evict cached results and runs that no current plan reads")
    p.add_argument("files", nargs="*", metavar="FILE_OR_DIR", help="the pipeline whose plan decides what stays (default: .)")
    p.add_argument("--store", help="the store (default: .barque/ in the project root)")
    p.add_argument("--dry-run", action="store_true", help="say what would be deleted; delete nothing")
    p.add_argument("--max-size", type=parse_size, help="evict no more than it takes to get the store's artifacts under this size")
    p.add_argument("--keep-runs", type=int, default=10, help="local runs to keep, newest first (default 10)")
    p.set_defaults(func=_gc)


def _gc(args: argparse.Namespace) -> int:
    from barque.storegc import apply_gc, plan_gc
    from barque.store import open_store
    from barque_runtime.api import live_cache_keys

    if args.keep_runs < 0:
        raise BarqueError("--keep-runs cannot be negative", hint="pass 0 to delete every finished local run")
    uri, keys, nodes, scope = live_cache_keys(*(args.files or ["."]), store=args.store)
    store = open_store(uri)
    plan = plan_gc(store, keys, nodes, keep_runs=args.keep_runs, max_size=args.max_size, scope=scope)
    if not args.dry_run:
        apply_gc(store, plan)
    print(json.dumps({"dry_run": args.dry_run, "store": uri, **plan.to_dict()}, sort_keys=True))
    if plan.over_limit:
        print("barque: warning: what the current plan reads is larger than --max-size; it was kept", file=sys.stderr)
    return 0
