"""The graph renderers with a run's states: aggregation of step records, Mermaid classes, DOT
colours and quoting. Pure; the one test that runs Graphviz's `dot` is skipped without it."""

from __future__ import annotations

import shutil
import subprocess
from xml.etree import ElementTree

import pytest

from barque.graphviz import COLORS, NodeRun, run_states, to_dot, to_mermaid

from .graphs import graph, inp, node


def rec(node_id: str, state: str, started: float | None = None, finished: float | None = None) -> dict[str, object]:
    return {"node": node_id, "state": state, "started_at": started, "finished_at": finished}


def test_partitions_of_one_node_aggregate_into_counts_and_their_wall_time() -> None:
    states = run_states([rec("p.py:a", "succeeded", 10.0, 11.0), rec("p.py:a", "succeeded", 10.5, 12.0), rec("p.py:a", "succeeded", 10.0, 10.5)])
    assert states["p.py:a"] == NodeRun("succeeded", (("succeeded", 3),), 2.0)
    assert states["p.py:a"].label == "3/3 succeeded 2s"


def test_a_failed_partition_colours_the_whole_node_failed_and_the_counts_say_how_many() -> None:
    states = run_states([rec("p.py:a", "succeeded", 1.0, 2.0), rec("p.py:a", "failed", 1.0, 3.0), rec("p.py:a", "succeeded", 1.0, 2.0)])
    assert states["p.py:a"].state == "failed"
    assert states["p.py:a"].label == "2/3 succeeded, 1 failed 2s"


def test_filtered_keys_never_outrank_a_failed_or_succeeded_one() -> None:
    states = run_states([rec("p.py:a", "filtered"), rec("p.py:a", "failed", 1.0, 2.0), rec("p.py:b", "filtered"), rec("p.py:b", "succeeded", 1.0, 2.0)])
    assert (states["p.py:a"].state, states["p.py:b"].state) == ("failed", "succeeded")
    assert states["p.py:b"].label == "1/2 filtered, 1 succeeded 1s"


def test_every_state_a_step_can_end_in_has_its_own_colour() -> None:
    assert {"succeeded", "cached", "failed", "crashed", "skipped", "filtered", "cancelled", "resumed"} <= set(COLORS)


def test_a_step_taken_over_by_resume_is_drawn_resumed_not_cached() -> None:
    states = run_states([{**rec("p.py:a", "cached", 5.0, 5.0), "reused_from": "20261201T101500-3f2a1c"}, rec("p.py:a", "cached")])
    assert states["p.py:a"].label == "1/2 cached, 1 resumed"


def test_a_run_hook_shows_its_own_state_and_duration() -> None:
    states = run_states([rec("p.py:a", "succeeded", 1.0, 2.0)], [{"hook": "p.py:h", "state": "failed", "duration_seconds": 0.25}])
    assert states["p.py:h"] == NodeRun("failed", (("failed", 1),), 0.25)
    assert states["p.py:h"].label == "failed 0.25s" and states["p.py:a"].state == "succeeded"


def test_cached_and_skipped_steps_have_no_duration() -> None:
    states = run_states([rec("p.py:c", "cached", 5.0, 5.0), rec("p.py:s", "skipped")])
    assert states["p.py:c"].label == "cached"
    assert states["p.py:s"].label == "skipped"


def test_mermaid_gives_each_node_its_states_class_and_a_node_outside_the_run_shows_not_run() -> None:
    g = graph(node("a"), node("b", inputs=(inp("a", "a"),)))
    text = to_mermaid(g, run_states([rec("p.py:a", "failed", 0.0, 1.0)]))
    assert '    n_p_py_a["p.py:a (asset)<br/>failed 1s"]' in text
    assert "    class n_p_py_a failed" in text
    assert "    class n_p_py_b not_run" in text
    assert f"    classDef failed fill:{COLORS['failed']},stroke:#555" in text


def test_dot_fills_each_node_with_its_states_colour() -> None:
    g = graph(node("a"))
    text = to_dot(g, run_states([rec("p.py:a", "cached")]))
    assert f'  "p.py:a" [shape=box, style=filled, fillcolor="{COLORS["cached"]}", label="p.py:a\\ncached"];' in text.splitlines()


def test_dot_escapes_quotes_in_node_ids_and_backslashes_in_labels() -> None:
    g = graph(node('a"b\\c'), node("c", inputs=(inp("x", 'a"b\\c'),)))
    lines = to_dot(g, run_states([])).splitlines()
    assert '  "p.py:a\\"b\\c" -> "p.py:c";' in lines
    assert any('label="p.py:a\\"b\\\\c\\nnot run"' in line for line in lines)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_reads_the_escaped_dot_back_with_the_original_ids() -> None:
    g = graph(node('a"b\\c'), node("c", inputs=(inp("x", 'a"b\\c'),)))
    svg = subprocess.run(["dot", "-Tsvg"], input=to_dot(g, run_states([])), capture_output=True, text=True, check=True).stdout
    ns = "{http://www.w3.org/2000/svg}"
    titles = [el.findtext(ns + "title") or "" for el in ElementTree.fromstring(svg).iter(ns + "g") if el.get("class") == "node"]
    assert sorted(titles) == ['p.py:a"b\\c', "p.py:c"]
    assert 'p.py:a"b\\c' in ElementTree.fromstring(svg).itertext()  # the label shows the id as typed
