"""The inspection commands: list, plan, graph, show, history, stats.

Real: the `barque` CLI in a child process and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok

PIPE = """
from barque import asset, partitions, task

@asset(partitions={"region": partitions(["amer", "emea"])})
def orders(region: str) -> int:
    return len(region)

@asset(inputs={"o": orders})
def doubled(o: int) -> int:
    return o * 2

@asset()
def other() -> str:
    return "x"

@task(inputs={"_d": other})
def notify(_d) -> None:
    pass
"""


def test_list_prints_every_node_with_kind_and_inputs(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    result = barque("list", "pipeline.py", cwd=tmp_path)
    assert result.code == 0
    rows = {r["id"]: r for r in result.json}
    assert sorted(rows) == ["pipeline.py:doubled", "pipeline.py:notify", "pipeline.py:orders", "pipeline.py:other"]
    assert rows["pipeline.py:notify"]["kind"] == "task"
    assert rows["pipeline.py:doubled"]["inputs"] == {"o": "pipeline.py:orders"}
    assert rows["pipeline.py:orders"]["partitions"] == {"region": "static"}


def test_plan_prints_phases_of_streams_of_steps(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    result = barque("plan", "pipeline.py", "--workers", "2", cwd=tmp_path)
    assert result.code == 0
    plan = result.json
    assert plan["total_steps"] == 5
    for phase in plan["phases"]:
        assert isinstance(phase["reason"], str) and phase["reason"]
        assert 1 <= len(phase["streams"]) <= 2
        for stream in phase["streams"]:
            assert set(stream) >= {"stream_id", "steps"} and stream["steps"]
    planned = [s for p in plan["phases"] for st in p["streams"] for s in st["steps"]]
    assert sorted(planned) == sorted(s["id"] for s in plan["steps"])
    assert len(planned) == plan["total_steps"]
    assert "pipeline.py:notify" not in planned  # a task runs only when named


def test_plan_with_cache_says_what_would_run_and_why(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    run_ok("pipeline.py", "other", cwd=tmp_path)
    plan = barque("plan", "pipeline.py", "--cache", cwd=tmp_path).json
    assert plan["cache"]["pipeline.py:other"] == {"state": "cached", "reason": "cached"}
    assert plan["cache"]["pipeline.py:orders[region=amer]"] == {"state": "run", "reason": "never materialized"}
    assert set(plan["cache"]) == {s["id"] for s in plan["steps"]}


def test_graph_prints_mermaid_by_default(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    result = barque("graph", "pipeline.py", cwd=tmp_path)
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    assert "    n_pipeline_py_orders --> n_pipeline_py_doubled" in lines
    assert "    n_pipeline_py_other --> n_pipeline_py_notify" in lines


def test_graph_prints_graphviz_dot_on_request(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    result = barque("graph", "pipeline.py", "--format", "dot", cwd=tmp_path)
    assert result.code == 0
    assert result.stdout.startswith("digraph barque {")
    assert '  "pipeline.py:orders" -> "pipeline.py:doubled";' in result.stdout.splitlines()
    assert result.stdout.rstrip().endswith("}")


def test_show_prints_a_nodes_latest_value(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    run_ok("pipeline.py", cwd=tmp_path)
    assert barque("show", "pipeline.py", "other", cwd=tmp_path).json == "x"
    assert barque("show", "pipeline.py", "doubled", cwd=tmp_path).json == {"region=amer": 8, "region=emea": 8}


def test_show_before_any_run_says_to_run_it_first(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    result = barque("show", "pipeline.py", "other", cwd=tmp_path)
    assert result.code == 2
    assert "no stored value" in result.stderr and "barque run pipeline.py other" in result.stderr


def test_history_lists_the_latest_runs_newest_first_up_to_the_limit(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    ids = [run_ok("pipeline.py", "other", cwd=tmp_path)["run_id"] for _ in range(3)]
    result = barque("history", "--limit", "2", cwd=tmp_path)
    assert result.code == 0
    runs = result.json
    assert [r["run_id"] for r in runs] == ids[:0:-1]
    assert runs[0]["status"] == "succeeded" and runs[0]["steps_cached"] == 1


def test_stats_counts_how_a_node_ran(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPE)
    run_ok("pipeline.py", "other", cwd=tmp_path)
    run_ok("pipeline.py", "other", cwd=tmp_path)
    result = barque("stats", "pipeline.py", "other", cwd=tmp_path)
    assert result.code == 0
    (stats,) = result.json
    assert stats["node"] == "pipeline.py:other"
    assert stats["by_state"] == {"succeeded": 1, "cached": 1}
    assert stats["mean_seconds"] is not None


def test_history_in_a_folder_that_never_ran_is_empty_and_leaves_nothing_behind(tmp_path: Path) -> None:
    result = barque("history", cwd=tmp_path)
    assert result.code == 0
    assert result.json == []
    assert list(tmp_path.iterdir()) == []
