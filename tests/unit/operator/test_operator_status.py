"""Status computation: counts, the failure message, and the size bound whatever the pipeline size (pure)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from barque import artifacts
from barque.plans import Phase, Plan, Step, Stream
from barque_operator import models
from barque.steprecord import StepRecord
from barque_operator.status import (
    PhaseView,
    build_status,
    human_duration,
    last_error_line,
    merge_conditions,
    plan_summary,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
LIMIT = 256 * 1024


def big_plan(phases: int, streams: int, per_stream: int, id_len: int = 40) -> Plan:
    steps: dict[str, Step] = {}
    out = []
    for p in range(phases):
        ss = []
        for s in range(streams):
            ids = []
            for k in range(per_stream):
                sid = f"pipelines/analytics/p{p}s{s}k{k}".ljust(id_len, "x")
                steps[sid] = Step(sid, sid)
                ids.append(sid)
            ss.append(Stream(f"p{p}-w{s}", tuple(ids)))
        out.append(Phase(p, "initial" if p == 0 else "needs the previous phase", tuple(ss)))
    return Plan(phases=tuple(out), steps=steps)


def failed_record(sid: str) -> dict[str, Any]:
    return {
        "step": sid, "state": "failed", "attempts": 3, "started_at": 1735732700.0, "finished_at": 1735732702.0,
        "duration_seconds": 2.0, "error": {"type": "RuntimeError", "message": "x" * 5000, "traceback": "t" * 20000},
    }


def ok_record(sid: str) -> dict[str, Any]:
    return {"step": sid, "state": "succeeded", "attempts": 1, "started_at": 1735732700.0, "finished_at": 1735732702.0,
            "duration_seconds": 2.0, "artifact": {"content_hash": "ef" * 32, "serializer": "json", "size": 9}}


def status_for(plan: Plan, records: dict[str, Any], limit: int = 500) -> dict[str, Any]:
    views = [PhaseView(p.index, "Failed", f"run-p{p.index}", len(p.streams)) for p in plan.phases]
    base = {"runId": "k8s/ns/run-12345678", "storeUri": "s3://bucket/prefix", "sourceDigest": "a" * 64,
            "plan": plan_summary(plan, limit, "runs/k8s/ns/run-12345678/operator/plan.json")}
    typed = {sid: StepRecord.from_dict(r) for sid, r in records.items()}
    status = build_status(plan=plan, records=typed, phases=views, run_phase="Failed", message="step x failed",
                          base=base, start_time="2025-01-01T11:00:00Z", completion_time=None,
                          previous_conditions=None, now=NOW, limit=limit)
    models.PipelineRunStatus.model_validate(status)
    return status


def size(status: dict[str, Any]) -> int:
    return len(json.dumps({k: v for k, v in status.items() if v is not None}, separators=(",", ":")).encode())


def test_a_10000_step_run_keeps_counts_failures_and_running_only() -> None:
    plan = big_plan(10, 10, 100)
    records = {sid: (failed_record(sid) if i % 7 == 0 else ok_record(sid)) for i, sid in enumerate(plan.steps)}
    status = status_for(plan, records)
    assert status["stepsTruncated"] is True and status["steps"] is None
    assert status["plan"]["truncated"] is True and "streams" not in status["plan"]["phases"][0]
    assert status["counts"]["total"] == 10_000 and status["counts"]["failed"] == 1429
    assert len(status["failures"]) == 50
    assert size(status) < LIMIT, size(status)


def test_the_largest_detailed_status_still_fits() -> None:
    plan = big_plan(1, 5, 100, id_len=120)  # 500 steps with long ids, every one failed
    records = {sid: failed_record(sid) for sid in plan.steps}
    status = status_for(plan, records)
    assert size(status) < LIMIT, size(status)
    assert status["stepsTruncated"] is True  # too many bytes even under the step bound


def test_a_500_step_run_keeps_every_step() -> None:
    plan = big_plan(2, 5, 50)
    records = {sid: (failed_record(sid) if i % 10 == 0 else ok_record(sid)) for i, sid in enumerate(plan.steps)}
    status = status_for(plan, records)
    assert len(status["steps"]) == 500 and status["stepsTruncated"] is False
    assert size(status) < LIMIT, size(status)


def test_counts_and_progress() -> None:
    plan = big_plan(2, 2, 2)
    ids = list(plan.steps)
    records = {ids[0]: ok_record(ids[0]), ids[1]: failed_record(ids[1]),
               ids[2]: {"step": ids[2], "state": "skipped", "reason": f"upstream {ids[1]} failed"}}
    status = status_for(plan, records)
    assert status["progress"] == "3/8"
    assert status["counts"] == {"total": 8, "pending": 5, "running": 0, "succeeded": 1, "cached": 0, "failed": 1,
                                "crashed": 0, "skipped": 1, "filtered": 0, "cancelled": 0}
    entry = {s["id"]: s for s in status["steps"]}
    assert entry[ids[0]]["artifact"] == "blobs/ef/" + "ef" * 32
    assert entry[ids[0]]["startedAt"] == "2025-01-01T11:58:20Z" and entry[ids[0]]["durationSeconds"] == 2.0
    assert entry[ids[2]]["message"] == f"upstream {ids[1]} failed"
    assert status["duration"] == "1h00m"


def test_a_step_whose_small_value_is_inline_names_its_record_not_a_blob_that_does_not_exist() -> None:
    plan = big_plan(1, 1, 2)
    ids = list(plan.steps)
    value = b'{"n": 1}'
    small = artifacts.ArtifactRef(hashlib.sha256(value).hexdigest(), "json", len(value), value)
    records = {ids[0]: ok_record(ids[0]) | {"artifact": small.to_dict()},
               ids[1]: ok_record(ids[1]) | {"artifact": {"content_hash": "not hex", "serializer": "json", "size": 1}}}
    entry = {s["id"]: s for s in status_for(plan, records)["steps"]}
    assert entry[ids[0]]["artifact"] == f"inline in the record of {small.content_hash[:12]}"
    assert "artifact" not in entry[ids[1]]  # a malformed reference names nothing


@pytest.mark.parametrize(
    ("error", "line"),
    [
        ({"type": "ValueError", "message": "first\nsecond\n\n"}, "ValueError: second"),
        ({"type": "KeyError", "message": ""}, "KeyError"),
        ({}, "no error recorded"),
    ],
)
def test_last_error_line(error: dict[str, str], line: str) -> None:
    assert last_error_line({"error": error}) == line


def test_condition_transition_time_moves_only_when_the_status_changes() -> None:
    first = merge_conditions(None, [{"type": "Succeeded", "status": "Unknown"}], NOW)
    later = datetime(2025, 1, 1, 13, 0, 0, tzinfo=timezone.utc)
    assert merge_conditions(first, [{"type": "Succeeded", "status": "Unknown"}], later) == first
    assert merge_conditions(first, [{"type": "Succeeded", "status": "True"}], later)[0]["lastTransitionTime"] == "2025-01-01T13:00:00Z"


def test_human_durations() -> None:
    assert [human_duration(s) for s in (5, 65, 3 * 3600 + 120)] == ["5s", "1m05s", "3h02m"]


def test_the_crds_step_states_and_counts_are_the_step_records_states() -> None:
    from typing import get_args

    from barque.steprecord import ALL_STATES
    from barque_operator import models

    assert get_args(models.StepState) == ALL_STATES
    assert list(models.StepCounts.model_fields) == ["total", *ALL_STATES]
