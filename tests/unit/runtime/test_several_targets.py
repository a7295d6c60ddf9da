"""Several targets give barca's ``targets`` object, keyed by target in the order given.

Real: the ``barque`` CLI in a child process and a local-folder store in a temp folder. barca
0.33 gave, for ``barca run good,after,tk m1.py --json`` on the same file (its ``run`` takes
tasks only, so the mix is barque's), ``{"good": {"final_output": {"ok": true}, "status":
"success"}, "after": {"error": "ValueError: check failed ...", "failed_node": "m1.py:boom",
"status": "failed"}}`` and no ``final_output``; barque says ``succeeded`` as its runs do.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok

PIPELINE = """
from barque import asset, task

@asset()
def good() -> dict:
    return {"ok": True}

@asset()
def boom() -> int:
    raise ValueError("check failed")

@asset(inputs={"x": boom})
def after(x: int) -> int:
    return x

@task(inputs={"g": good})
def tk(g: dict) -> dict:
    return {"task": g}
"""


def test_several_targets_are_keyed_by_name_in_the_order_given(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    summary = run_ok("tk,good", "pipeline.py", cwd=tmp_path)
    assert list(summary["targets"]) == ["tk", "good"]
    assert "final_output" not in summary
    assert summary["targets"]["good"] == {"status": "succeeded", "final_output": {"ok": True}}


def test_a_task_target_reports_its_value(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    summary = run_ok("good,tk", "pipeline.py", cwd=tmp_path)
    assert summary["targets"]["tk"] == {"status": "succeeded", "final_output": {"task": {"ok": True}}}


def test_every_target_runs_when_another_fails_and_names_the_failed_node(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("run", "good,after,tk", "pipeline.py", cwd=tmp_path)
    assert result.code == 1 and result.json["status"] == "failed"
    targets = result.json["targets"]
    assert targets["good"] == {"status": "succeeded", "final_output": {"ok": True}}
    assert targets["tk"]["final_output"] == {"task": {"ok": True}}
    assert targets["after"]["status"] == "failed" and targets["after"]["failed_node"] == "pipeline.py:boom"
    assert targets["after"]["error"].startswith("ValueError: check failed")


def test_a_repeated_target_gives_the_single_target_output(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    summary = run_ok("good,good", "pipeline.py", cwd=tmp_path)
    assert summary["final_output"] == {"ok": True} and summary["targets"] == ["pipeline.py:good"]
