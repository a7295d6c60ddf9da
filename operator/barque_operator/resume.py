"""Which steps of an earlier run a resumed run may reuse.

Pure. A step is reused when it succeeded (or was served from the cache) in the earlier run,
its node is unchanged (code, helpers, the decorator arguments that shape its output), the
run parameters it reads are equal, and every step it reads from is reused too. Cache keys
usually make this automatic; reading the earlier records directly is what lets ``noCache``
runs, and tasks (never cached), resume as well. The reused record keeps the earlier
artifact and output id, so dependants in pods read exactly what the earlier run produced.
"""

from __future__ import annotations

from typing import Any, Mapping

from barque.cachekeys import decorator_fingerprint
from barque.model import Graph, Node
from barque.plans import Plan
from barque.steprecord import OK, reused, state_of


def _same_node(old: Node | None, new: Node) -> bool:
    return (
        old is not None
        and old.code_hash == new.code_hash
        and dict(old.helpers) == dict(new.helpers)
        and decorator_fingerprint(old) == decorator_fingerprint(new)
    )


def reusable_records(
    *,
    plan: Plan,
    graph: Graph,
    params: Mapping[str, str],
    previous_graph: Graph,
    previous_params: Mapping[str, str],
    previous_records: Mapping[str, Mapping[str, Any]],
    previous_run: str,
    run_id: str,
    by: str = "operator",
) -> dict[str, dict[str, Any]]:
    """Records to write into the new run for every step it can take from ``previous_run``."""
    taken: dict[str, dict[str, Any]] = {}
    for phase in plan.phases:
        for stream in phase.streams:
            for sid in stream.steps:
                rec = previous_records.get(sid)
                step = plan.steps[sid]
                if rec is None or state_of(rec) not in OK or rec.get("output_id") is None:
                    continue
                node = graph.nodes[step.node]
                if not _same_node(previous_graph.nodes.get(step.node), node):
                    continue
                if any(previous_params.get(p) != params.get(p) for p in node.params):
                    continue
                if any(d not in taken for d in step.deps):
                    continue
                taken[sid] = reused(rec, run_id=run_id, previous_run=previous_run, by=by).to_dict()
    return taken
