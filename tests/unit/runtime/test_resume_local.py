"""``barque run --resume-from RUN_ID``: the successful steps of an earlier local run that failed
are reused as they are (the cluster's rule, ``barque.resume``), even when they would run again
now, and dependants read exactly the values that run stored.

Real: the ``barque`` CLI in a child process, its worker processes and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran

CHAIN = """
import os
from barque import asset

@asset()
def src() -> int:
    trace("src")
    return int(open("data.txt").read())

@asset(inputs={"s": src})
def mid(s: int) -> int:
    trace("mid")
    return s * 10

@asset(inputs={"m": mid})
def top(m: int) -> int:
    trace("top")
    if os.environ.get("BREAK"):
        raise ValueError("top down")
    return m + 1
"""


def _failed_run(tmp_path: Path) -> str:
    pipeline(tmp_path, CHAIN)
    (tmp_path / "data.txt").write_text("1")
    first = barque("run", "pipeline.py", "--json", cwd=tmp_path, env={"BREAK": "1"})
    assert first.code == 1
    assert ran(tmp_path) == ["src", "mid", "top"]
    return str(first.json["run_id"])


def test_a_resumed_run_reuses_the_earlier_successes_even_when_they_would_run_again(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    (tmp_path / "data.txt").write_text("2")  # src would read 2 now: --no-cache would run it again
    result = barque("run", "pipeline.py", "--json", "--no-cache", "--resume-from", rid, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert ran(tmp_path) == ["top"]
    assert result.json["final_output"] == 11  # top read the mid that run stored (10), not a fresh 20


def test_the_summary_says_a_reused_step_was_resumed_and_from_which_run(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    steps = {s["id"]: s for s in barque("run", "pipeline.py", "--json", "--resume-from", rid, cwd=tmp_path).json["steps"]}
    assert steps["pipeline.py:mid"]["status"] == "resumed"
    assert steps["pipeline.py:mid"]["detail"] == f"reused from run {rid}"
    assert steps["pipeline.py:top"]["status"] == "ran"


def test_a_step_whose_code_changed_is_not_reused_nor_what_reads_it(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    pipeline(tmp_path, CHAIN.replace("return s * 10", "return s * 100"))
    result = barque("run", "pipeline.py", "--json", "--no-cache", "--resume-from", rid, cwd=tmp_path)
    assert ran(tmp_path) == ["mid", "top"]
    assert result.json["final_output"] == 101


def test_a_run_resumed_from_a_resumed_run_still_reads_the_first_runs_values(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    second = barque("run", "pipeline.py", "--json", "--resume-from", rid, cwd=tmp_path, env={"BREAK": "1"})
    assert second.code == 1
    ran(tmp_path)
    (tmp_path / "data.txt").write_text("5")
    third = barque("run", "pipeline.py", "--json", "--no-cache", "--resume-from", second.json["run_id"], cwd=tmp_path)
    assert ran(tmp_path) == ["top"] and third.json["final_output"] == 11


def test_resuming_from_an_unknown_run_names_it_and_what_to_do(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    result = barque("run", "pipeline.py", "--resume-from", "20990101T000000-abcdef", cwd=tmp_path)
    assert result.code == 2
    assert "--resume-from 20990101T000000-abcdef: that run left nothing to resume from" in result.stderr
    assert "barque history" in result.stderr
