"""barca's plan warnings from the commands: only the planned nodes, on stderr before anything
runs, and barca's ``warnings`` array in the JSON (words recorded from barca 0.33 on this file).

Real: the ``barque`` CLI in a child process, a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok

SOURCE = """
import os
from barca import asset


@asset()
def raw() -> list:
    return [1, 2, 3]


@asset(inputs={"raw": raw})
def report(raw: list) -> int:
    trace("report")
    region = os.environ.get("REGION", "eu")
    return 42


@asset(inputs={"raw": raw})
def other(raw: list) -> int:
    return len(raw) + len(os.getenv("ZONE", ""))
"""

UNUSED = ("pipeline.py:report never uses its input `raw`. It is still loaded in full each time the step runs, and it counts "
          "toward the step's cache key. Use it, remove it from inputs=, or rename the parameter `_raw` if it is there for "
          "ordering only (a `_` input is not loaded and never flagged)")


def test_get_warns_about_its_targets_cone_only_before_anything_runs(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    result = barque("get", "report", "pipeline.py", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("barque: warning: ")]
    assert lines == [f"barque: warning: {UNUSED}",
                     "barque: warning: 1 step reads environment variables not declared in env=: REGION"]
    assert [(w["kind"], w["node"], w["param"]) for w in result.json["warnings"]] == [
        ("undeclared_env", "pipeline.py:report", "REGION"), ("unused_input", "pipeline.py:report", "raw")]


def test_a_plan_without_target_reports_every_node_sorted_by_node_parameter_and_kind(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    result = barque("plan", "pipeline.py", cwd=tmp_path)
    assert [(w["node"], w["param"]) for w in result.json["warnings"]] == [
        ("pipeline.py:other", "ZONE"), ("pipeline.py:report", "REGION"), ("pipeline.py:report", "raw")]
    assert "2 steps read environment variables not declared in env=: REGION, ZONE" in result.stderr


def test_a_cached_run_reports_the_same_warnings_as_a_fresh_one(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    fresh = run_ok("report", "pipeline.py", cwd=tmp_path)["warnings"]
    assert ran(tmp_path) == ["report"]
    cached = run_ok("report", "pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == [] and cached["warnings"] == fresh


def test_a_clean_pipeline_has_an_empty_warnings_array_and_no_warning_line(tmp_path: Path) -> None:
    pipeline(tmp_path, "from barca import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    result = barque("get", "a", "pipeline.py", "--dry-run", cwd=tmp_path)
    assert result.json["warnings"] == [] and "warning" not in result.stderr


def test_more_than_five_undeclared_names_are_cut_as_barca_cuts_them(tmp_path: Path) -> None:
    reads = " + ".join(f'len(os.getenv("{n}", ""))' for n in ("F1", "F2", "A3", "B4", "C5", "D6", "E7"))
    pipeline(tmp_path, f"import os\nfrom barca import asset\n\n@asset()\ndef a() -> int:\n    return {reads}\n")
    result = barque("plan", "pipeline.py", cwd=tmp_path)
    assert "1 step reads environment variables not declared in env=: A3, B4, C5, D6, E7 (+2 more)" in result.stderr
