"""`barque get` and barca's argument order, output modes and the Python `barque.get`.

Real: the `barque` CLI in a child process (stdout captured, so not a terminal) and a
local-folder store in a temp folder; the terminal rule is checked on the pure function.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from barque.errors import BarqueError
from barque_cli.output import output_mode, pretty
from barque_runtime.positionals import is_file_argument, split_positionals

from .clirun import NUMBERS_TOTAL, barque, pipeline, ran, run_ok

PIPELINE = NUMBERS_TOTAL + """
from barque import partitions, task

@asset(partitions={"region": partitions(["amer", "emea"])})
def sales(region: str) -> set:
    return {region}

@task(inputs={"total": total})
def publish(total: int) -> None:
    trace("publish")
"""


def test_get_takes_the_target_first_then_the_file(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "total", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["final_output"] == 6
    assert result.json["targets"] == ["pipeline.py:total"]
    assert ran(tmp_path) == ["numbers", "total"]


def test_get_without_files_reads_the_project_in_the_current_folder(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "total", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["final_output"] == 6


def test_run_takes_barca_order_and_keeps_barques_files_first_order(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    assert run_ok("publish", "pipeline.py", cwd=tmp_path)["targets"] == ["pipeline.py:publish"]
    assert ran(tmp_path) == ["numbers", "total", "publish"]
    assert run_ok("pipeline.py", "publish", cwd=tmp_path)["targets"] == ["pipeline.py:publish"]
    assert ran(tmp_path) == ["publish"]


def test_comma_separated_targets_run_in_one_run(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    summary = run_ok("numbers,total", "pipeline.py", cwd=tmp_path)
    assert list(summary["targets"]) == ["numbers", "total"]  # barca's object keyed by target
    assert ran(tmp_path) == ["numbers", "total"]


def test_an_empty_target_name_is_a_usage_error(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "numbers,,total", "pipeline.py", cwd=tmp_path)
    assert result.code == 2
    assert "empty target name" in result.stderr


def test_get_on_a_task_is_a_usage_error_that_says_to_use_run(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "publish", "pipeline.py", cwd=tmp_path)
    assert result.code == 2
    assert "is a task" in result.stderr and "barque run publish" in result.stderr
    assert result.stdout == "" and ran(tmp_path) == []


def test_get_a_file_without_target_gets_assets_but_never_tasks(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "publish" not in ran(tmp_path)


def test_o_value_prints_only_the_value(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "numbers", "pipeline.py", "-o", "value", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == [1, 2, 3]
    assert result.stdout.startswith("[\n")  # pretty-printed, as barca prints it


def test_o_value_with_json_prints_the_json_summary(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "total", "pipeline.py", "-o", "value", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["final_output"] == 6


def test_o_value_of_a_failed_run_prints_nothing_on_stdout_and_exits_1(tmp_path: Path) -> None:
    pipeline(tmp_path, "from barque import asset\n\n@asset()\ndef boom() -> int:\n    raise ValueError('no')\n")
    result = barque("get", "boom", "pipeline.py", "-o", "value", cwd=tmp_path)
    assert result.code == 1
    assert result.stdout == ""


def test_pretty_prints_a_human_summary_even_when_piped(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "total", "pipeline.py", "--pretty", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("run ") and " succeeded in " in result.stdout
    assert "ran      pipeline.py:total" in result.stdout
    assert result.stdout.rstrip().endswith("final_output: 6")


def test_barca_output_environment_variable_picks_the_format(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("run", "total", "pipeline.py", cwd=tmp_path, env={"BARCA_OUTPUT": "pretty"})
    assert result.stdout.startswith("run ")
    bad = barque("run", "total", "pipeline.py", cwd=tmp_path, env={"BARQUE_OUTPUT": "yaml"})
    assert bad.code == 2 and "BARQUE_OUTPUT" in bad.stderr


def test_output_is_json_off_a_terminal_and_human_on_one() -> None:
    assert output_mode(False, False, None, {}, isatty=False) == "json"
    assert output_mode(False, False, None, {}, isatty=True) == "pretty"
    assert output_mode(True, False, None, {}, isatty=True) == "json"
    assert output_mode(False, True, None, {}, isatty=False) == "pretty"
    assert output_mode(False, False, "value", {}, isatty=True) == "value"
    assert output_mode(True, False, "value", {}, isatty=True) == "json"
    assert output_mode(False, False, None, {"BARQUE_OUTPUT": "pretty"}, isatty=False) == "pretty"
    with pytest.raises(BarqueError):
        output_mode(True, True, None, {}, isatty=False)


def test_pretty_summary_names_failures() -> None:
    summary = {
        "run_id": "r", "status": "failed", "elapsed_seconds": 0.5, "steps_executed": 1, "steps_cached": 0,
        "steps_failed": 1, "steps_skipped": 0, "final_output": None,
        "steps": [{"id": "p.py:boom", "kind": "asset", "status": "failed", "detail": "never materialized", "elapsed_seconds": 0.1}],
        "failures": [{"step": "p.py:boom", "error": "ValueError: no"}],
    }
    text = pretty(summary)
    assert "failed   p.py:boom in 0.10s" in text and "error    p.py:boom: ValueError: no" in text
    assert "final_output" not in text


@pytest.mark.parametrize(
    ("arg", "is_file"),
    [("pipeline.py", True), ("jobs/", True), (".", True), ("..", True), ("total", False), ("a,b", False)],
)
def test_barcas_first_positional_rule(arg: str, is_file: bool) -> None:
    assert is_file_argument(arg, isdir=lambda _: False) is is_file


def test_an_existing_directory_written_with_a_slash_is_a_file_argument(tmp_path: Path) -> None:
    (tmp_path / "pipelines" / "sub").mkdir(parents=True)
    assert is_file_argument(str(tmp_path / "pipelines" / "sub"))
    assert not is_file_argument(str(tmp_path / "pipelines" / "missing"))


def test_split_positionals_target_then_files_and_the_default_folder() -> None:
    never = lambda _: False  # noqa: E731 - no folder holds Python here
    assert split_positionals([], holds_python=never) == (["."], [])
    assert split_positionals(["total"], holds_python=never) == (["."], ["total"])
    assert split_positionals(["a,b", "x.py", "jobs/"], holds_python=never) == (["x.py", "jobs/"], ["a", "b"])
    assert split_positionals(["x.py", "report"], holds_python=never) == (["x.py"], ["report"])


def _python_get(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_python_get_returns_the_decoded_value_pickle_and_partitions_included(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    code = (
        "import barque\n"
        "print(repr(barque.get('total', 'pipeline.py')))\n"
        "print(repr(barque.get('sales', 'pipeline.py')))\n"
        "print(repr(barque.get('numbers,total')))\n"
    )
    proc = _python_get(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "6",
        "{'region=amer': {'amer'}, 'region=emea': {'emea'}}",  # sets are pickled; get decodes them
        "{'numbers': [1, 2, 3], 'total': 6}",
    ]


def test_python_get_raises_barque_error_when_a_step_fails(tmp_path: Path) -> None:
    pipeline(tmp_path, "from barque import asset\n\n@asset()\ndef boom() -> int:\n    raise ValueError('no')\n")
    code = (
        "import barque\n"
        "try:\n    barque.get('boom', 'pipeline.py')\n"
        "except barque.BarqueError as err:\n    print('raised', err.exit_code, 'ValueError: no' in str(err))\n"
    )
    proc = _python_get(tmp_path, code)
    assert proc.stdout.strip() == "raised 1 True", proc.stderr


def test_a_folder_named_without_a_slash_then_targets_keeps_barques_order(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE, name="shop/pipeline.py")
    summary = run_ok("shop", "total", cwd=tmp_path)
    assert summary["targets"] == ["pipeline.py:total"] and summary["final_output"] == 6


def test_a_name_followed_by_a_folder_is_a_target_as_in_barca(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE, name="total/pipeline.py")  # a folder with the asset's name
    summary = run_ok("total", "total/", cwd=tmp_path)
    assert summary["targets"] == ["pipeline.py:total"]


def test_get_dry_run_refuses_a_task_too(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "publish", "pipeline.py", "--dry-run", cwd=tmp_path)
    assert result.code == 2 and "is a task" in result.stderr
    assert barque("run", "publish", "pipeline.py", "--dry-run", cwd=tmp_path).code == 0
