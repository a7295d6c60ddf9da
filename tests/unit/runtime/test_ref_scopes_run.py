"""Two projects that share one store and a step id keep their own sensor observations and
``Manual`` pins (refs are scoped by project). Real: the ``barque`` CLI in child processes and a
local-folder store both projects name with ``--store``."""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok
from .test_tasks_sensors import SENSOR

MANUAL = """
from barque import Manual, asset

@asset(freshness=Manual)
def baseline() -> dict:
    trace("baseline")
    return {"v": VERSION}
"""


def _projects(tmp_path: Path, source: str) -> tuple[Path, Path, str]:
    sales, marketing = tmp_path / "sales", tmp_path / "marketing"
    for folder in (sales, marketing):
        folder.mkdir()
        pipeline(folder, source)
    return sales, marketing, str(tmp_path / "shared-store")


def _poll(folder: Path, store: str, detected: str, value: str) -> tuple[list[str], object]:
    (folder / "sensor.txt").write_text(f"{detected} {value}")
    summary = run_ok("parsed", "pipeline.py", "--store", store, cwd=folder)
    return ran(folder), summary["final_output"]


def test_a_sensor_without_an_update_keeps_its_own_projects_observation(tmp_path: Path) -> None:
    sales, marketing, store = _projects(tmp_path, SENSOR)
    assert _poll(sales, store, "yes", "a") == (["parsed:a"], "A")
    # marketing's first poll reports no update: it has no observation of its own yet, and must
    # not take sales' one (which would serve sales' "A")
    assert _poll(marketing, store, "no", "m") == (["parsed:m"], "M")
    assert _poll(sales, store, "no", "z") == ([], "A")


def test_a_manual_pin_of_one_project_is_not_served_to_another(tmp_path: Path) -> None:
    sales, marketing, store = _projects(tmp_path, MANUAL.replace("VERSION", "1"))
    assert run_ok("baseline", "pipeline.py", "--store", store, "--refresh", "baseline", cwd=sales)["final_output"] == {"v": 1}
    pipeline(marketing, MANUAL.replace("VERSION", "2"))
    refused = barque("get", "baseline", "pipeline.py", "--store", store, cwd=marketing)
    assert refused.code == 2 and "Manual and has never been computed" in refused.stderr
    assert ran(marketing) == []
    assert run_ok("baseline", "pipeline.py", "--store", store, cwd=sales)["final_output"] == {"v": 1}
