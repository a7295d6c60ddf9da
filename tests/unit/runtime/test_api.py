"""The Python API: `barque.run` and `barque.plan` return what the CLI prints, as dicts.

Real: the local runner in this process (its workers forked from it) and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import barque

from .clirun import barque as barque_cli
from .clirun import NUMBERS_TOTAL, pipeline, ran


def test_run_returns_the_summary_the_cli_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL)
    monkeypatch.chdir(tmp_path)
    summary = barque.run(str(tmp_path / "pipeline.py"), workers=1)
    assert summary["status"] == "succeeded"
    assert summary["final_output"] == 6
    assert (summary["steps_executed"], summary["steps_cached"]) == (2, 0)
    assert ran(tmp_path) == ["numbers", "total"]
    printed = barque_cli("run", "pipeline.py", cwd=tmp_path).json
    assert set(printed) == set(summary)
    assert printed["steps_cached"] == 2


def test_run_takes_a_target_and_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline(tmp_path, NUMBERS_TOTAL + '\n@asset()\ndef greet(name: str = "x") -> str:\n    return "hi " + name\n')
    monkeypatch.chdir(tmp_path)
    summary = barque.run(str(tmp_path / "pipeline.py"), target="greet", params={"name": "ada"}, workers=1)
    assert summary["final_output"] == "hi ada"


def test_plan_returns_the_plan_the_cli_prints(tmp_path: Path) -> None:
    from barque_runtime import api

    pipeline(tmp_path, NUMBERS_TOTAL)
    doc = api.plan(str(tmp_path / "pipeline.py"), workers=2)
    assert doc == barque_cli("plan", "pipeline.py", "--workers", "2", cwd=tmp_path).json
    assert doc["total_steps"] == 2


def test_barque_plan_stays_callable_once_the_runner_is_loaded(tmp_path: Path) -> None:
    import barque_runtime.api  # noqa: F401 - what any earlier barque.run or barque.plan call loads

    pipeline(tmp_path, NUMBERS_TOTAL)
    assert barque.plan(str(tmp_path / "pipeline.py"), workers=2)["total_steps"] == 2


def test_plan_without_cache_states_reads_no_code_hashes_and_plan_with_them_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from barque_runtime import api, local

    seen: list[bool] = []
    real = local.parse_project

    def spy(files, **kw):  # type: ignore[no-untyped-def]
        seen.append(kw.get("hashes", True))
        return real(files, **kw)

    monkeypatch.setattr(local, "parse_project", spy)
    pipeline(tmp_path, NUMBERS_TOTAL)
    plain = api.plan(str(tmp_path / "pipeline.py"), workers=2)
    cached = api.plan(str(tmp_path / "pipeline.py"), workers=2, with_cache=True)
    assert seen == [False, True]
    assert {k: v for k, v in cached.items() if k != "cache"} == plain
    assert cached["cache"]["pipeline.py:numbers"] == {"state": "run", "reason": "never materialized"}
