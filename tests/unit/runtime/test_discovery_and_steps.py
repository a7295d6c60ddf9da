"""Discovery as barca walks a project, `--workers` below 1, and the summary's `steps[]`.

Real: the `barque` CLI in a child process and a local-folder store in a temp folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import BarqueError

from .clirun import barque, pipeline, ran, run_ok, write

ONE = """
from barque import asset

@asset()
def {name}() -> str:
    trace("{name}")
    return "{name}"
"""


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_is_a_usage_error(tmp_path: Path, workers: str) -> None:
    pipeline(tmp_path, ONE.format(name="a"))
    result = barque("run", "pipeline.py", "--workers", workers, cwd=tmp_path)
    assert result.code == 2
    assert "--workers" in result.stderr and "give 1 or more" in result.stderr
    assert ran(tmp_path) == []


def test_python_run_with_zero_workers_raises(tmp_path: Path) -> None:
    from barque_runtime import api

    pipeline(tmp_path, ONE.format(name="a"))
    with pytest.raises(BarqueError, match="give 1 or more"):
        api.run(str(tmp_path / "pipeline.py"), workers=0)


def test_a_walk_skips_tests_folders_and_test_files(tmp_path: Path) -> None:
    pipeline(tmp_path, ONE.format(name="kept"))
    for name in ("tests/test_things.py", "test/x.py", "build/b.py", "dist/d.py", "test_top.py", "top_test.py", "conftest.py", "setup.py"):
        pipeline(tmp_path, ONE.format(name=Path(name).stem), name=name)
    summary = run_ok(".", cwd=tmp_path)
    assert [s["id"] for s in summary["steps"]] == ["pipeline.py:kept"]


def test_a_test_file_named_on_the_command_line_is_read(tmp_path: Path) -> None:
    pipeline(tmp_path, ONE.format(name="checked"), name="tests/test_pipe.py")
    summary = run_ok("tests/test_pipe.py", cwd=tmp_path)
    assert summary["final_output"] == "checked"


def test_two_sibling_directories_in_one_command(tmp_path: Path) -> None:
    pipeline(tmp_path, ONE.format(name="job"), name="jobs/job.py")
    pipeline(tmp_path, ONE.format(name="report"), name="reports/report.py")
    summary = run_ok("jobs/", "reports/", cwd=tmp_path)
    assert sorted(s["id"] for s in summary["steps"]) == ["jobs/job.py:job", "reports/report.py:report"]
    assert sorted(ran(tmp_path)) == ["job", "report"]


CHAIN = """
from barque import asset, task

@asset()
def raw() -> int:
    return 1

@asset(inputs={"raw": raw}, retries=2, retry_backoff=0)
def flaky(raw: int) -> int:
    import os
    if not os.path.exists("tried"):
        open("tried", "w").close()
        raise RuntimeError("first attempt")
    return raw

@asset(inputs={"flaky": flaky})
def after(flaky: int) -> int:
    return flaky

@task(inputs={"after": after})
def boom(after: int) -> None:
    raise ValueError("no")

@task(inputs={"_b": boom})
def later(_b: None) -> None:
    pass
"""


def test_summary_lists_every_step_with_status_reason_attempts_and_elapsed(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", CHAIN)
    first = barque("run", "later", "pipeline.py", cwd=tmp_path)
    assert first.code == 1
    steps = {s["id"]: s for s in first.json["steps"]}
    assert list(steps) == ["pipeline.py:raw", "pipeline.py:flaky", "pipeline.py:after", "pipeline.py:boom", "pipeline.py:later"]
    raw, flaky, boom, later = (steps[f"pipeline.py:{n}"] for n in ("raw", "flaky", "boom", "later"))
    assert raw == {"id": "pipeline.py:raw", "kind": "asset", "status": "ran", "reason": "not_materialized",
                   "detail": "never materialized", "attempts": 1, "elapsed_seconds": raw["elapsed_seconds"]}
    assert isinstance(raw["elapsed_seconds"], float) and raw["elapsed_seconds"] >= 0
    assert (flaky["status"], flaky["attempts"]) == ("ran", 2)
    assert (boom["kind"], boom["status"], boom["reason"]) == ("task", "failed", "task")
    assert (later["status"], later["reason"]) == ("skipped", "upstream_failed")
    again = {s["id"]: s for s in barque("run", "later", "pipeline.py", cwd=tmp_path).json["steps"]}
    # A cached step carries no reason, attempts or elapsed time, as in barca's contract.
    assert again["pipeline.py:raw"] == {"id": "pipeline.py:raw", "kind": "asset", "status": "cached"}


def test_refresh_all_recomputes_and_says_so(tmp_path: Path) -> None:
    pipeline(tmp_path, ONE.format(name="a"))
    run_ok("pipeline.py", cwd=tmp_path)
    steps = run_ok("a", "pipeline.py", "--refresh-all", cwd=tmp_path)["steps"]
    assert [(s["status"], s["reason"]) for s in steps] == [("ran", "refresh_all")]


def test_plan_refuses_zero_workers_too(tmp_path: Path) -> None:
    pipeline(tmp_path, ONE.format(name="a"))
    result = barque("plan", "pipeline.py", "--workers", "0", cwd=tmp_path)
    assert result.code == 2 and "give 1 or more" in result.stderr
