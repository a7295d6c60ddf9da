"""barca's organizational names, ``group()`` and ``@unsafe``, run unchanged and change nothing.

Real: the `barque` CLI in a child process.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import pipeline, run_ok

GROUPS = """
from barca import asset, group, task, unsafe


@asset()
def rows() -> list[int]:
    return [1, 2, 3]


@unsafe
@asset(inputs={"data": rows})
def model(data: list[int]) -> dict:
    return {"count": len(data)}


@task(inputs={"result": model})
def validate_model(result: dict) -> dict:
    assert result["count"] == 3
    return result


training_data = group("Training data", members=[rows], output=rows)
training = group("Training", members=[training_data, model, validate_model], output=model, description="Fit and check")
"""


def test_a_file_with_groups_and_unsafe_runs_as_without_them(tmp_path: Path):
    pipeline(tmp_path, GROUPS)
    summary = run_ok("pipeline.py", "validate_model", cwd=tmp_path)
    assert summary["steps_executed"] == 3 and summary["final_output"] == {"count": 3}


def test_groups_add_no_step(tmp_path: Path):
    pipeline(tmp_path, GROUPS)
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["steps_executed"] == 2  # rows and model; a task runs only when named
