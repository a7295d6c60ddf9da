"""``barque submit`` options for the cluster: ``--fail-fast``, ``--overrides`` and micro-batches
(``--param-file``: one PipelineRun per parameter set, a bounded number unfinished at once, one
summary in the local summary's shape).

No cluster: the batch loop takes its API calls as functions, here over a fake whose runs end
after a given number of reads; ``cmd_submit`` runs against the fake ``CustomObjectsApi`` of
test_cli_cluster.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path
from typing import Any, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque.errors import BarqueError
from barque_cli import cmd_submit
from barque_cli.cmd_status import Kube
from barque_cli.submit_batches import batch_result, submit_many
from barque_operator.models import PipelineRun
from tests.unit.delivery.test_cli_cluster import FakeApi


class FakeRuns:
    """Runs that end in ``phase`` after ``reads`` reads of their status; records how many were
    unfinished at once."""

    def __init__(self, reads: list[int], phases: list[str] | None = None) -> None:
        self.reads, self.phases = reads, phases or ["Succeeded"] * len(reads)
        self.created: list[str] = []
        self.cancelled: list[str] = []
        self.seen: dict[str, int] = {}
        self.done: set[str] = set()
        self.most_unfinished = 0

    def create(self, body: Mapping[str, Any]) -> str:
        name = f"etl-{len(self.created)}"
        self.created.append(name)
        self.most_unfinished = max(self.most_unfinished, len(self.created) - len(self.done))
        return name

    def get(self, name: str) -> dict[str, Any]:
        index = int(name.rsplit("-", 1)[1])
        self.seen[name] = self.seen.get(name, 0) + 1
        if self.seen[name] <= self.reads[index]:
            return {"metadata": {"name": name}, "status": {"phase": "Running", "progress": "0/2"}}
        self.done.add(name)
        return {"metadata": {"name": name}, "status": {
            "phase": self.phases[index], "progress": "2/2", "counts": {"total": 2, "succeeded": 1, "cached": 1},
            "startTime": "2026-12-01T10:00:00Z", "completionTime": "2026-12-01T10:00:03Z"}}

    def cancel(self, name: str) -> None:
        self.cancelled.append(name)


def _bodies(n: int) -> list[dict[str, Any]]:
    return [cmd_submit.build_run("etl", params={"day": str(i)}) for i in range(n)]


def _many(runs: FakeRuns, n: int, concurrency: int) -> dict[str, Any]:
    return submit_many(_bodies(n), create=runs.create, get=runs.get, cancel=runs.cancel, concurrency=concurrency,
                       poll=0, sleep=lambda s: None)


def test_a_run_manifest_carries_fail_fast_and_overrides() -> None:
    body = cmd_submit.build_run("etl", fail_fast=True, overrides={"raw": [1, 2]})
    PipelineRun.model_validate(body)
    assert body["spec"] == {"pipelineRef": {"name": "etl"}, "failurePolicy": "FailFast", "overrides": {"raw": [1, 2]}}


def test_overrides_are_read_inline_or_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "stub.json").write_text('{"raw": {"rows": 3}}')
    assert cmd_submit.parse_overrides('{"raw": [1]}') == {"raw": [1]}
    assert cmd_submit.parse_overrides(f"@{tmp_path / 'stub.json'}") == {"raw": {"rows": 3}}
    assert cmd_submit.parse_overrides(None) is None


@pytest.mark.parametrize("text, message", [("[1, 2]", "must be a JSON object"), ("{}", "must be a JSON object"),
                                           ("{raw: 1}", "not JSON"), ("@/nonexistent/stub.json", "cannot read")])
def test_overrides_that_are_not_a_json_object_of_assets_are_refused(text: str, message: str) -> None:
    with pytest.raises(BarqueError, match=message):
        cmd_submit.parse_overrides(text)


def test_a_parameter_set_with_a_name_that_is_no_identifier_is_refused() -> None:
    with pytest.raises(BarqueError, match="invalid parameter name 'a-b'"):
        cmd_submit.build_run("etl", params={"a-b": "1"})


def test_batches_run_one_after_another_by_default() -> None:
    runs = FakeRuns([2, 0, 1])
    summary = _many(runs, 3, 1)
    assert runs.most_unfinished == 1 and runs.created == ["etl-0", "etl-1", "etl-2"]
    assert summary["status"] == "succeeded" and summary["batches_succeeded"] == 3 and summary["concurrency"] == 1


@settings(max_examples=60, deadline=None)
@given(reads=st.lists(st.integers(0, 4), min_size=1, max_size=8), concurrency=st.integers(1, 4))
def test_n_batches_are_unfinished_at_once_at_most_and_each_set_gets_one_run_in_order(reads: list[int], concurrency: int) -> None:
    runs = FakeRuns(reads)
    summary = _many(runs, len(reads), concurrency)
    assert runs.most_unfinished == min(concurrency, len(reads))  # never more, and the room is used
    assert [b["run_id"] for b in summary["runs"]] == [f"etl-{i}" for i in range(len(reads))]
    assert [b["params"] for b in summary["runs"]] == [{"day": str(i)} for i in range(len(reads))]


def test_a_batch_reads_its_counts_and_time_from_its_runs_status() -> None:
    status = {"phase": "Failed", "message": "step pipeline.py:broken failed: ValueError: x",
              "counts": {"total": 5, "succeeded": 2, "cached": 1, "failed": 1, "crashed": 1, "skipped": 0, "filtered": 0},
              "failures": [{"step": "pipeline.py:broken", "message": "ValueError: x"}],
              "startTime": "2026-12-01T10:00:00Z", "completionTime": "2026-12-01T10:01:30Z"}
    assert batch_result("etl-abc", {"day": "1"}, status) == {
        "params": {"day": "1"}, "run_id": "etl-abc", "status": "failed", "steps_executed": 4, "steps_cached": 1,
        "steps_failed": 2, "steps_skipped": 0, "steps_filtered": 0, "elapsed_seconds": 90.0,
        "message": "step pipeline.py:broken failed: ValueError: x",
        "failures": [{"step": "pipeline.py:broken", "message": "ValueError: x"}],
    }


def test_one_failed_batch_fails_the_summary_and_the_others_still_run() -> None:
    runs = FakeRuns([0, 0, 0], ["Succeeded", "Failed", "Succeeded"])
    summary = _many(runs, 3, 2)
    assert summary["status"] == "failed" and (summary["batches_succeeded"], summary["batches_failed"]) == (2, 1)
    assert len(runs.created) == 3


def test_once_a_batch_is_cancelled_no_new_run_is_created() -> None:
    runs = FakeRuns([0, 3, 3, 0], ["Cancelled", "Succeeded", "Succeeded", "Succeeded"])
    summary = _many(runs, 4, 2)
    assert runs.created == ["etl-0", "etl-1"]
    assert summary["status"] == "cancelled" and [b["status"] for b in summary["runs"]] == ["cancelled", "succeeded"]


def test_ctrl_c_cancels_the_runs_still_going_and_keeps_the_ended_ones_in_the_summary() -> None:
    runs = FakeRuns([0, 50, 50])
    polls = iter(range(3))

    def sleep(seconds: float) -> None:
        if next(polls, None) is None:
            raise KeyboardInterrupt

    summary = submit_many(_bodies(3), create=runs.create, get=runs.get, cancel=runs.cancel, concurrency=2, poll=0, sleep=sleep)
    assert runs.cancelled == ["etl-1", "etl-2"]
    assert [b["status"] for b in summary["runs"]] == ["succeeded", "cancelled", "cancelled"]
    assert summary["status"] == "cancelled" and summary["runs"][1]["cancelled_by"] == "SIGINT"


def _args(**kw: Any) -> argparse.Namespace:
    base = {"namespace": "team-a", "kubeconfig": None, "context": None, "pipeline": "etl", "name": None, "target": [],
            "param": [], "no_cache": False, "resume_from": None, "timeout": None, "batch": [], "wait": False, "poll": 0.0,
            "fail_fast": False, "overrides": None, "param_file": None, "batch_concurrency": 1}
    return argparse.Namespace(**{**base, **kw})


class EndingApi(FakeApi):
    """A fake API whose created runs have already succeeded."""

    def create_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "metadata": {"name": f"etl-{len(self.created)}"}}
        obj = super().create_namespaced_custom_object(group, version, ns, plural, body)
        obj["status"] = {"phase": "Succeeded", "counts": {"total": 1, "succeeded": 1}}
        return obj


def test_submit_param_file_creates_a_run_per_line_on_top_of_param_and_prints_one_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "days.jsonl").write_text('{"day": "mon"}\n# a comment\n{"day": "tue", "region": "emea"}\n')
    api = EndingApi({("pipelines", "etl"): {"spec": {}}})
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    code = cmd_submit.cmd_submit(_args(param=["region=amer"], param_file=str(tmp_path / "days.jsonl"), fail_fast=True))
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["batches"] == 2 and summary["status"] == "succeeded"
    assert [r["spec"]["params"] for r in api.created] == [{"day": "mon", "region": "amer"}, {"day": "tue", "region": "emea"}]
    assert all(r["spec"]["failurePolicy"] == "FailFast" for r in api.created)


def test_a_bad_line_in_the_param_file_creates_no_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "days.jsonl").write_text('{"day": "mon"}\n{"day": 2}\n')
    api = EndingApi({("pipelines", "etl"): {"spec": {}}})
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    with pytest.raises(BarqueError) as info:
        cmd_submit.cmd_submit(_args(param_file=str(tmp_path / "days.jsonl")))
    assert info.value.where == f"{tmp_path / 'days.jsonl'}:2" and api.created == []


def test_param_file_with_a_run_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "days.jsonl").write_text('{"day": "mon"}\n')
    with pytest.raises(BarqueError, match="one run per line"):
        cmd_submit.cmd_submit(_args(name="etl-1", param_file=str(tmp_path / "days.jsonl")))


class RunningApi(FakeApi):
    """A fake API whose runs never end; the second read of a run's status brings SIGTERM."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        super().__init__(objects)
        self.reads = 0
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def get_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, name: str) -> dict[str, Any]:
        if plural == "pipelineruns":
            self.reads += 1
            if self.reads == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            return {"metadata": {"name": name}, "status": {"phase": "Running"}}
        return super().get_namespaced_custom_object(group, version, ns, plural, name)

    def create_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return super().create_namespaced_custom_object(group, version, ns, plural, {**body, "metadata": {"name": f"etl-{len(self.created)}"}})

    def patch_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((name, body))
        return {}


def test_sigterm_cancels_the_batches_runs_prints_the_summary_and_exits_143(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "days.jsonl").write_text('{"day": "mon"}\n{"day": "tue"}\n{"day": "wed"}\n')
    api = RunningApi({("pipelines", "etl"): {"spec": {}}})
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    code = cmd_submit.cmd_submit(_args(param_file=str(tmp_path / "days.jsonl"), batch_concurrency=2))
    summary = json.loads(capsys.readouterr().out)
    assert code == 143 and summary["status"] == "cancelled"
    assert api.patches == [("etl-0", {"spec": {"cancel": True}}), ("etl-1", {"spec": {"cancel": True}})]
    assert [b["cancelled_by"] for b in summary["runs"]] == ["SIGTERM", "SIGTERM"]
    assert len(api.created) == 2  # the third set never got a run
