"""Micro-batches: one run per parameter set, sequential or a bounded number at once, one summary.

Real: the `barque` CLI in a child process (and `barque.run_many` in this one), the local
runner's worker processes and a local-folder store.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import barque
from barque.errors import BarqueError
from barque_runtime.batches import read_param_file

from .blocking import with_default_sigint
from .clirun import BARQUE, barque as barque_cli, pipeline, write

BATCHED = """
import time
from barque import asset

@asset()
def raw(n: str = "2") -> list:
    with open(f"span-{n}.txt", "w") as f:
        f.write(f"{time.time()}\\n")
        time.sleep(SLEEP)
        f.write(f"{time.time()}\\n")
    return list(range(int(n)))

@asset(inputs={"raw": raw})
def total(raw: list, scale: str = "1") -> int:
    return sum(raw) * int(scale)
"""


def spans(folder: Path) -> list[tuple[float, float]]:
    out = []
    for path in sorted(folder.glob("span-*.txt")):
        start, end = (float(t) for t in path.read_text().split())
        out.append((start, end))
    return out


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, delta in events:
        now += delta
        peak = max(peak, now)
    return peak


def test_a_param_file_runs_one_batch_per_line_and_prints_one_summary(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0"))
    write(tmp_path, "sets.jsonl", '{"n": "3"}\n\n# a comment\n{"n": "4", "scale": "10"}\n')
    result = barque_cli("run", "pipeline.py", "total", "--param-file", "sets.jsonl", cwd=tmp_path)
    assert result.code == 0, result.stderr
    summary = result.json
    assert (summary["status"], summary["batches"], summary["batches_succeeded"]) == ("succeeded", 2, 2)
    assert [(r["params"], r["final_output"]) for r in summary["runs"]] == [({"n": "3"}, 3), ({"n": "4", "scale": "10"}, 60)]


def test_every_batch_is_one_history_entry(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0"))
    write(tmp_path, "sets.jsonl", '{"n": "3"}\n{"n": "4"}\n{"n": "5"}\n')
    summary = barque_cli("run", "pipeline.py", "--param-file", "sets.jsonl", cwd=tmp_path).json
    history = json.loads(barque_cli("history", cwd=tmp_path).stdout)
    assert sorted(h["run_id"] for h in history) == sorted(r["run_id"] for r in summary["runs"])


def test_param_file_values_are_laid_over_the_params_given_with_param(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0"))
    write(tmp_path, "sets.jsonl", '{"n": "3"}\n{"n": "3", "scale": "5"}\n')
    summary = barque_cli("run", "pipeline.py", "total", "--param", "scale=2", "--param-file", "sets.jsonl", cwd=tmp_path).json
    assert [r["final_output"] for r in summary["runs"]] == [6, 15]


def test_batches_run_one_after_another_by_default(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0.2"))
    write(tmp_path, "sets.jsonl", '{"n": "3"}\n{"n": "4"}\n{"n": "5"}\n')
    barque_cli("run", "pipeline.py", "--param-file", "sets.jsonl", cwd=tmp_path)
    assert most_at_once(spans(tmp_path)) == 1


def test_batch_concurrency_runs_batches_at_once_up_to_its_bound(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0.6"))
    write(tmp_path, "sets.jsonl", "".join(f'{{"n": "{n}"}}\n' for n in range(3, 8)))
    summary = barque_cli("run", "pipeline.py", "--param-file", "sets.jsonl", "--batch-concurrency", "2", cwd=tmp_path).json
    assert summary["batches_succeeded"] == 5
    assert [r["params"]["n"] for r in summary["runs"]] == ["3", "4", "5", "6", "7"]  # in the order given
    assert most_at_once(spans(tmp_path)) == 2


def test_a_failed_batch_fails_the_summary_and_the_others_still_run(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0"))
    write(tmp_path, "sets.jsonl", '{"n": "3"}\n{"n": "not a number"}\n{"n": "4"}\n')
    result = barque_cli("run", "pipeline.py", "--param-file", "sets.jsonl", cwd=tmp_path)
    assert result.code == 1
    assert [r["status"] for r in result.json["runs"]] == ["succeeded", "failed", "succeeded"]
    assert result.json["batches_failed"] == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"n": 3}', r"sets.jsonl:2.*parameter 'n' is 3, not a string"),
        ("[1, 2]", r"sets.jsonl:2.*must be a JSON object"),
        ("{oops", r"sets.jsonl:2.*line 2 is not JSON"),
    ],
)
def test_a_bad_param_file_line_is_refused_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "sets.jsonl", '{"n": "1"}\n' + line + "\n")
    with pytest.raises(BarqueError) as caught:
        read_param_file(str(path))
    assert re.search(message, caught.value.render(), re.S), caught.value.render()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_many_takes_a_lazy_iterable_of_parameter_sets(project: Path) -> None:
    summary = barque.run_many("pipeline.py", target="total", workers=1, params=({"n": str(n)} for n in range(3)))
    assert [r["final_output"] for r in summary["runs"]] == [0, 0, 1]


def test_a_cancelled_batch_stops_the_batches_after_it_and_the_summary_says_so(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        import time
        from barque import asset

        @asset()
        def slow(n: str = "0") -> int:
            open(f"started-{n}", "w").close()
            time.sleep(30)
            return int(n)
        """,
    )
    write(tmp_path, "sets.jsonl", '{"n": "1"}\n{"n": "2"}\n{"n": "3"}\n')
    proc = subprocess.Popen([*BARQUE, "run", "pipeline.py", "--param-file", "sets.jsonl"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=with_default_sigint)  # a terminal's job hears Ctrl-C, whatever started the suite
    deadline = time.monotonic() + 30
    while not (tmp_path / "started-1").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    summary = json.loads(out)
    assert proc.returncode == 130, err  # as a run cancelled by SIGINT exits
    assert summary["status"] == "cancelled"
    assert [(r["params"], r["status"], r["cancelled_by"]) for r in summary["runs"]] == [({"n": "1"}, "cancelled", "SIGINT")]
    assert not (tmp_path / "started-2").exists()


def test_dry_run_with_a_param_file_is_refused_as_a_usage_error(tmp_path: Path) -> None:
    pipeline(tmp_path, BATCHED.replace("SLEEP", "0"))
    write(tmp_path, "sets.jsonl", '{"n": "3"}\n')
    result = barque_cli("run", "pipeline.py", "--param-file", "sets.jsonl", "--dry-run", cwd=tmp_path)
    assert result.code == 2 and "--dry-run" in result.stderr
