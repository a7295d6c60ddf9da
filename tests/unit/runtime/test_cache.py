"""What a re-run executes: nothing when nothing changed, and only what truly changed downstream.

Real: the `barque` CLI in a child process and a local-folder store; the pipeline's functions
trace their calls to ran.txt, so each test sees exactly which functions ran.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok, write

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

CHAIN = """
from barque import asset

@asset()
def raw() -> list:
    trace("raw")
    return [3, 1, 2]

@asset(inputs={"raw": raw})
def ordered(raw: list) -> list:
    trace("ordered")
    return sorted(raw)

@asset(inputs={"ordered": ordered})
def report(ordered: list) -> str:
    trace("report")
    return ",".join(map(str, ordered))

@asset()
def other() -> int:
    trace("other")
    return 7
"""


def _first_run(folder: Path, source: str = CHAIN) -> None:
    pipeline(folder, source)
    run_ok("pipeline.py", cwd=folder)
    ran(folder)


def test_rerunning_an_unchanged_pipeline_executes_nothing(tmp_path: Path) -> None:
    _first_run(tmp_path)
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["steps_executed"] == 0
    assert summary["steps_cached"] == 4
    assert ran(tmp_path) == []


def test_changing_one_asset_reruns_it_and_its_changed_dependants_only(tmp_path: Path) -> None:
    _first_run(tmp_path)
    pipeline(tmp_path, CHAIN.replace("return sorted(raw)", "return sorted(raw, reverse=True)"))
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["ordered", "report"]
    assert summary["steps_executed"] == 2
    assert summary["steps_cached"] == 2


def test_upstream_edit_with_identical_output_does_not_rerun_dependants(tmp_path: Path) -> None:
    source = CHAIN.replace('{"raw": raw}', '{"values": raw}').replace("def ordered(raw: list)", "def ordered(values: list)")
    source = source.replace("sorted(raw)", "sorted(values)")
    _first_run(tmp_path, source)
    # raw returns the same list, built another way: its bytes are identical.
    pipeline(tmp_path, source.replace("return [3, 1, 2]", "return [3] + [1, 2]"))
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["raw"]
    assert summary["steps_executed"] == 1
    assert summary["steps_cached"] == 3


def test_early_cutoff_holds_when_the_parameter_is_named_like_its_upstream(tmp_path: Path) -> None:
    _first_run(tmp_path)
    pipeline(tmp_path, CHAIN.replace("return [3, 1, 2]", "return [3] + [1, 2]"))
    run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["raw"]


def test_editing_comments_whitespace_and_docstrings_reruns_nothing(tmp_path: Path) -> None:
    _first_run(tmp_path)
    edited = CHAIN.replace(
        "def ordered(raw: list) -> list:\n",
        'def ordered(raw: list) -> list:\n    """Sort the raw numbers."""\n\n    # ascending order\n',
    ).replace("return sorted(raw)", "return sorted( raw )   # sorted")
    pipeline(tmp_path, edited)
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["steps_executed"] == 0
    assert ran(tmp_path) == []


def test_no_cache_forces_every_step(tmp_path: Path) -> None:
    _first_run(tmp_path)
    summary = run_ok("pipeline.py", "--no-cache", cwd=tmp_path)
    assert summary["steps_executed"] == 4
    assert summary["steps_cached"] == 0
    assert sorted(ran(tmp_path)) == ["ordered", "other", "raw", "report"]


HELPERS = """
from barque import asset

def double(x):
    return x * 2

def label(x):
    return f"<{x}>"

@asset()
def doubled() -> int:
    trace("doubled")
    return double(21)

@asset()
def labelled() -> str:
    trace("labelled")
    return label("x")
