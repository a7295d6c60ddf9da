"""Evaluate non-literal ``partitions(<expression>)`` in a separate process.

The planner never imports user code; this module runs as ``python -m
barque_runtime.partition_eval`` with the project root as its argument, reads
``[{"node", "module", "expr"}]`` as JSON on stdin, imports each module, evaluates the
expression in the module's namespace, and prints ``{"keys": {node: [...]}}`` or
``{"error": {...}}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from barque.errors import PlanError
from barque.model import Graph


def resolve_expr_partitions(graph: Graph) -> dict[str, list[str]]:
    """Keys of every node with an expression partition, evaluated in a child process."""
    wanted = [
        {"node": n.id, "module": n.module, "expr": p.expr, "where": f"{n.file}:{n.line}"}
        for n in graph.nodes.values()
        for p in n.partitions
        if p.kind == "expr"
    ]
    if not wanted:
        return {}
    import subprocess
    proc = subprocess.run(
        [sys.executable, "-m", "barque_runtime.partition_eval", graph.root],
        input=json.dumps(wanted),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        answer = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise PlanError(f"evaluating partition expressions failed:\n{proc.stderr.strip()}") from None
    if "error" in answer:
        err = answer["error"]
        raise PlanError(
            f"partitions({err['expr']}) of {err['node']} raised:\n{err['traceback'].rstrip()}",
            where=err["where"],
            hint="make the expression evaluate to a list of keys when the module is imported",
        )
    return {node: [str(k) for k in keys] for node, keys in answer["keys"].items()}


def _main(root: str) -> dict[str, Any]:
    import importlib
    import traceback

    from barque_runtime.loader import ModuleLoader

    ModuleLoader(root)
    keys: dict[str, list[Any]] = {}
    for item in json.load(sys.stdin):
        try:
            module = importlib.import_module(item["module"])
            keys[item["node"]] = list(eval(item["expr"], vars(module)))  # noqa: S307 - the user's own expression
        except Exception:
            return {"error": {**item, "traceback": traceback.format_exc()}}
    return {"keys": keys}


if __name__ == "__main__":
    # The user's module may print while it is imported: fd 1 carries the answer alone, and
    # anything else written there goes to stderr, which the parent shows only on failure.
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    answer.write(json.dumps(_main(sys.argv[1]), default=str) + "\n")
    answer.close()
