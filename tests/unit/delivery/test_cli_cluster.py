"""``barque submit``, ``status`` and ``logs`` without a cluster.

The manifests, the status rendering, the follow loop and the log reading are pure
functions; the API is replaced by a fake ``CustomObjectsApi`` holding dicts, and the store
by the in-memory twin with records written the way the runtime writes them.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from barque import records
from barque.errors import BarqueError
from barque.store.memory import MemoryStore
from barque_cli import cmd_logs, cmd_status, cmd_submit
from barque_cli.cmd_status import Kube, render_status
from barque_operator.models import PipelineRun

RUN = {
    "apiVersion": "barque.dev/v1alpha1",
    "kind": "PipelineRun",
    "metadata": {"name": "etl-x7k2p", "namespace": "team-a"},
    "spec": {"pipelineRef": {"name": "etl"}},
    "status": {
        "phase": "Failed",
        "duration": "2m13s",
        "progress": "4/5",
        "message": "1 step failed",
        "runId": "team-a/1234-uid",
        "storeUri": "memory://cli-test",
        "counts": {"total": 5, "succeeded": 2, "cached": 1, "failed": 1, "skipped": 1},
        "phases": [
            {"index": 0, "state": "Cached", "streams": 0, "counts": {"total": 1, "cached": 1}},
            {"index": 1, "state": "Failed", "job": "etl-x7k2p-p1", "streams": 2,
             "counts": {"total": 4, "succeeded": 2, "failed": 1, "skipped": 1}},
        ],
        "failures": [{"step": "pipeline.py:broken", "message": "ValueError: the upstream schema changed"}],
    },
}


class FakeApi:
    """The two CustomObjectsApi calls the commands make, over a dict of objects."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.objects = dict(objects or {})
        self.created: list[dict[str, Any]] = []

    def get_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, name: str) -> dict[str, Any]:
        if (plural, name) not in self.objects:
            raise ApiError(404, '{"message": "not found"}')
        return self.objects[(plural, name)]

    def create_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"].get("name") or body["metadata"]["generateName"] + "abcde"
        if (plural, name) in self.objects:
            raise ApiError(409, '{"message": "exists"}')
        obj = {**body, "metadata": {**body["metadata"], "name": name, "namespace": ns}}
        self.objects[(plural, name)] = obj
        self.created.append(obj)
        return obj


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status, self.body = status, body


# -- submit ---------------------------------------------------------------------------------------


def test_run_manifest_is_a_valid_pipelinerun_with_only_what_was_asked() -> None:
    body = cmd_submit.build_run("etl")
    PipelineRun.model_validate(body)
    assert body == {
        "apiVersion": "barque.dev/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"generateName": "etl-"},
        "spec": {"pipelineRef": {"name": "etl"}},
    }


def test_run_manifest_carries_targets_params_cache_and_resume() -> None:
    body = cmd_submit.build_run(
        "etl", name="etl-again", targets=["report"], params={"day": "2024-01-01", "b": "1"},
        no_cache=True, resume_from="etl-x7k2p", timeout_seconds=600,
    )
    assert body["metadata"] == {"name": "etl-again"}
    assert body["spec"] == {
        "pipelineRef": {"name": "etl"}, "targets": ["report"], "params": {"b": "1", "day": "2024-01-01"},
        "noCache": True, "resumeFrom": "etl-x7k2p", "timeoutSeconds": 600,
    }


def test_submit_batch_becomes_the_runs_spec_batch_as_typed() -> None:
    body = cmd_submit.build_run("etl", batch=["all", "scored=20"])
    PipelineRun.model_validate(body)
    assert body["spec"]["batch"] == ["all", "scored=20"]


@pytest.mark.parametrize("value", ["0", "some", "=3"])
def test_a_malformed_submit_batch_is_a_usage_error_before_anything_is_created(value: str) -> None:
    with pytest.raises(BarqueError, match="--batch") as err:
        cmd_submit.build_run("etl", batch=[value])
    assert err.value.exit_code == 2


@pytest.mark.parametrize("pairs", [["novalue"], ["1x=2"], ["a-b=1"]])
def test_malformed_params_are_refused(pairs: list[str]) -> None:
    with pytest.raises(BarqueError, match="invalid parameter"):
        cmd_submit.parse_params(pairs)


