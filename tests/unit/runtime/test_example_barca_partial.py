"""``examples/barca_partial``: a barca file (``from barca import ...``) with ``parallel_map``,
``Failed``, a ``.pkl`` sink and a ``Manual`` asset runs unchanged under barque.

Real: the ``barque`` CLI in a child process (barca is not installed, so ``barca`` is barque).
The expected outcome is what barca 0.33 gives for the same file: exit 1, the key ``mea``
failed with ``BatchKeyFailed: mea has no orders``, the other keys computed and sunk to the
same pickle files, ``report`` skipped; a second run re-runs ``mea`` alone.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

from .clirun import barque

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "barca_partial" / "pipeline.py"
EXPECTED = {
    "amer": {"region": "amer", "total": 60, "above": [30]},
    "apac": {"region": "apac", "total": 90, "above": [40, 50]},
    "emea": {"region": "emea", "total": 60, "above": [60]},
}


def statuses(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s["id"]: s["status"] for s in result.json["steps"]}


def test_the_barca_example_fails_one_key_and_sinks_the_others_as_pickle(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "pipeline.py")
    result = barque("get", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert "BatchKeyFailed: mea has no orders" in result.stderr
    steps = statuses(result)
    assert steps["pipeline.py:scored[region=mea]"] == "failed"
    assert steps["pipeline.py:report"] == "skipped"
    sunk = {key: pickle.loads((tmp_path / f"out/scored_region_{key}.pkl").read_bytes()) for key in EXPECTED}
    assert sunk == EXPECTED
    assert not (tmp_path / "out/scored_region_mea.pkl").exists()


def test_the_barca_example_re_runs_only_the_failed_key(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "pipeline.py")
    barque("get", "pipeline.py", cwd=tmp_path)
    again = statuses(barque("get", "pipeline.py", cwd=tmp_path))
    assert {sid for sid, status in again.items() if status not in ("cached",)} == {"pipeline.py:scored[region=mea]", "pipeline.py:report"}


def test_the_barca_examples_manual_baseline_is_read_as_stored_until_refreshed(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "pipeline.py")
    barque("get", "pipeline.py", cwd=tmp_path)
    source = (tmp_path / "pipeline.py").read_text()
    (tmp_path / "pipeline.py").write_text(source.replace('{"threshold": 20}', '{"threshold": 0}'))
    stale = barque("get", "scored", "pipeline.py", cwd=tmp_path)
    assert statuses(stale)["pipeline.py:baseline"] == "cached"
    assert pickle.loads((tmp_path / "out/scored_region_amer.pkl").read_bytes())["above"] == [30]
    refreshed = barque("get", "scored", "pipeline.py", "--refresh", "baseline", cwd=tmp_path)
    assert statuses(refreshed)["pipeline.py:baseline"] == "ran"
    assert pickle.loads((tmp_path / "out/scored_region_amer.pkl").read_bytes())["above"] == [10, 20, 30]
