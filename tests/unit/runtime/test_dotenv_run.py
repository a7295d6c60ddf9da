"""A declared `env=` variable missing from the environment is read from the project's `.env`.

Real: the `barque` CLI in a child process, a `.env` file in the project root.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok

SOURCE = """
import os
from barque import asset


@asset(env=["SOURCE_CSV"])
def raw() -> dict:
    return {"source": os.environ.get("SOURCE_CSV", "default.csv")}
"""


def test_editing_a_declared_value_in_dotenv_reruns_the_step(tmp_path: Path):
    pipeline(tmp_path, SOURCE)
    (tmp_path / ".env").write_text("SOURCE_CSV=a.csv\n")
    assert run_ok("pipeline.py", cwd=tmp_path)["steps_executed"] == 1
    assert run_ok("pipeline.py", cwd=tmp_path)["steps_cached"] == 1
    (tmp_path / ".env").write_text("SOURCE_CSV=b.csv\n")
    dry = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path).json
    assert dry["steps"][0]["reason"] == "changed: env SOURCE_CSV"
    assert run_ok("pipeline.py", cwd=tmp_path)["steps_executed"] == 1


def test_the_environment_wins_over_dotenv(tmp_path: Path):
    pipeline(tmp_path, SOURCE)
    (tmp_path / ".env").write_text("SOURCE_CSV=a.csv\n")
    run_ok("pipeline.py", cwd=tmp_path, env={"SOURCE_CSV": "x.csv"})
    (tmp_path / ".env").write_text("SOURCE_CSV=b.csv\n")
    assert run_ok("pipeline.py", cwd=tmp_path, env={"SOURCE_CSV": "x.csv"})["steps_cached"] == 1
