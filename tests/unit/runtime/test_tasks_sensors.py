"""Tasks always run when targeted and are never cached; sensors decide when dependants re-run.

Real: the `barque` CLI in a child process and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import pipeline, ran, run_ok

WITH_TASK = """
from barque import asset, task

@asset()
def parsed() -> int:
    trace("parsed")
    return 2

@task(inputs={"_parsed": parsed, "value": parsed})
def notify(_parsed, value) -> str:
    trace(f"notify:{_parsed!r}:{value!r}")
    return "sent"
"""


def test_task_is_not_run_unless_targeted(tmp_path: Path) -> None:
    pipeline(tmp_path, WITH_TASK)
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["parsed"]
    assert summary["final_output"] == 2


def test_targeted_task_runs_on_every_run_and_is_never_cached(tmp_path: Path) -> None:
    pipeline(tmp_path, WITH_TASK)
    first = run_ok("pipeline.py", "notify", cwd=tmp_path)
    second = run_ok("pipeline.py", "notify", cwd=tmp_path)
    assert ran(tmp_path) == ["parsed", "notify:None:2", "notify:None:2"]
    assert first["final_output"] == second["final_output"] == "sent"
    assert (second["steps_executed"], second["steps_cached"]) == (1, 1)


def test_task_input_named_with_underscore_receives_none(tmp_path: Path) -> None:
    pipeline(tmp_path, WITH_TASK)
    run_ok("pipeline.py", "notify", cwd=tmp_path)
    assert "notify:None:2" in ran(tmp_path)


SENSOR = """
from barque import asset, sensor

@sensor()
def inbox():
    detected, value = open("sensor.txt").read().split()
    return detected == "yes", value

@asset(inputs={"files": inbox})
def parsed(files: str) -> str:
    trace("parsed:" + files)
    return files.upper()
"""


def _poll(folder: Path, detected: str, value: str) -> list[str]:
    (folder / "sensor.txt").write_text(f"{detected} {value}")
    run_ok("pipeline.py", cwd=folder)
    return ran(folder)


def test_sensor_without_an_update_leaves_dependants_cached(tmp_path: Path) -> None:
    pipeline(tmp_path, SENSOR)
    assert _poll(tmp_path, "yes", "a") == ["parsed:a"]
    assert _poll(tmp_path, "no", "a") == []
    assert _poll(tmp_path, "no", "b") == []  # no update detected: the previous observation stands


def test_sensor_update_reruns_dependants_even_with_the_same_output(tmp_path: Path) -> None:
    pipeline(tmp_path, SENSOR)
    assert _poll(tmp_path, "yes", "a") == ["parsed:a"]
    assert _poll(tmp_path, "yes", "a") == ["parsed:a"]
    assert _poll(tmp_path, "yes", "b") == ["parsed:b"]


def test_sensor_returning_a_plain_value_reruns_dependants_only_when_it_changes(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, sensor

        @sensor()
        def inbox() -> str:
            return open("sensor.txt").read()

        @asset(inputs={"files": inbox})
        def parsed(files: str) -> str:
            trace("parsed:" + files)
            return files
        """,
    )
    assert _poll(tmp_path, "x", "a") == ["parsed:x a"]
    assert _poll(tmp_path, "x", "a") == []
    assert _poll(tmp_path, "x", "b") == ["parsed:x b"]