def test_params_keep_everything_after_the_first_equals_sign() -> None:
    assert cmd_submit.parse_params(["q=a=b", "empty="]) == {"q": "a=b", "empty": ""}


def test_follow_reports_each_change_once_and_stops_at_a_terminal_phase() -> None:
    states = iter([
        {"status": {}},
        {"status": {"phase": "Running", "progress": "0/2"}},
        {"status": {"phase": "Running", "progress": "0/2"}},
        {"status": {"phase": "Running", "progress": "1/2"}},
        {"status": {"phase": "Succeeded", "progress": "2/2"}},
    ])
    seen: list[Any] = []
    sleeps: list[float] = []
    final = cmd_submit.follow(lambda: next(states), report=lambda r: seen.append(r["status"].get("progress")),
                              poll=0.5, sleep=sleeps.append)
    assert final["status"]["phase"] == "Succeeded"
    assert seen == [None, "0/2", "1/2", "2/2"]
    assert sleeps == [0.5] * 4


def _args(**kw: Any) -> argparse.Namespace:
    base = {"namespace": "team-a", "kubeconfig": None, "context": None}
    return argparse.Namespace(**{**base, **kw})


def _submit_args(**kw: Any) -> argparse.Namespace:
    base = {"pipeline": "etl", "name": None, "target": [], "param": [], "no_cache": False, "resume_from": None,
            "timeout": None, "wait": False, "poll": 0.0, "fail_fast": False, "overrides": None, "param_file": None,
            "batch_concurrency": 1, "batch": []}
    return _args(**{**base, **kw})


