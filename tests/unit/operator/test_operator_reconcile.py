"""Reconcile decisions from observed facts: each decision is made twice (same answer) and, once its
actions are carried out, made again (nothing more to do). Pure: a dict stands in for the store and
JobViews for the Jobs; no servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from barque.cachestate import StepCache
from barque.plans import Plan
from barque.planner import make_plan
from barque_operator import models
from barque_operator.observed import (
    CreateJob,
    Decision,
    DeleteJob,
    Event,
    JobView,
    Replan,
    RunFacts,
    WritePhase,
    WriteRecord,
    parse_indexes,
)
from barque_operator.reconcile import (
    decide,
    needs_assessment,
    not_started,
)
from barque_operator.status import plan_summary
from tests.unit.operator.operator_samples import graph

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
PLAN = make_plan(graph(), None, 2)  # phase 0: [per_day[tue], raw, clean], [other, per_day[mon]]; phase 1: [report]


class World:
    """Records and Jobs as the API server and the store would hold them."""

    def __init__(self, plan: Plan = PLAN, cancel: bool = False, timeout: int | None = None) -> None:
        self.plan = plan
        self.records: dict[str, dict[str, Any]] = {}
        self.jobs: dict[int, JobView] = {}
        self.phase_files: dict[int, Any] = {}
        self.status: dict[str, Any] = {"startTime": "2025-01-01T11:59:00Z"}
        self.cancel = cancel
        self.timeout = timeout
        self.verdicts: dict[str, StepCache] = {s: StepCache("run", "k-" + s, "never materialized") for s in plan.steps}
        self.pod_endings: dict[tuple[int, int], tuple[str, str]] = {}
        self.pins: dict[str, Any] = {}  # image, store and Secret pinned when the run started
        self.fail_fast = False
        self.now = NOW

    def facts(self) -> RunFacts:
        return RunFacts(
            name="demo-1", cancel=self.cancel, timeout_seconds=self.timeout, previous=dict(self.status),
            base={"runId": "k8s/team-a/demo-1-abcdef12", "plan": plan_summary(self.plan, 500, "runs/x/plan.json"),
                  **self.pins},
            plan=self.plan, records=dict(self.records), jobs=dict(self.jobs),
            verdicts=self.verdicts if needs_assessment(self.plan, self.records, self.jobs) else None,
            now=self.now, exec_phases=dict(self.phase_files), pod_endings=dict(self.pod_endings), fail_fast=self.fail_fast,
        )

    def reconcile(self) -> Decision:
        first, second = decide(self.facts()), decide(self.facts())
        assert first == second, "the same facts must give the same decision"
        models.PipelineRunStatus.model_validate(first.status)  # the CRD schema admits every field
        for action in first.actions:
            if isinstance(action, WriteRecord):
                self.records[action.record["step"]] = dict(action.record)
            elif isinstance(action, WritePhase):
                self.phase_files[action.phase.index] = action.phase
            elif isinstance(action, CreateJob):
                assert action.phase.index not in self.jobs, "a Job is never created twice"
                self.jobs[action.phase.index] = JobView(f"demo-1-p{action.phase.index}", action.phase.index,
                                                        len(action.phase.streams), active=1)
            elif isinstance(action, DeleteJob):
                self.jobs = {i: j for i, j in self.jobs.items() if j.name != action.name}
        self.status = {k: v for k, v in first.status.items() if v is not None}
        return first

    def run_job(self, index: int, outcome: dict[str, str] | None = None, lost: tuple[int, ...] = ()) -> None:
        """The runtime executes the phase file: records per step (state from ``outcome``), then the Job ends."""
        outcome = outcome or {}
        phase = self.phase_files[index]
        for i, stream in enumerate(phase.streams):
            if i in lost:
                continue
            failed = False
            for sid in stream.steps:
                state = outcome.get(sid, "succeeded")
                if failed and any(d in stream.steps for d in self.plan.steps[sid].deps):
                    state = "skipped"
                rec: dict[str, Any] = {"step": sid, "state": state, "attempts": 1, "started_at": 1735732700.0,
                                       "finished_at": 1735732702.5, "duration_seconds": 2.5}
                if state == "succeeded":
                    rec["artifact"] = {"content_hash": "ab" * 32, "serializer": "json", "size": 2}
                if state == "failed":
                    rec["error"] = {"type": "ValueError", "message": "bad row 7\nin column 'price'", "traceback": "..."}
                    rec["attempts"] = 2
                    failed = True
                self.records[sid] = rec
        job = self.jobs[index]
        failed_indexes = tuple(i for i, s in enumerate(phase.streams)
                               if i in lost or any(self.records.get(x, {}).get("state") == "failed" for x in s.steps))
        self.jobs[index] = replace(job, active=0, outcome="Failed" if failed_indexes else "Complete",
                                   reason="FailedIndexes" if failed_indexes else "Completions",
                                   failed_indexes=failed_indexes, completion_time="2025-01-01T12:00:30Z")


def test_a_new_run_creates_the_first_phase_job_once() -> None:
    world = World()
    d = world.reconcile()
    (create,) = d.of(CreateJob)
    assert create.phase.index == 0 and len(create.phase.streams) == 2
    assert d.of(WritePhase)[0].phase == create.phase
    assert d.status["phase"] == "Running" and d.status["progress"] == "0/6"
    again = world.reconcile()
    assert not again.of(CreateJob) and not again.of(WritePhase) and not again.of(WriteRecord)
    assert again.status["counts"]["running"] == 5 and again.status["counts"]["pending"] == 1


def test_phases_follow_one_another_and_the_run_succeeds() -> None:
    world = World()
    world.reconcile()
    world.run_job(0)
    d = world.reconcile()
    assert [c.phase.index for c in d.of(CreateJob)] == [1]
    assert any(e.reason == "PhaseFinished" for e in d.of(Event))
    world.run_job(1)
    d = world.reconcile()
    assert d.finished == "Succeeded" and d.status["phase"] == "Succeeded"
    assert d.status["progress"] == "6/6" and d.status["counts"]["succeeded"] == 6
    assert d.status["completionTime"] == "2025-01-01T12:00:30Z"
    assert d.status["conditions"][0]["status"] == "True"
    assert world.reconcile().of(CreateJob) == []


def test_a_fully_cached_run_creates_no_job() -> None:
    world = World()
    record = {"artifact": {"content_hash": "cd" * 32, "serializer": "json", "size": 1}, "output_id": "o"}
    world.verdicts = {s: StepCache("cached", "k-" + s, "cached", record) for s in PLAN.steps}
    d = world.reconcile()
    assert not d.of(CreateJob) and d.finished == "Succeeded"
    assert len(d.of(WriteRecord)) == 6  # dependants in pods read these records of this run
    assert d.status["counts"]["cached"] == 6
    assert [p["state"] for p in d.status["phases"]] == ["Cached", "Cached"]
    again = world.reconcile()
    assert not again.of(WriteRecord) and not again.of(CreateJob)


def test_cached_steps_are_left_out_of_the_job_and_the_rest_runs() -> None:
    world = World()
    record = {"artifact": {"content_hash": "cd" * 32, "serializer": "json", "size": 1}, "output_id": "o"}
    world.verdicts["other"] = StepCache("cached", "k", "cached", record)
    world.verdicts["per_day[day=mon]"] = StepCache("cached", "k2", "cached", record)
    d = world.reconcile()
    (create,) = d.of(CreateJob)
    assert [s.steps for s in create.phase.streams] == [("per_day[day=tue]", "raw", "clean")]


def test_a_failed_step_skips_its_dependants_and_fails_the_run_with_the_last_error_line() -> None:
    world = World()
    world.reconcile()
    world.run_job(0, {"raw": "failed"})
    d = world.reconcile()
    assert not d.of(CreateJob)  # report depends on clean (skipped): no phase-1 Job
    assert world.records["report"]["state"] == "skipped"
    assert d.finished == "Failed"
    assert d.status["message"] == "step raw failed: ValueError: in column 'price'"
    states = {s["id"]: s["state"] for s in d.status["steps"]}
    assert states == {"per_day[day=tue]": "succeeded", "raw": "failed", "clean": "skipped", "other": "succeeded",
                      "per_day[day=mon]": "succeeded", "report": "skipped"}
    assert d.status["failures"] == [{"step": "raw", "message": "ValueError: in column 'price'"}]
    assert any(e.reason == "StepFailed" and "raw" in e.message for e in d.of(Event))
    assert not any(e.reason == "StepFailed" for e in world.reconcile().of(Event))


def test_a_lost_pod_crashes_its_step_with_the_pods_last_words() -> None:
    world = World()
    world.reconcile()
    world.pod_endings[(0, 1)] = ("PodFailure", "Traceback...\nOSError: disk full")
    world.run_job(0, lost=(1,))
    d = world.reconcile()
    assert world.records["other"]["state"] == "crashed"
    assert world.records["per_day[day=mon]"]["state"] == "skipped"
    assert d.status["message"].startswith("step other crashed: PodFailure:")
    assert "OSError: disk full" in d.status["message"]
    assert d.status["counts"]["crashed"] == 1
    assert d.finished == "Failed"


def test_an_oom_killed_pod_crashes_its_step_as_oomkilled() -> None:
    world = World()
    world.reconcile()
    world.pod_endings[(0, 0)] = ("OOMKilled", "exit code 137 (OOMKilled)")
    world.run_job(0, lost=(0,))
    d = world.reconcile()
    first = world.phase_files[0].streams[0].steps[0]
    assert world.records[first]["state"] == "crashed"
    assert world.records[first]["error"]["type"] == "OOMKilled"
    assert d.finished == "Failed" and d.status["failures"][0]["step"] == first


def test_cancel_deletes_live_jobs_and_cancels_unfinished_steps() -> None:
    world = World()
    world.reconcile()
    world.cancel = True
    d = world.reconcile()
    assert d.of(DeleteJob) == [DeleteJob("demo-1-p0")]
    assert d.finished == "Cancelled" and d.status["counts"]["cancelled"] == 6
    assert [p["state"] for p in d.status["phases"]] == ["Cancelled", "Cancelled"]


def test_timeout_fails_the_run_and_stops_its_jobs() -> None:
    world = World(timeout=90)
    world.reconcile()
    world.now = NOW + timedelta(seconds=60)
    d = world.reconcile()
    assert d.finished == "Failed" and d.status["message"] == "timed out after 90s"
    assert d.of(DeleteJob) == [DeleteJob("demo-1-p0")]


def test_not_started_runs() -> None:
    d = not_started(run_phase="Failed", message="Pipeline demo is invalid: cycle", previous={}, now=NOW, reason="InvalidPipeline")
    assert d.finished == "Failed" and d.status["conditions"][0]["status"] == "False"
    models.PipelineRunStatus.model_validate(d.status)
    waiting = not_started(run_phase="Pending", message="waiting for Pipeline demo", previous={}, now=NOW, reason="Waiting")
    assert waiting.finished is None and waiting.of(Event)
    assert not not_started(run_phase="Pending", message="waiting for Pipeline demo", previous=waiting.status, now=NOW,
                           reason="Waiting").of(Event)


def test_compressed_index_lists() -> None:
    assert parse_indexes("1,3-5,7") == (1, 3, 4, 5, 7)
    assert parse_indexes(None) == ()


def test_a_plan_with_deferred_partitions_asks_to_plan_again_once_their_source_ran() -> None:
    from barque.plans import Deferred

    plan = PLAN._replace(deferred=(Deferred("per_hour", "raw"),))
    world = World(plan)
    world.reconcile()
    world.run_job(0)
    world.reconcile()
    world.run_job(1)
    d = world.reconcile()
    assert d.of(Replan) == [Replan(("per_hour",))]
    assert d.finished is None and d.status["phase"] == "Running"
    assert decide(replace(world.facts(), unresolvable={"per_hour": "raw returned a pickle value"})).finished == "Failed"


def test_a_running_phase_keeps_the_start_time_it_was_first_shown_with() -> None:
    world = World()
    first = world.reconcile()
    started = first.status["phases"][0]["startTime"]
    world.jobs[0] = replace(world.jobs[0], start_time="2025-01-01T12:00:02Z")  # the Job controller's, later
    world.now = NOW + timedelta(seconds=5)
    assert world.reconcile().status["phases"][0]["startTime"] == started


def test_fail_fast_stops_the_live_jobs_at_the_first_failure_and_cancels_what_has_not_run() -> None:
    world = World()
    world.reconcile()
    world.fail_fast = True
    world.run_job(0, {"raw": "failed"})
    world.jobs[1] = JobView("demo-1-p1", 1, 1, active=1)  # as if a later phase were live
    d = world.reconcile()
    assert d.finished == "Failed" and d.of(DeleteJob) == [DeleteJob("demo-1-p1")]
    states = {s["id"]: s["state"] for s in d.status["steps"]}
    assert states["raw"] == "failed" and states["report"] == "cancelled"
    assert not any(a.record["state"] == "cancelled" for a in d.of(WriteRecord))  # the status's, not the store's


def test_continue_lets_independent_streams_finish_after_a_failure() -> None:
    world = World(plan=make_plan(graph(), None, 2))
    world.reconcile()
    world.run_job(0, {"per_day[day=mon]": "failed"})
    d = world.reconcile()
    assert [c.phase.index for c in d.of(CreateJob)] == [1] and d.finished is None


def test_a_run_that_succeeds_says_so_once_and_a_failed_phase_is_still_named() -> None:
    """The run's Succeeded Event stands for the phases that succeeded with it (no PhaseFinished
    beside it); a phase that failed keeps its own PhaseFinished."""
    world = World()
    world.reconcile()
    world.run_job(0)
    world.reconcile()
    world.run_job(1)
    end = world.reconcile()
    assert [e.reason for e in end.of(Event)] == ["Succeeded"]
    failing = World()
    failing.reconcile()
    failing.run_job(0, {"raw": "failed"})
    reasons = [e.reason for e in failing.reconcile().of(Event)]
    assert "PhaseFinished" in reasons and "Failed" in reasons
