"""`barque doctor` checks the project, Python and the store, and runs nothing.

Real: the `barque` CLI in a child process, on temporary folders.
"""

from __future__ import annotations

import json
from pathlib import Path

from barque.store.local import SWEEP_MARKER

from .clirun import barque, write

GOOD = """
from pathlib import Path
from barque import asset

Path("imported.marker").touch()  # would appear if doctor imported the module


@asset()
def hello() -> dict:
    return {"message": "hello"}
"""


def checks(stdout: str) -> dict[str, dict]:
    doc = json.loads(stdout)
    return {c["name"]: c for c in doc["checks"]} | {"_ok": doc["ok"]}


def test_a_sound_project_passes_every_check_and_exits_0(tmp_path: Path):
    write(tmp_path, "pipeline.py", GOOD)
    result = barque("doctor", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    found = checks(result.stdout)
    assert found["_ok"] is True
    assert {"python", "workers", "project", "sources", "store"} <= set(found)
    assert found["sources"]["data"]["nodes"] == 1


def test_doctor_neither_imports_the_pipeline_nor_runs_a_step(tmp_path: Path):
    write(tmp_path, "pipeline.py", GOOD)
    barque("doctor", "pipeline.py", cwd=tmp_path)
    assert not (tmp_path / "imported.marker").exists()
    assert not list((tmp_path / ".barque").glob("runs/*"))


def test_the_store_probe_leaves_nothing_behind(tmp_path: Path):
    write(tmp_path, "pipeline.py", GOOD)
    barque("doctor", "pipeline.py", cwd=tmp_path)
    left = [p for p in (tmp_path / ".barque").rglob("*") if p.is_file()]
    assert [p for p in left if p.name != SWEEP_MARKER] == []  # the marker: no killed writer's temp file is here


def test_a_definition_error_fails_the_sources_check_with_file_and_line_and_exit_3(tmp_path: Path):
    write(tmp_path, "pipeline.py", "from barque import asset\n\n@asset(inputs={'x': missing})\ndef f(x):\n    return x\n")
    result = barque("doctor", "pipeline.py", cwd=tmp_path)
    assert result.code == 3
    sources = checks(result.stdout)["sources"]
    assert sources["ok"] is False and "pipeline.py:3" in sources["detail"]


def test_a_store_that_cannot_be_written_fails_the_store_check(tmp_path: Path):
    write(tmp_path, "pipeline.py", GOOD)
    (tmp_path / "blocker").write_text("a file where the store folder should be")
    result = barque("doctor", "pipeline.py", "--store", str(tmp_path / "blocker"), cwd=tmp_path)
    assert result.code == 3
    assert checks(result.stdout)["store"]["ok"] is False


def test_no_pipeline_files_fails_the_project_check_saying_what_to_name(tmp_path: Path):
    result = barque("doctor", cwd=tmp_path)
    assert result.code == 3
    assert "name a .py file" in checks(result.stdout)["project"]["detail"]


def test_pretty_prints_one_line_per_check(tmp_path: Path):
    write(tmp_path, "pipeline.py", GOOD)
    result = barque("doctor", "pipeline.py", "--pretty", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("[ok] ") for line in lines)
