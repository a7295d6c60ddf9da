"""barca's ``weight=``: a heavy step takes that many slots of the local worker pool.

Real: the ``barque`` CLI in a child process; each step records when it ran.
"""

from __future__ import annotations

from pathlib import Path

from barque.model import Graph, Node
from barque.runspec import RunSpec
from barque_runtime.workers import WorkerPool

from .clirun import barque, run_ok, write

SPANS = """
import time
from barque import asset

def span():
    start = time.time()
    time.sleep(0.3)
    return [start, time.time()]

@asset(weight=2)
def heavy_a() -> list:
    return span()

@asset(weight=2)
def heavy_b() -> list:
    return span()
"""


def spans(folder: Path) -> list[list[float]]:
    import barque

    return [barque.get(name, str(folder / "pipeline.py")) for name in ("heavy_a", "heavy_b")]


def test_two_steps_of_weight_two_never_run_at_once_on_two_workers(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SPANS)
    run_ok("pipeline.py", "--workers", "2", cwd=tmp_path)
    (a_start, a_end), (b_start, b_end) = spans(tmp_path)
    assert a_end <= b_start or b_end <= a_start


def test_a_step_heavier_than_the_pool_runs_alone_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SPANS.replace("weight=2", "weight=8"))
    result = barque("run", "pipeline.py", "--workers", "2", cwd=tmp_path)
    assert result.code == 0
    assert "has weight=8, more than the capacity 2" in result.stderr
    (a_start, a_end), (b_start, b_end) = spans(tmp_path)
    assert a_end <= b_start or b_end <= a_start


def node(name: str, weight: int) -> Node:
    return Node(id=name, kind="asset", file="p.py", module="p", function=name, line=1, weight=weight)


def test_a_stream_holds_its_heaviest_steps_weight_up_to_the_capacity() -> None:
    graph = Graph(root=".", nodes={"a": node("a", 1), "b": node("b", 3), "c": node("c", 9)})
    pool = WorkerPool(4, RunSpec(run_id="r", graph=graph), "memory://", ".")
    job = lambda *names: ("s", [{"id": n, "node": n} for n in names], {}, {})  # noqa: E731
    assert [pool.slots(job("a")), pool.slots(job("a", "b")), pool.slots(job("c"))] == [1, 3, 4]
