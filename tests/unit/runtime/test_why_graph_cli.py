"""``barque why`` and ``barque graph --run``, end to end.

Real: the `barque` CLI in a child process, a local-folder store, and Graphviz's `dot` for the
SVG test (skipped where it is not installed).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest

from .clirun import barque, pipeline, run_ok, write

PIPE = """
from barque import asset, partitions
from helpers import norm

@asset(partitions={"region": partitions(["amer", "emea"])}, env=["API_TOKEN"])
def orders(region: str) -> int:
    return norm(len(region))

@asset(inputs={"o": orders})
def doubled(o: int) -> int:
    return o * 2
"""

FAILING = """
from barque import asset

@asset()
def good() -> int:
    return 1

@asset()
def bad() -> int:
    raise ValueError("no")

@asset(inputs={"b": bad})
def after(b: int) -> int:
    return b
"""


def project(tmp_path: Path) -> None:
    write(tmp_path, "helpers.py", "def norm(x):\n    return x\n")
    pipeline(tmp_path, PIPE)


def test_why_names_the_run_helpers_and_redacted_env_of_each_partition(tmp_path: Path) -> None:
    project(tmp_path)
    summary = run_ok("pipeline.py", cwd=tmp_path, env={"API_TOKEN": "s3cret-value"})
    result = barque("why", "orders", "pipeline.py", cwd=tmp_path, env={"API_TOKEN": "s3cret-value"})
    assert result.code == 0, result.stderr
    provs = {p["step"]: p for p in result.json}
    assert sorted(provs) == ["pipeline.py:orders[region=amer]", "pipeline.py:orders[region=emea]"]
    amer = provs["pipeline.py:orders[region=amer]"]
    assert amer["run_id"] == summary["run_id"] and amer["run"]["state"] == "succeeded" and amer["run"]["attempts"] == 1
    assert list(amer["helpers"]) == ["helpers.py:norm"]
    assert amer["env"] == {"API_TOKEN": "<redacted>"} and "s3cret" not in result.stdout
    assert amer["today"] == {"state": "current", "reason": "cached"}


def test_why_after_a_helper_edit_says_stale_and_names_the_helper(tmp_path: Path) -> None:
    project(tmp_path)
    run_ok("pipeline.py", cwd=tmp_path)
    write(tmp_path, "helpers.py", "def norm(x):\n    return x + 1\n")
    result = barque("why", "orders", "pipeline.py", "--partition", "region=emea", cwd=tmp_path)
    assert result.code == 0, result.stderr
    (prov,) = result.json
    assert prov["partition"] == {"region": "emea"}
    assert prov["today"] == {"state": "stale", "reason": "changed: helper helpers.py:norm"}


def test_why_with_depth_follows_the_inputs_to_their_producers_even_when_served_from_cache(tmp_path: Path) -> None:
    project(tmp_path)
    first = run_ok("pipeline.py", cwd=tmp_path)
    pipeline(tmp_path, PIPE.replace("o * 2", "o * 3"))  # doubled re-runs, orders is cached
    second = run_ok("pipeline.py", cwd=tmp_path)
    result = barque("why", "doubled", "pipeline.py", "--partition", "region=amer", "--depth", "1", cwd=tmp_path)
    (prov,) = result.json
    assert prov["run_id"] == second["run_id"]
    (link,) = prov["inputs"]
    assert link["source"] == "pipeline.py:orders"
    (producer,) = link["producers"]
    assert producer["step"] == "pipeline.py:orders[region=amer]" and producer["run_id"] == first["run_id"]
    assert producer["output_id"] == link["output_ids"][0]


def test_lineage_is_why_and_a_node_never_run_says_to_run_it(tmp_path: Path) -> None:
    project(tmp_path)
    result = barque("lineage", "doubled", "pipeline.py", cwd=tmp_path)
    assert result.code == 2
    assert "no stored value" in result.stderr and "barque run pipeline.py doubled" in result.stderr


def failed_run(tmp_path: Path) -> str:
    """Two runs of FAILING; the second's id (good cached, bad failed, after skipped)."""
    pipeline(tmp_path, FAILING)
    assert barque("run", "pipeline.py", cwd=tmp_path).code == 1
    second = barque("run", "pipeline.py", cwd=tmp_path)
    assert second.code == 1
    return str(second.json["run_id"])


def test_graph_run_shows_cached_failed_and_skipped_states(tmp_path: Path) -> None:
    run_id = failed_run(tmp_path)
    mermaid = barque("graph", "pipeline.py", "--run", run_id, cwd=tmp_path)
    assert mermaid.code == 0, mermaid.stderr
    lines = mermaid.stdout.splitlines()
    assert {"    class n_pipeline_py_good cached", "    class n_pipeline_py_bad failed", "    class n_pipeline_py_after skipped"} <= set(lines)
    dot = barque("graph", "pipeline.py", "--run", run_id, "--format", "dot", cwd=tmp_path).stdout
    assert 'label="pipeline.py:after\\nskipped"' in dot and 'label="pipeline.py:good\\ncached"' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graph_svg_is_xml_with_one_node_group_per_node(tmp_path: Path) -> None:
    run_id = failed_run(tmp_path)
    result = barque("graph", "pipeline.py", "--run", run_id, "--format", "svg", cwd=tmp_path)
    assert result.code == 0, result.stderr
    ns = "{http://www.w3.org/2000/svg}"
    nodes = [g.findtext(ns + "title") or "" for g in ElementTree.fromstring(result.stdout).iter(ns + "g") if g.get("class") == "node"]
    assert sorted(nodes) == ["pipeline.py:after", "pipeline.py:bad", "pipeline.py:good"]


def test_graph_svg_without_graphviz_says_to_install_it(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILING)
    result = barque("graph", "pipeline.py", "--format", "svg", cwd=tmp_path, env={"PATH": str(tmp_path)})
    assert result.code == 2
    assert "needs Graphviz's `dot`" in result.stderr and "apt-get install graphviz" in result.stderr


def test_graph_of_an_unknown_run_names_the_store(tmp_path: Path) -> None:
    pipeline(tmp_path, FAILING)
    result = barque("graph", "pipeline.py", "--run", "20990101T000000-000000", cwd=tmp_path)
    assert result.code == 2 and "left no step records" in result.stderr and ".barque" in result.stderr
