"""`barque history RUN_ID` and local `barque logs [RUN_ID] [STEP]`, read from the local store.

Real: the `barque` CLI in a child process and a local-folder store in a temp folder; no
Kubernetes configuration anywhere (KUBECONFIG points at a file that does not exist).
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, write

PIPELINE = """
from barque import asset, task

@asset()
def numbers() -> list:
    print("making numbers")
    return [1, 2, 3]

@task(inputs={"nums": numbers})
def boom(nums: list) -> None:
    print("about to fail")
    raise ValueError("no luck")
"""

NO_CLUSTER = {"KUBECONFIG": "/nonexistent/kubeconfig"}


def _failed_run(tmp_path: Path) -> str:
    write(tmp_path, "pipeline.py", PIPELINE)
    result = barque("run", "boom", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    run_id: str = result.json["run_id"]
    return run_id


def test_history_run_id_shows_the_runs_steps_and_the_failed_steps_error(tmp_path: Path) -> None:
    run_id = _failed_run(tmp_path)
    result = barque("history", run_id, cwd=tmp_path)
    assert result.code == 0, result.stderr
    detail = result.json
    assert (detail["run_id"], detail["status"], detail["targets"]) == (run_id, "failed", ["pipeline.py:boom"])
    steps = {s["step"]: s for s in detail["steps"]}
    assert steps["pipeline.py:numbers"]["state"] == "succeeded" and "error" not in steps["pipeline.py:numbers"]
    assert steps["pipeline.py:boom"]["error"] == "ValueError: no luck"
    assert "raise ValueError" in steps["pipeline.py:boom"]["traceback"]


def test_history_of_an_unknown_run_is_a_usage_error_naming_recent_runs(tmp_path: Path) -> None:
    run_id = _failed_run(tmp_path)
    result = barque("history", "nope", cwd=tmp_path)
    assert result.code == 2
    assert "no run 'nope'" in result.stderr and run_id in result.stderr


def test_logs_without_arguments_show_the_latest_local_runs_output(tmp_path: Path) -> None:
    _failed_run(tmp_path)
    result = barque("logs", cwd=tmp_path, env=NO_CLUSTER)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert out.index("== pipeline.py:numbers") < out.index("making numbers") < out.index("== pipeline.py:boom")
    assert "about to fail" in out and "error: ValueError: no luck" in out


def test_logs_of_one_step_of_a_named_local_run(tmp_path: Path) -> None:
    run_id = _failed_run(tmp_path)
    barque("run", "numbers", "pipeline.py", cwd=tmp_path)  # a later run: the id still picks the first
    result = barque("logs", run_id, "numbers", cwd=tmp_path, env=NO_CLUSTER)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("== pipeline.py:numbers: succeeded") and "making numbers" in result.stdout
    assert "boom" not in result.stdout


def test_logs_read_a_project_elsewhere_with_project(tmp_path: Path) -> None:
    _failed_run(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    result = barque("logs", "--project", str(tmp_path), cwd=tmp_path / "elsewhere", env=NO_CLUSTER)
    assert result.code == 0 and "making numbers" in result.stdout


def test_logs_without_a_local_run_say_so(tmp_path: Path) -> None:
    result = barque("logs", cwd=tmp_path, env=NO_CLUSTER)
    assert result.code == 2 and "no local run" in result.stderr


def test_logs_of_a_name_that_is_not_a_local_run_needs_a_step_for_the_cluster(tmp_path: Path) -> None:
    result = barque("logs", "etl-x7k2p", cwd=tmp_path, env=NO_CLUSTER)
    assert result.code == 2 and "needs a STEP" in result.stderr
