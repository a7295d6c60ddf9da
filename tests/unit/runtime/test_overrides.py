"""``barque.run(..., overrides={...})``: a node's output stubbed for a test, kept apart from the real cache.

Real: ``barque.run`` in this process, the local runner's worker processes and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import barque
from barque.errors import BarqueError

from .clirun import barque as barque_cli, pipeline, ran

TWO = """
from barque import asset, task

@asset()
def raw() -> list:
    trace("raw")
    return [1, 2, 3]

@asset(inputs={"raw": raw})
def total(raw: list) -> int:
    trace("total")
    return sum(raw)

@task(inputs={"total": total})
def report(total: int) -> None:
    pass
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pipeline(tmp_path, TWO)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(**options: Any) -> dict[str, Any]:
    summary = barque.run("pipeline.py", target="total", workers=1, **options)
    assert summary["status"] == "succeeded", summary
    return summary


def test_an_overridden_asset_is_not_run_and_its_dependants_read_the_stub(project: Path) -> None:
    summary = run(overrides={"raw": [10, 20]})
    assert ran(project) == ["total"]
    assert summary["final_output"] == 30
    assert summary["overridden"] == ["pipeline.py:raw"]
    assert summary["steps"][0] == {"id": "pipeline.py:raw", "kind": "asset", "status": "overridden"}


def test_an_override_never_serves_a_real_run_from_what_it_computed(project: Path) -> None:
    run(overrides={"raw": [10, 20]})
    ran(project)
    assert run()["final_output"] == 6
    assert ran(project) == ["raw", "total"]


def test_an_override_is_not_served_from_the_real_cache(project: Path) -> None:
    run()
    ran(project)
    assert run(overrides={"raw": [10, 20]})["final_output"] == 30
    assert ran(project) == ["total"]


def test_an_override_equal_to_the_real_value_still_keys_its_dependants_apart(project: Path) -> None:
    run()
    ran(project)
    run(overrides={"raw": [1, 2, 3]})
    assert ran(project) == ["total"]  # keyed on the override's digest, not the real output's


def test_the_same_override_again_is_served_from_its_own_cache(project: Path) -> None:
    run(overrides={"raw": [10, 20]})
    ran(project)
    assert run(overrides={"raw": [10, 20]})["final_output"] == 30
    assert ran(project) == []


def test_a_run_with_overrides_leaves_the_latest_value_pointers_on_the_real_run(project: Path) -> None:
    run()
    run(overrides={"raw": [10, 20]})
    shown = barque_cli("show", "total", "pipeline.py", cwd=project)
    assert shown.code == 0 and shown.stdout.strip() == "6", shown


def test_overriding_a_task_is_refused_with_a_hint(project: Path) -> None:
    with pytest.raises(BarqueError, match="only an asset's output can be stubbed"):
        barque.run("pipeline.py", overrides={"report": None})


def test_overriding_an_unknown_name_is_refused(project: Path) -> None:
    with pytest.raises(BarqueError, match="nope"):
        barque.run("pipeline.py", overrides={"nope": 1})