"""


def test_editing_a_local_helper_reruns_only_the_assets_that_call_it(tmp_path: Path) -> None:
    _first_run(tmp_path, HELPERS)
    pipeline(tmp_path, HELPERS.replace("return x * 2", "return x + x + 0"))
    run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["doubled"]


def _multifile(folder: Path, normalize_body: str) -> None:
    write(folder, "shop/__init__.py", "")
    write(folder, "shop/helpers.py", f"def normalize(name):\n    return {normalize_body}\n\ndef unused(x):\n    return x\n")
    pipeline(
        folder,
        """
        from barque import asset
        from shop.helpers import normalize

        @asset()
        def customers() -> list:
            trace("customers")
            return [normalize(" ada ")]

        @asset()
        def constant() -> int:
            trace("constant")
            return 1
        """,
        name="shop/sources.py",
    )


def test_editing_a_helper_in_another_file_reruns_only_its_callers(tmp_path: Path) -> None:
    _multifile(tmp_path, "name.strip().title()")
    run_ok("shop/sources.py", cwd=tmp_path)
    ran(tmp_path)
    _multifile(tmp_path, "name.strip().upper()")
    summary = run_ok("shop/sources.py", cwd=tmp_path)
    assert ran(tmp_path) == ["customers"]
    assert summary["steps_executed"] == 1


def test_dry_run_lists_every_step_as_run_or_cached_with_the_reason(tmp_path: Path) -> None:
    write(tmp_path, "util.py", "def fmt(x):\n    return str(x)\n")
    source = """
    from barque import asset
    from util import fmt

    @asset()
    def shown() -> str:
        trace("shown")
        return fmt(1)

    @asset()
    def steady() -> int:
        trace("steady")
        return 2

    @asset()
    def edited() -> int:
        trace("edited")
        return 3
    """
    pipeline(tmp_path, source)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    write(tmp_path, "util.py", "def fmt(x):\n    return repr(x)\n")
    added = "\n    @asset()\n    def fresh() -> int:\n        return 4\n"
    pipeline(tmp_path, source.replace("return 3", "return 30") + added)
    result = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.stderr
    doc = result.json
    assert doc["total_steps"] == 4
    assert {s["step"]: (s["action"], s["reason"]) for s in doc["steps"]} == {
        "pipeline.py:steady": ("cached", "cached"),
        "pipeline.py:edited": ("run", "changed: code"),
        "pipeline.py:shown": ("run", "changed: helper util.py:fmt"),
        "pipeline.py:fresh": ("run", "never materialized"),
    }
    assert ran(tmp_path) == []


def test_dry_run_names_the_changed_input_when_only_an_upstream_output_changed(tmp_path: Path) -> None:
    source = """
    from barque import asset

    @asset()
    def raw() -> str:
        return "a"

    @asset(inputs={"text": raw})
    def upper(text: str) -> str:
        return text.upper()
    """
    pipeline(tmp_path, source)
    run_ok("pipeline.py", cwd=tmp_path)
    # raw alone is re-run with a new output; upper has not read it yet
    pipeline(tmp_path, source.replace('return "a"', 'return "b"'))
    run_ok("pipeline.py", "raw", cwd=tmp_path)
    result = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path)
    steps = {s["step"]: (s["action"], s["reason"]) for s in result.json["steps"]}
    assert steps == {"pipeline.py:raw": ("cached", "cached"), "pipeline.py:upper": ("run", "changed: input raw")}


def test_multifile_package_run_by_folder_reruns_only_the_helpers_callers(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "multifile" / "shop", tmp_path / "shop")
    first = run_ok("shop", cwd=tmp_path)
    assert first["steps_executed"] == 3
    helpers = tmp_path / "shop" / "helpers.py"
    # Same result for every name the pipeline passes, so the dependants are cut off early.
    helpers.write_text(helpers.read_text().replace("name.strip().title()", "name.title().strip()"))
    dry = {s["step"]: s["reason"] for s in barque("run", "shop", "--dry-run", cwd=tmp_path).json["steps"]}
    assert dry["shop/sources.py:customers"] == "changed: helper shop/helpers.py:normalize"
    summary = run_ok("shop", cwd=tmp_path)
    assert (summary["steps_executed"], summary["steps_cached"]) == (1, 2)
