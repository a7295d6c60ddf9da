"""``barque logs`` on any key of a batched call shows the call's output, which is stored once
under the call's first key (``batching``, ``runlogs.log_step``).

Real: the ``barque`` CLI in a child process, a local-folder store and history.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok

NO_CLUSTER = {"KUBECONFIG": "/nonexistent"}

SOURCE = """
from barca import asset, partitions


@asset(partitions={"r": partitions(["r1", "r2", "r3"])}, batch="all")
def scored(r: list) -> dict:
    print("scoring", ",".join(r))
    return {k: 1 for k in r}
"""


def test_logs_of_a_key_that_is_not_the_calls_first_show_the_calls_output(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    run_id = run_ok("scored", "pipeline.py", cwd=tmp_path)["run_id"]
    for key in ("r1", "r3"):
        result = barque("logs", run_id, f"pipeline.py:scored[r={key}]", cwd=tmp_path, env=NO_CLUSTER)
        assert result.code == 0, result.stderr
        assert "scoring r1,r2,r3" in result.stdout
    assert "shares with pipeline.py:scored[r=r1]" in barque("logs", run_id, "pipeline.py:scored[r=r2]", cwd=tmp_path, env=NO_CLUSTER).stdout