def test_submit_creates_the_run_and_prints_its_name(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi({("pipelines", "etl"): {"spec": {}}})
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    assert cmd_submit.cmd_submit(_submit_args(param=["day=1"])) == 0
    assert capsys.readouterr().out == "etl-abcde\n"
    assert api.created[0]["spec"]["params"] == {"day": "1"}


@pytest.mark.parametrize("phase, code", [("Succeeded", 0), ("Failed", 1), ("Cancelled", 1)])
def test_submit_wait_exits_by_the_runs_outcome(monkeypatch: pytest.MonkeyPatch, phase: str, code: int) -> None:
    api = FakeApi({("pipelines", "etl"): {"spec": {}}})
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    original = api.create_namespaced_custom_object

    def create(*a: Any) -> dict[str, Any]:
        obj = original(*a)
        obj["status"] = {"phase": phase}
        return obj

    api.create_namespaced_custom_object = create  # type: ignore[method-assign]
    assert cmd_submit.cmd_submit(_submit_args(wait=True)) == code


def test_submit_to_a_missing_pipeline_says_so_before_creating_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi()
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    with pytest.raises(BarqueError, match="Pipeline team-a/etl: not found"):
        cmd_submit.cmd_submit(_submit_args())
    assert api.created == []


def test_name_clash_is_reported_with_a_hint() -> None:
    api = FakeApi({("pipelineruns", "etl-1"): {}})
    with pytest.raises(BarqueError, match="already exists") as info:
        Kube(api, "team-a").create("pipelineruns", {"metadata": {"name": "etl-1"}})
    assert "--generate-name" in str(info.value)


# -- status ---------------------------------------------------------------------------------------


def test_status_shows_phase_progress_jobs_and_failed_steps() -> None:
    text = render_status(RUN)
    assert "PipelineRun team-a/etl-x7k2p  (pipeline etl)" in text
    assert "Phase:     Failed  (2m13s)" in text
    assert "Progress:  4/5  (2 succeeded, 1 cached, 1 failed, 1 skipped)" in text
    assert "etl-x7k2p-p1" in text
    assert "pipeline.py:broken: ValueError: the upstream schema changed" in text
    assert "barque logs etl-x7k2p STEP" in text


def test_status_of_a_fresh_run_is_pending_without_tables() -> None:
    text = render_status({"metadata": {"name": "r"}, "spec": {"pipelineRef": {"name": "p"}}})
    assert "Phase:     Pending" in text and "Failed steps" not in text and "JOB" not in text


def test_failed_steps_fall_back_to_the_per_step_list() -> None:
    status = {"steps": [{"id": "a", "state": "failed", "message": "boom"}, {"id": "b", "state": "succeeded"}]}
    assert cmd_status.failed_steps(status) == [("a", "boom")]


def test_status_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    api = FakeApi({("pipelineruns", "etl-x7k2p"): RUN})
    monkeypatch.setattr(Kube, "connect", classmethod(lambda cls, args: cls(api, args.namespace)))
    assert cmd_status.cluster_status(_args(run="etl-x7k2p", json=True)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pipeline"] == "etl" and out["status"]["phase"] == "Failed"


def test_missing_run_is_a_clear_error() -> None:
    with pytest.raises(BarqueError, match="PipelineRun team-a/nope: not found"):
        Kube(FakeApi(), "team-a").get("pipelineruns", "nope")


# -- logs -----------------------------------------------------------------------------------------


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    run_id = "team-a/1234-uid"
    step = "pipeline.py:broken"
    tb = 'Traceback (most recent call last):\n  File "pipeline.py", line 16\nValueError: schema changed\n'
    for attempt in (1, 2):
        records.write_log(store, run_id, step, attempt, "stdout", f"loading, try {attempt}\n".encode())
        records.write_log(store, run_id, step, attempt, "stderr", tb.encode())
    records.write_step_record(store, run_id, {
        "step": step, "node": step, "state": "failed", "attempts": 2,
        "error": {"type": "ValueError", "message": "schema changed", "traceback": tb},
        "logs": {"stdout": records.log_key(run_id, step, 2, "stdout")},
    })
    records.write_step_record(store, run_id, {"step": "pipeline.py:source", "node": "pipeline.py:source",
                                              "state": "cached", "attempts": 0})
    records.write_step_record(store, run_id, {"step": "pipeline.py:downstream", "node": "pipeline.py:downstream",
                                              "state": "skipped", "attempts": 0, "reason": "upstream pipeline.py:broken failed"})
    return store


def test_logs_print_the_last_attempts_output_traceback_and_error(store: MemoryStore) -> None:
    text = cmd_logs.render_logs(store, "team-a/1234-uid", "pipeline.py:broken")
    assert text.startswith("== pipeline.py:broken: failed, attempt 2 of 2 ==")
    assert "loading, try 2" in text and "try 1" not in text
    assert text.count("Traceback (most recent call last)") == 1
    assert text.rstrip().endswith("error: ValueError: schema changed")


def test_logs_of_an_earlier_attempt(store: MemoryStore) -> None:
    text = cmd_logs.render_logs(store, "team-a/1234-uid", "pipeline.py:broken", attempt=1)
    assert "loading, try 1" in text and "error:" not in text


def test_a_node_name_finds_its_single_step(store: MemoryStore) -> None:
    assert cmd_logs.render_logs(store, "team-a/1234-uid", "broken").startswith("== pipeline.py:broken")


def test_skipped_and_cached_steps_say_why_there_is_no_output(store: MemoryStore) -> None:
    assert "reason: upstream pipeline.py:broken failed" in cmd_logs.render_logs(store, "team-a/1234-uid", "downstream")
    assert "cached" in cmd_logs.render_logs(store, "team-a/1234-uid", "source")


def test_unknown_step_suggests_close_names(store: MemoryStore) -> None:
    with pytest.raises(BarqueError, match="no step 'pipeline.py:brokn'") as info:
        cmd_logs.render_logs(store, "team-a/1234-uid", "pipeline.py:brokn")
    assert "pipeline.py:broken" in str(info.value)


def test_attempt_out_of_range_is_a_usage_error(store: MemoryStore) -> None:
    with pytest.raises(BarqueError, match="attempt 3 does not exist"):
        cmd_logs.render_logs(store, "team-a/1234-uid", "pipeline.py:broken", attempt=3)


def test_store_location_prefers_the_pinned_status_then_the_pipeline() -> None:
    assert cmd_logs.store_location(RUN, lambda name: {}) == ("team-a/1234-uid", "memory://cli-test")
    unpinned = {**RUN, "status": {"runId": "team-a/1234-uid"}}
    pipeline = {"spec": {"store": {"uri": "s3://bucket/p"}}}
    assert cmd_logs.store_location(unpinned, lambda name: pipeline) == ("team-a/1234-uid", "s3://bucket/p")
    with pytest.raises(BarqueError, match="has not started"):
        cmd_logs.store_location({**RUN, "status": {}}, lambda name: pipeline)
