"""Run hooks (``@task(on=...)``): read statically, chosen by the run driver once the run's
outcome is known, and given a report built from the step records.

Pure: the parser on files in a temporary folder, the driver on hand-built plans.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.planner import make_plan
from barque.rundriver import Snapshot, decide
from barque.runreport import hooks_due, hooks_of, run_report
from barque.steprecord import StepRecord, StepState

from .fixtures.parse import parse, parse_error, write
from .graphs import graph, node

HEADER = "from barque import asset, task\n"
HOOKS = {"p.py:on_fail": "failure", "p.py:on_ok": "success", "p.py:after": "always"}


def test_on_is_read_from_the_task_decorator(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@task(on='failure')\ndef alert(run_report):\n    pass\n"})
    assert parse(tmp_path).nodes["p.py:alert"].on == "failure"


def test_a_node_without_on_is_no_hook(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@task()\ndef t():\n    pass\n"})
    assert parse(tmp_path).nodes["p.py:t"].on is None


def test_an_unknown_trigger_names_the_line_and_the_accepted_ones(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@task(on='sometimes')\ndef alert():\n    pass\n"})
    err = parse_error(tmp_path)
    assert (err.where or "").startswith("p.py:2:") and err.message == "on='sometimes' is not a run hook's trigger"
    assert "'failure', 'success', 'always'" in (err.hint or "")


def test_on_is_no_argument_of_an_asset(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@asset(on='failure')\ndef a():\n    return 1\n"})
    assert "`on` is not an argument of @asset" in parse_error(tmp_path).message


def test_a_hook_with_inputs_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@asset()\ndef a():\n    return 1\n\n@task(on='always', inputs={'a': a})\ndef h(a):\n    pass\n"})
    err = parse_error(tmp_path)
    assert "cannot have inputs" in err.message and "run_report" in (err.hint or "")


@pytest.mark.parametrize(("state", "due"), [
    ("succeeded", ("p.py:after", "p.py:on_ok")),
    ("failed", ("p.py:after", "p.py:on_fail")),
    ("cancelled", ("p.py:after",)),
])
def test_the_outcome_selects_the_hooks_by_their_trigger(state: str, due: tuple[str, ...]) -> None:
    assert hooks_due(HOOKS, state) == due


GRAPH = graph(node("a"), node("on_fail", kind="task", on="failure"), node("after", kind="task", on="always"))


def test_hooks_are_not_phases_of_the_plan() -> None:
    plan = make_plan(GRAPH, None, 2, {})
    assert set(plan.steps) == {"p.py:a"}


def test_the_driver_names_no_hook_before_the_run_is_over() -> None:
    plan = make_plan(GRAPH, None, 2, {})
    first = decide(Snapshot(plan, {}, {}, hooks=hooks_of(GRAPH.nodes.values())))
    assert first.start is not None and first.hooks == ()


def test_the_driver_names_the_hooks_the_outcome_calls_when_the_run_is_over() -> None:
    plan = make_plan(GRAPH, None, 2, {})
    failed = {"p.py:a": StepRecord("p.py:a", "p.py:a", StepState.FAILED, attempts=1)}
    end = decide(Snapshot(plan, failed, {}, hooks=hooks_of(GRAPH.nodes.values())))
    assert end.outcome is not None and end.outcome.state == "failed"
    assert end.hooks == ("p.py:after", "p.py:on_fail")


def test_a_cancelled_run_calls_only_the_always_hooks() -> None:
    plan = make_plan(GRAPH, None, 2, {})
    end = decide(Snapshot(plan, {}, {}, hooks=hooks_of(GRAPH.nodes.values()), cancelled=True))
    assert end.outcome is not None and end.outcome.state == "cancelled" and end.hooks == ("p.py:after",)


def test_the_report_lists_each_step_with_state_attempts_duration_and_error() -> None:
    records = {
        "a": {"step": "a", "state": "succeeded", "attempts": 1, "duration_seconds": 0.5},
        "b": {"step": "b", "state": "failed", "attempts": 3, "duration_seconds": 1.0, "error": {"type": "ValueError", "message": "bad"}},
    }
    report = run_report("r1", "failed", records)
    assert report == {
        "run_id": "r1", "status": "failed", "failed": ["b"],
        "steps": {"a": {"state": "succeeded", "attempts": 1, "duration_seconds": 0.5, "error": None},
                  "b": {"state": "failed", "attempts": 3, "duration_seconds": 1.0, "error": "ValueError: bad"}},
    }
