"""`--refresh`, `--no-cascade` and `--refresh-all` with barca's meaning ("Exactly what --refresh does").

Real: the `barque` CLI in a child process and a local-folder store in a temp folder; `ran()`
shows exactly which functions were called.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok

CHAIN = """
from barque import Manual, asset

@asset()
def side() -> int:
    trace("side")
    return 0

@asset()
def src() -> int:
    trace("src")
    return 1

@asset(inputs={"src": src})
def mid(src: int) -> int:
    trace("mid")
    return src

@asset(inputs={"mid": mid, "side": side})
def top(mid: int, side: int) -> int:
    trace("top")
    return mid + side

@asset(freshness=Manual)
def pinned() -> int:
    trace("pinned")
    return 5

@asset(inputs={"pinned": pinned})
def reads_pinned(pinned: int) -> int:
    trace("reads_pinned")
    return pinned
"""


def _reasons(summary: dict) -> dict[str, str]:
    return {s["id"].rpartition(":")[2]: s.get("reason", "cached") for s in summary["steps"]}


def test_refresh_recomputes_the_named_asset_and_everything_below_it_in_the_cone(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("top", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    summary = run_ok("top", "pipeline.py", "--refresh", "src", cwd=tmp_path)
    assert ran(tmp_path) == ["src", "mid", "top"]  # side, not below src, stays cached
    assert _reasons(summary) == {"side": "cached", "src": "refresh", "mid": "refresh_cascade", "top": "refresh_cascade"}
    assert "pipeline.py:src" in next(s["detail"] for s in summary["steps"] if s["id"] == "pipeline.py:mid")


def test_no_cascade_recomputes_only_the_named_assets(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("top", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    summary = run_ok("top", "pipeline.py", "--refresh", "src,side", "--no-cascade", cwd=tmp_path)
    assert sorted(ran(tmp_path)) == ["side", "src"]
    assert _reasons(summary) == {"side": "refresh", "src": "refresh", "mid": "cached", "top": "cached"}


def test_refresh_may_name_the_target_and_repeat(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("top", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    run_ok("top", "pipeline.py", "--refresh", "top", "--refresh", "mid", cwd=tmp_path)
    assert ran(tmp_path) == ["mid", "top"]


def test_refresh_of_a_name_outside_the_cone_is_a_usage_error_listing_the_valid_ones(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    result = barque("get", "mid", "pipeline.py", "--refresh", "side", cwd=tmp_path)
    assert result.code == 2
    assert "pipeline.py:mid, pipeline.py:src" in result.stderr
    assert ran(tmp_path) == []


def test_no_cascade_without_refresh_is_a_usage_error(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    result = barque("get", "top", "pipeline.py", "--no-cascade", cwd=tmp_path)
    assert result.code == 2 and "--refresh" in result.stderr


def test_refresh_recomputes_a_manual_upstream_that_is_otherwise_read_as_it_is(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pinned", "pipeline.py", "--refresh", "pinned", cwd=tmp_path)  # barca: a Manual node runs only so
    run_ok("reads_pinned", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    run_ok("reads_pinned", "pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == []
    run_ok("reads_pinned", "pipeline.py", "--refresh", "pinned", cwd=tmp_path)
    assert ran(tmp_path) == ["pinned", "reads_pinned"]


def test_dry_run_says_what_refresh_will_recompute(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("top", "pipeline.py", cwd=tmp_path)
    dry = barque("run", "top", "pipeline.py", "--refresh", "mid", "--dry-run", cwd=tmp_path).json
    assert {s["step"]: s["reason"] for s in dry["steps"]} == {
        "pipeline.py:side": "cached",
        "pipeline.py:src": "cached",
        "pipeline.py:mid": "forced: --refresh",
        "pipeline.py:top": "forced: --refresh of pipeline.py:mid (cascade)",
    }


def test_python_get_takes_refresh(tmp_path: Path) -> None:
    import subprocess
    import sys

    pipeline(tmp_path, CHAIN)
    run_ok("top", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    code = "import barque\nprint(barque.get('mid', 'pipeline.py', refresh=['src'], cascade=False))\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "1", proc.stderr
    assert ran(tmp_path) == ["src"]


def test_no_cascade_warns_about_each_cached_asset_below_a_refreshed_one(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("top", "pipeline.py", cwd=tmp_path)
    result = barque("run", "top", "pipeline.py", "--refresh", "src", "--no-cascade", cwd=tmp_path)
    assert result.code == 0
    warned = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warned) == 2 and "pipeline.py:mid was served from cache but depends on refreshed pipeline.py:src" in warned[0]
    assert "pipeline.py:top" in warned[1]
    assert "warning" not in barque("run", "top", "pipeline.py", "--refresh", "src", cwd=tmp_path).stderr
