"""A packed Pipeline (code gzip-compressed, no ``spec.graph``) is the same Pipeline as its plain form.

What is real: ``barque compile``, the parser, the operator's models and checks, and in the run
test the operator's reconcile with ``barque exec`` processes as Pods (tests/unit/cluster_sim.py,
whose API server and Job controller are simulated). No servers.
"""

from __future__ import annotations

import base64
import gzip
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from barque_cli.cmd_compile import compile_manifest, pack
from barque_operator import inlinegraph
from barque_operator.models import INLINE_FILES_MAX_BYTES, PipelineSpec, pack_files, unpack_files
from barque_operator.planpin import cluster_plan
from barque_operator.settings import OperatorSettings
from barque_operator.validation import check_pipeline, pipeline_status
from tests.unit.cluster_sim import Cluster, step_states

SETTINGS = OperatorSettings(default_image="img:1", default_store="/tmp/unused-store")

# A package with a helper read at module level, one imported inside a function body (hashed
# into the caller's key, but its asset is not a node), and an asset in a second module.
FILES = {
    "pipeline.py": (
        "from barque import asset\n"
        "from lib.shared import scale\n"
        "from lib.more import doubled\n\n\n"
        "@asset()\n"
        "def base() -> int:\n"
        "    return scale(2)\n\n\n"
        '@asset(inputs={"b": base, "d": doubled})\n'
        "def total(b: int, d: int) -> int:\n"
        "    from lib.late import offset\n"
        "    return b + d + offset()\n"
    ),
    "lib/__init__.py": "",
    "lib/shared.py": "def scale(x: int) -> int:\n    return x * 10\n",
    "lib/more.py": "from barque import asset\n\n\n@asset()\ndef doubled() -> int:\n    return 4\n",
    "lib/late.py": (
        "from barque import asset\n\n\ndef offset() -> int:\n    return 1\n\n\n"
        "@asset()\ndef not_a_node() -> int:\n    return 0\n"
    ),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_parse_cache() -> None:
    inlinegraph._cache.clear()


def _both(project: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    plain = compile_manifest([str(project / "pipeline.py")], name="demo", form="plain")
    packed = compile_manifest([str(project / "pipeline.py")], name="demo", form="packed")
    for m in (plain, packed):
        m["metadata"].update(namespace="team-a", uid="11111111-2222-3333-4444-555555555555", generation=1)
    return plain, packed


def test_both_forms_give_the_same_graph_and_the_same_plan(project: Path) -> None:
    plain, packed = _both(project)
    assert "graph" not in packed["spec"]
    a, b = check_pipeline(plain, SETTINGS), check_pipeline(packed, SETTINGS)
    assert a.ok and b.ok, (a.message, b.message)
    assert a.graph is not None and b.graph == a.graph  # code hashes, helpers, files and root included
    assert sorted(a.graph.nodes) == ["lib/more.py:doubled", "pipeline.py:base", "pipeline.py:total"]
    assert cluster_plan(b.graph, None, 2).to_dict() == cluster_plan(a.graph, None, 2).to_dict()
    assert a.spec is not None and a.spec.code.inline is not None
    assert b.spec is not None and b.spec.code.inline is not None and b.spec.code.inline.files == a.spec.code.inline.files


def test_both_forms_run_the_same(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outcomes = []
    for form in ("plain", "packed"):
        work = tmp_path_factory.mktemp(form)
        cluster = Cluster([project / "pipeline.py"], work / "store", parallelism=2, work=work)
        if form == "packed":
            cluster.pipeline = pack(cluster.pipeline, ["pipeline.py"])
            assert "graph" not in cluster.pipeline["spec"]
        run = cluster.run("demo-1", noCache=True)
        assert run["status"]["phase"] == "Succeeded", run["status"].get("message")
        outcomes.append((step_states(run), run["status"]["sourceDigest"], run["status"]["plan"],
                         {s["id"]: s.get("artifact") for s in run["status"]["steps"]}))
    assert outcomes[0] == outcomes[1]


def test_the_ready_condition_counts_the_parsed_nodes(project: Path) -> None:
    _, packed = _both(project)
    status = pipeline_status(check_pipeline(packed, SETTINGS), 1, {}, datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert status["nodes"] == 3 and status["conditions"][0]["status"] == "True"


def test_a_packed_pipeline_whose_code_does_not_parse_is_not_ready_and_names_the_file_and_line(project: Path) -> None:
    _, packed = _both(project)
    files = {**FILES, "pipeline.py": FILES["pipeline.py"] + '\n\n@asset(inputs={"x": nowhere})\ndef broken(x: int) -> int:\n    return x\n'}
    packed["spec"]["code"]["inline"]["filesGzip"] = pack_files(files)
    check = check_pipeline(packed, SETTINGS)
    assert not check.ok and check.graph is None
    assert check.message.startswith("spec.code.inline: pipeline.py:17:21: unknown input for @asset pipeline.py:broken"), check.message
    assert "/tmp" not in check.message and "barque-inline-" not in check.message


def test_the_parsed_graph_is_reused_for_the_same_code(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, packed = _both(project)
    parses = []
    real = inlinegraph._parse
    monkeypatch.setattr(inlinegraph, "_parse", lambda *a: parses.append(1) or real(*a))
    first = check_pipeline(packed, SETTINGS).graph
    assert check_pipeline(packed, SETTINGS).graph is first and len(parses) == 1
    packed["spec"]["code"]["inline"]["filesGzip"] = pack_files({**FILES, "lib/shared.py": FILES["lib/shared.py"] + "# changed\n"})
    changed = check_pipeline(packed, SETTINGS).graph
    assert len(parses) == 2 and changed is not None and first is not None and changed.files != first.files


def _spec(inline: dict[str, Any], graph: bool = False) -> dict[str, Any]:
    return {"code": {"inline": inline}, **({"graph": {"nodes": [{"id": "a", "kind": "asset", "file": "a.py", "module": "a",
                                                               "function": "a", "line": 1}]}} if graph else {})}


def _messages(spec: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as err:
        PipelineSpec.model_validate(spec)
    return [(e["loc"], e["msg"]) for e in err.value.errors()]


@pytest.mark.parametrize("files", [
    {"a.py": 1},
    {},
    {"../escape.py": "x = 1\n"},
    {"/abs.py": "x = 1\n"},
    {"lib/./a.py": "x = 1\n"},
])
def test_bad_files_meet_the_same_error_in_both_forms(files: dict[str, Any]) -> None:
    plain = _messages(_spec({"files": files}, graph=True))
    packed = _messages(_spec({"filesGzip": pack_files(files)}, graph=True))
    assert packed == plain


def test_the_graph_may_be_left_out_only_with_the_files_to_parse_it_from() -> None:
    [(_, message)] = _messages(_spec({"files": {"a.py": "x = 1\n"}}))
    assert "spec.graph is required unless spec.code.inline.pipelineFiles" in message
    [(_, message)] = _messages(_spec({"files": {"a.py": "x = 1\n"}, "pipelineFiles": ["b.py"]}))
    assert "pipelineFiles names files that are not inline: ['b.py']" in message


def test_files_and_files_gzip_together_are_refused() -> None:
    [(loc, message)] = _messages(_spec({"files": {"a.py": ""}, "filesGzip": pack_files({"a.py": ""})}, graph=True))
    assert loc == ("code", "inline") and "set exactly one of files and filesGzip" in message


def test_a_gzip_bomb_is_refused_without_inflating_it_whole() -> None:
    bomb = base64.b64encode(gzip.compress(b"[" + b" " * (INLINE_FILES_MAX_BYTES + 1) + b"]", mtime=0)).decode()
    assert len(bomb) < 64 * 1024
    [(loc, message)] = _messages(_spec({"filesGzip": bomb}, graph=True))
    assert loc == ("code", "inline") and "filesGzip inflates to more than 32 MiB" in message


@pytest.mark.parametrize(("packed", "why"), [
    ("not base64!", "is not base64 of gzip-compressed JSON"),
    (base64.b64encode(b"plain bytes").decode(), "is not base64 of gzip-compressed JSON"),
    (base64.b64encode(gzip.compress(b"{not json", mtime=0)).decode(), "is not base64 of gzip-compressed JSON"),
    (base64.b64encode(gzip.compress(b'{"a.py": "x"}', mtime=0)[:-12]).decode(), "is cut short"),
])
def test_a_files_gzip_that_is_not_packed_files_names_the_field(packed: str, why: str) -> None:
    [(_, message)] = _messages(_spec({"filesGzip": packed}, graph=True))
    assert f"filesGzip {why}" in message


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=5))
def test_packing_round_trips_any_files(files: dict[str, str]) -> None:
    packed = pack_files(files)
    assert unpack_files(packed) == files and pack_files(dict(reversed(list(files.items())))) == packed


def test_barque_plan_of_a_packed_manifest_is_the_plan_of_its_plain_form(project: Path) -> None:
    from tests.unit.runtime.clirun import barque as cli

    for form in ("plain", "packed"):
        compiled = cli("compile", "pipeline.py", "--name", "etl", "--form", form, "-o", f"{form}.yaml", cwd=project)
        assert compiled.code == 0, compiled.stderr
    plain, packed = (cli("plan", f"{form}.yaml", "--parallelism", "2", cwd=project) for form in ("plain", "packed"))
    assert packed.code == 0, packed.stderr
    assert packed.json == plain.json and len(packed.json["phases"]) >= 1


def test_checks_of_the_same_code_at_once_parse_it_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    _, packed = _both(project)
    parses = []
    real = inlinegraph._parse

    def slow(*args: Any) -> Any:
        parses.append(1)
        time.sleep(0.2)  # long enough for the other checks to arrive while this one parses
        return real(*args)

    monkeypatch.setattr(inlinegraph, "_parse", slow)
    graphs: list[Any] = []
    threads = [threading.Thread(target=lambda: graphs.append(check_pipeline(packed, SETTINGS).graph)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(parses) == 1 and len(graphs) == 4 and all(g is graphs[0] for g in graphs)
