"""Barca-syntax pipelines run without barca installed, and `barque run` loads no heavy package.

Real: the `barque` CLI (or its entry point in a small wrapper) in a child process.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

from .clirun import barque, run_ok

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_barca_is_not_installed_in_this_environment() -> None:
    assert importlib.util.find_spec("barca") is None


def test_barca_syntax_pipeline_runs_unchanged(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "barca_syntax" / "pipeline.py", tmp_path / "pipeline.py")
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["final_output"] == {"files": 2}
    with_task = run_ok("pipeline.py", "notify", cwd=tmp_path)
    assert with_task["steps_failed"] == 0 and with_task["final_output"] is None


def test_barca_syntax_pipeline_plans_and_lists(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "barca_syntax" / "pipeline.py", tmp_path / "pipeline.py")
    kinds = {r["id"]: r["kind"] for r in barque("list", "pipeline.py", cwd=tmp_path).json}
    assert kinds == {"pipeline.py:inbox": "sensor", "pipeline.py:parsed": "asset", "pipeline.py:notify": "task"}


HEAVY = ("kubernetes", "kopf", "boto3", "botocore", "pydantic", "barque_operator")

WRAPPER = """
import json, sys
from barque_cli.main import main
code = main(["run", "pipeline.py"])
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
with open("loaded.json", "w") as f:
    json.dump(loaded, f)
sys.exit(code)
"""


def test_barque_run_imports_no_kubernetes_kopf_boto3_or_pydantic(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "etl" / "pipeline.py", tmp_path / "pipeline.py")
    proc = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{WRAPPER}"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "succeeded"
    assert json.loads((tmp_path / "loaded.json").read_text()) == []
