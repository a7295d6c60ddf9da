"""Declared environment variables and run parameters enter the key; `--store` picks the store folder.

Real: the `barque` CLI in a child process and local-folder stores in temp folders.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok

ENV = """
from barque import asset
import os

@asset(env=["REGION"])
def configured() -> str:
    trace("configured")
    return os.environ.get("REGION", "none")

@asset()
def plain() -> int:
    trace("plain")
    return 1
"""


def test_changing_a_declared_env_variable_reruns_the_asset(tmp_path: Path) -> None:
    pipeline(tmp_path, ENV)
    run_ok("pipeline.py", cwd=tmp_path, env={"REGION": "eu"})
    ran(tmp_path)
    summary = run_ok("pipeline.py", "configured", cwd=tmp_path, env={"REGION": "us"})
    assert ran(tmp_path) == ["configured"]
    assert summary["final_output"] == "us"


def test_undeclared_env_variables_do_not_rerun_anything(tmp_path: Path) -> None:
    pipeline(tmp_path, ENV)
    run_ok("pipeline.py", cwd=tmp_path, env={"REGION": "eu", "UNRELATED": "1"})
    ran(tmp_path)
    summary = run_ok("pipeline.py", cwd=tmp_path, env={"REGION": "eu", "UNRELATED": "2"})
    assert summary["steps_executed"] == 0
    assert ran(tmp_path) == []


PARAMS = """
from barque import asset

@asset()
def daily(day: str = "today") -> str:
    trace("daily")
    return "report for " + day

@asset()
def static() -> int:
    trace("static")
    return 1
"""


def test_param_reaches_functions_that_take_it(tmp_path: Path) -> None:
    pipeline(tmp_path, PARAMS)
    assert run_ok("pipeline.py", "daily", cwd=tmp_path)["final_output"] == "report for today"
    summary = run_ok("pipeline.py", "daily", "--param", "day=2026-01-01", cwd=tmp_path)
    assert summary["final_output"] == "report for 2026-01-01"


def test_param_is_part_of_the_key_of_functions_that_take_it_only(tmp_path: Path) -> None:
    pipeline(tmp_path, PARAMS)
    run_ok("pipeline.py", "--param", "day=2026-01-01", cwd=tmp_path)
    ran(tmp_path)
    run_ok("pipeline.py", "--param", "day=2026-01-02", cwd=tmp_path)
    assert ran(tmp_path) == ["daily"]
    summary = run_ok("pipeline.py", "--param", "day=2026-01-01", cwd=tmp_path)
    assert summary["steps_executed"] == 0  # the first day's result is still stored


def test_store_option_keeps_artifacts_in_that_folder(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    pipeline(project, PARAMS)
    run_ok("pipeline.py", "--store", str(store), cwd=project)
    assert (store / "cache").is_dir()
    assert not (project / ".barque" / "cache").exists()
    ran(project)
    again = run_ok("pipeline.py", "--store", str(store), cwd=project)
    assert again["steps_executed"] == 0
    default = run_ok("pipeline.py", cwd=project)
    assert default["steps_executed"] == 2  # the default store has never seen this pipeline


def test_show_reads_from_the_store_option(tmp_path: Path) -> None:
    pipeline(tmp_path, PARAMS)
    store = tmp_path / "elsewhere"
    run_ok("pipeline.py", "daily", "--param", "day=d", "--store", str(store), cwd=tmp_path)
    shown = barque("show", "pipeline.py", "daily", "--store", str(store), cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    assert shown.json == "report for d"
