"""`barque run` prints one JSON summary on stdout and nothing on stderr when all goes well.

Real: the `barque` CLI in a child process, a local-folder store in a temp folder.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import NUMBERS_TOTAL, barque, pipeline, ran, run_ok

SUMMARY_KEYS = {
    "run_id",
    "status",
    "elapsed_seconds",
    "steps_executed",
    "steps_cached",
    "steps_failed",
    "steps_skipped",
    "phases",
    "final_output",
}


def test_run_prints_one_json_summary_with_every_field(tmp_path: Path) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0
    summary = result.json
    assert SUMMARY_KEYS <= set(summary)
    assert summary["status"] == "succeeded"
    assert (summary["steps_executed"], summary["steps_cached"], summary["steps_failed"], summary["steps_skipped"]) == (2, 0, 0, 0)
    assert summary["phases"] >= 1
    assert isinstance(summary["elapsed_seconds"], float)
    assert summary["final_output"] == 6


def test_successful_run_off_a_terminal_writes_nothing_to_stderr(tmp_path: Path) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0
    assert result.stderr == ""


def test_shorthand_barque_file_runs_the_pipeline(tmp_path: Path) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL)
    result = barque("pipeline.py", cwd=tmp_path)
    assert result.code == 0
    assert result.json["final_output"] == 6
    assert sorted(ran(tmp_path)) == ["numbers", "total"]


def test_final_output_is_the_targets_value_when_one_target_is_named(tmp_path: Path) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL)
    summary = run_ok("pipeline.py", "numbers", cwd=tmp_path)
    assert summary["final_output"] == [1, 2, 3]
    assert ran(tmp_path) == ["numbers"]


def test_run_from_another_folder_keeps_the_store_in_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    pipeline(project, NUMBERS_TOTAL)
    (tmp_path / "elsewhere").mkdir()
    run_ok(str(project / "pipeline.py"), cwd=tmp_path / "elsewhere")
    assert (project / ".barque").is_dir()
    assert not (tmp_path / "elsewhere" / ".barque").exists()


def test_prints_from_the_pipeline_never_reach_stdout(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import sys
        print("module loading")
        print("module warning", file=sys.stderr)

        @asset()
        def loud() -> int:
            print("inside the step")
            return 1

        @asset()
        def also_loud() -> int:
            print("inside the other step")
            return 2
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "2", cwd=tmp_path)
    assert result.code == 0
    assert result.stdout.count("\n") == 1
    assert result.json["steps_executed"] == 2


def test_target_named_like_a_data_folder_in_the_project_is_a_target(tmp_path: Path) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL)
    (tmp_path / "numbers").mkdir()
    (tmp_path / "numbers" / "raw.csv").write_text("1,2,3\n")
    summary = run_ok("pipeline.py", "numbers", cwd=tmp_path)
    assert summary["targets"] == ["pipeline.py:numbers"]
    assert ran(tmp_path) == ["numbers"]
