"""Which asset is ``final_output`` with no target: barca's rule, checked against what barca printed.

Each expected name below is what barca 0.33 printed as the node of ``final_output`` for the
same file (``BARCA_POOL_SIZE=2 /tmp/barca/venv/bin/barca get FILE.py --json``, in a folder
with an empty ``barca.toml``, imports switched to ``barca``); each parametrized file below was
written out exactly as the test writes it and run so. Pure: parse, then ``last_asset`` on the
same pool of 2. tests/unit/compat/test_final_output_cases.py replays 400 generated graphs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from barque.parsing import parse_project
from barque_runtime.api import last_asset

REPO = Path(__file__).resolve().parents[3]
HEAD = "from barque import asset, sensor, task, partitions\n\n"
POOL = 2  # BARCA_POOL_SIZE the answers were recorded with


def _asset(name: str, reads: tuple[str, ...] = (), kind: str = "asset", value: int = 1) -> str:
    inputs = ", ".join(f'"{r}": {r}' for r in reads)
    params = ", ".join(f"{r}: int" for r in reads)
    args = f"inputs={{{inputs}}}" if reads else ""
    return f"\n@{kind}({args})\ndef {name}({params}) -> int:\n    return {value}\n"


def _last(tmp_path: Path, *defs: str) -> str | None:
    (tmp_path / "p.py").write_text(HEAD + "".join(defs))
    found = last_asset(parse_project([str(tmp_path / "p.py")]), POOL)
    return None if found is None else found.rpartition(":")[2]


def _bench(tmp_path: Path, shape: str) -> str | None:
    spec = importlib.util.spec_from_file_location("bench_generate", REPO / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for rel, text in getattr(gen, shape)().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return last_asset(parse_project([str(tmp_path)]), POOL)


def test_fan_out_500_gives_the_first_asset_defined(tmp_path: Path) -> None:
    # barca get pipeline.py (bench fan_out_500): .barca/artifacts/pipeline.py--f000/...
    assert _bench(tmp_path, "fan_out_500") == "pipeline.py:f000"


def test_large_payloads_gives_the_first_of_two_siblings(tmp_path: Path) -> None:
    # barca get pipeline.py (bench large_payloads: big read by total, then names): .barca/artifacts/pipeline.py--total/...
    assert _bench(tmp_path, "large_payloads") == "pipeline.py:total"


def test_multi_file_project_gives_the_end_of_its_chain(tmp_path: Path) -> None:
    # barca get pkg/ (bench multi_file_discovery): .barca/artifacts/pkg__m19.py--m19_c/...
    assert _bench(tmp_path, "multi_file_discovery") == "pkg/m19.py:m19_c"


@pytest.mark.parametrize(
    ("defs", "barca"),
    [
        # barca get t1.py: zeta, alpha, mid -> alpha (planned mid, zeta on one worker, alpha on the other)
        ((_asset("zeta"), _asset("alpha", value=2), _asset("mid", value=3)), "alpha"),
        # barca get v1.py: ab, abcdef, abc -> abcdef (the same layout: the second defined of three)
        ((_asset("ab"), _asset("abcdef", value=2), _asset("abc", value=3)), "abcdef"),
        # barca get v2.py: zeta, alpha, both "return 1" -> zeta (the first defined)
        ((_asset("zeta"), _asset("alpha")), "zeta"),
        # barca get u3.py: total, names, independent -> total (the first defined)
        ((_asset("total"), _asset("names")), "total"),
        # barca get u1.py / u2.py: big read by total and names -> whichever is defined first
        ((_asset("big"), _asset("total", ("big",)), _asset("names", ("big",))), "total"),
        ((_asset("big"), _asset("names", ("big",)), _asset("total", ("big",))), "names"),
        # barca get t2.py: chains a1->a2->a3 and b1->b2 -> b2 (the shorter chain)
        ((_asset("a1"), _asset("a2", ("a1",)), _asset("a3", ("a2",)), _asset("b1"), _asset("b2", ("b1",))), "b2"),
        # barca get t3.py: the same, b defined first -> b2 (definition order does not matter)
        ((_asset("b1"), _asset("b2", ("b1",)), _asset("a1"), _asset("a2", ("a1",)), _asset("a3", ("a2",))), "b2"),
        # barca get t4.py: two chains of two -> a2
        ((_asset("a1"), _asset("a2", ("a1",)), _asset("b1"), _asset("b2", ("b1",))), "a2"),
        # barca get t5.py: z alone and a1->a2 -> z
        ((_asset("z"), _asset("a1"), _asset("a2", ("a1",))), "z"),
        # barca get t6.py: c1->c2, b1->b2->b3, a1 -> a1
        ((_asset("c1"), _asset("c2", ("c1",)), _asset("b1"), _asset("b2", ("b1",)), _asset("b3", ("b2",)), _asset("a1")), "a1"),
        # barca get t7.py: s reads c3 (c1->c2->c3) and a1; t1->t2->t -> s (the shortest path counts)
        ((_asset("a1"), _asset("c1"), _asset("c2", ("c1",)), _asset("c3", ("c2",)), _asset("s", ("c3", "a1")),
          _asset("t1"), _asset("t2", ("t1",)), _asset("t", ("t2",))), "s"),
        # barca get t8.py: sensor aa, asset zz, asset bb read by task tk -> zz (a task's input is not an end)
        ((_asset("aa", kind="sensor"), _asset("zz"), _asset("bb"), _asset("tk", ("bb",), kind="task")), "zz"),
        # barca get p.py: parsed, read (twice) by task notify -> parsed (tasks read every end)
        ((_asset("parsed"), _asset("notify", ("parsed",), kind="task")), "parsed"),
        # barca get q.py: a1->a2, task notify reads a2 -> a2
        ((_asset("a1"), _asset("a2", ("a1",)), _asset("notify", ("a2",), kind="task")), "a2"),
    ],
)
def test_no_target_final_output_matches_barca(tmp_path: Path, defs: tuple[str, ...], barca: str) -> None:
    assert _last(tmp_path, *defs) == barca


def test_a_partitioned_end_competes_like_any_asset(tmp_path: Path) -> None:
    # barca get t9.py: zz and pp (partitioned, region amer/emea) -> pp, every key: pp's two
    # keys are two work units, so the plan is zz, pp[emea] on one worker and pp[amer] on the other
    part = '\n@asset(partitions={"region": partitions(["amer", "emea"])})\ndef pp(region: str) -> int:\n    return 1\n'
    assert _last(tmp_path, _asset("zz"), part) == "pp"


def test_ties_across_files_go_to_the_first_file(tmp_path: Path) -> None:
    # barca get . with a.py:z_y and b.py:a_x -> a.py:z_y
    (tmp_path / "a.py").write_text(HEAD + _asset("z_y"))
    (tmp_path / "b.py").write_text(HEAD + _asset("a_x"))
    assert last_asset(parse_project([str(tmp_path)]), POOL) == "a.py:z_y"


LAYOUT = {"A_up.py": ["au1"], "_u.py": ["u1"], "a_top.py": ["at1"], "b_dir/x.py": ["bx1", "bx2"], "pkg-x.py": ["px1"],
          "pkg.py": ["pk1"], "pkg/m.py": ["pm1", "pm2", "pm3"], "pkg/sub/q.py": ["sq1"], "z_top.py": ["zt1", "zt2"]}


@pytest.mark.parametrize(
    ("args", "pool", "barca"),
    [
        # barca get . : every file by its path as a string (A_up.py, _u.py, a_top.py, b_dir/x.py, pkg-x.py, pkg.py, pkg/...)
        ((".",), 1, "A_up.py:au1"),
        ((".",), 2, "_u.py:u1"),
        ((".",), 3, "_u.py:u1"),
        # barca get z_top.py pkg/m.py a_top.py: files only, read in the order given
        (("z_top.py", "pkg/m.py", "a_top.py"), 2, "z_top.py:zt1"),
        # barca get z_top.py a_top.py pkg/: a directory among them, so every file sorted again
        (("z_top.py", "a_top.py", "pkg/"), 1, "a_top.py:at1"),
        (("z_top.py", "a_top.py", "pkg/"), 2, "pkg/m.py:pm1"),
        (("b_dir/", "z_top.py"), 3, "b_dir/x.py:bx2"),
    ],
)
def test_files_are_read_in_barcas_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], pool: int, barca: str) -> None:
    for rel, names in LAYOUT.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(HEAD + "".join(_asset(n) for n in names))
    monkeypatch.chdir(tmp_path)
    assert last_asset(parse_project(list(args)), pool, files=args) == barca
