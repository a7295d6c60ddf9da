"""``--resume-from`` past the first plan, and what it leaves to read afterwards: the keys a node's
partitions grew to in the earlier run are reused when the resumed run's plan grows to them too,
``barque why`` says which input a run took over by resume and from which run, and ``barque graph
--run`` draws those steps ``resumed``.

Real: the ``barque`` CLI in a child process, its worker processes and a local-folder store.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran

GROWN = """
import os
from barque import asset, collect, partitions_from

@asset()
def regions() -> list:
    trace("regions")
    return ["amer", "emea"]

@asset(partitions={"region": partitions_from(regions)})
def sales(region: str) -> int:
    trace(f"sales {region}")
    return len(region) * int(open("data.txt").read())

@asset(inputs={"all": collect(sales)})
def total(all: list) -> int:
    trace("total")
    if os.environ.get("BREAK"):
        raise ValueError("total down")
    return sum(all)
"""


def _failed_run(tmp_path: Path) -> str:
    pipeline(tmp_path, GROWN)
    (tmp_path / "data.txt").write_text("1")
    first = barque("run", "pipeline.py", "--json", cwd=tmp_path, env={"BREAK": "1"})
    assert first.code == 1
    assert sorted(ran(tmp_path)) == ["regions", "sales amer", "sales emea", "total"]
    (tmp_path / "data.txt").write_text("2")  # sales would give other values now, if it ran
    return str(first.json["run_id"])


def test_a_resumed_run_reuses_the_keys_its_plan_grows_to_as_the_earlier_run_stored_them(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    result = barque("run", "pipeline.py", "--json", "--no-cache", "--resume-from", rid, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert ran(tmp_path) == ["total"]
    assert result.json["final_output"] == 8  # the earlier run's sales (4 + 4), not today's (8 + 8)
    statuses = {s["id"]: s["status"] for s in result.json["steps"]}
    assert statuses["pipeline.py:sales[region=amer]"] == statuses["pipeline.py:sales[region=emea]"] == "resumed"


def test_a_grown_key_whose_code_changed_is_run_again_and_what_reads_it(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    pipeline(tmp_path, GROWN.replace("return len(region) *", "return 10 * len(region) *"))
    result = barque("run", "pipeline.py", "--json", "--no-cache", "--resume-from", rid, cwd=tmp_path)
    assert sorted(ran(tmp_path)) == ["sales amer", "sales emea", "total"]
    assert result.json["final_output"] == 160


def test_why_says_which_input_a_run_took_over_by_resume_and_from_which_run(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    resumed = barque("run", "pipeline.py", "--json", "--no-cache", "--resume-from", rid, cwd=tmp_path).json["run_id"]
    (prov,) = barque("why", "total", "pipeline.py", "--depth", "1", cwd=tmp_path).json
    assert prov["run_id"] == resumed
    (link,) = prov["inputs"]
    assert link["resumed_from"] == rid
    assert link["resumed_steps"] == ["pipeline.py:sales[region=amer]", "pipeline.py:sales[region=emea]"]
    assert {p["run_id"] for p in link["producers"]} == {rid}  # the run that made those values


def test_why_names_no_resume_for_inputs_a_run_computed_itself(tmp_path: Path) -> None:
    pipeline(tmp_path, GROWN)
    (tmp_path / "data.txt").write_text("1")
    barque("run", "pipeline.py", cwd=tmp_path)
    (prov,) = barque("why", "total", "pipeline.py", cwd=tmp_path).json
    assert (prov["inputs"][0]["resumed_from"], prov["inputs"][0]["resumed_steps"]) == (None, [])


def test_graph_of_a_resumed_run_draws_the_steps_it_took_over_as_resumed(tmp_path: Path) -> None:
    rid = _failed_run(tmp_path)
    resumed = barque("run", "pipeline.py", "--json", "--resume-from", rid, cwd=tmp_path).json["run_id"]
    mermaid = barque("graph", "pipeline.py", "--run", resumed, cwd=tmp_path).stdout
    assert "class n_pipeline_py_sales resumed" in mermaid and "class n_pipeline_py_total succeeded" in mermaid
    assert "2/2 resumed" in mermaid
