"""The schedule timer's glue for a schedule's options (maxFailures, timeoutSeconds, batch): runs, status, Event.

Nothing real: a fake Kube holding PipelineRuns in memory and a fixed clock. Each tick's patch
is applied to the Pipeline's status and the tick run again, as the API server and kopf would.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Mapping

from barque_operator.handlers_pipeline import on_schedule
from barque_operator.models import PipelineStatus


class FakeKube:
    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, str]] = []
        self.deleted: list[str] = []

    def list_runs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return list(self.runs.values())

    def create_run(self, namespace: str, body: Mapping[str, Any]) -> bool:
        name = body["metadata"]["name"]
        if name in self.runs:
            return False
        self.runs[name] = {**body, "metadata": {**body["metadata"], "creationTimestamp": "2025-01-01T00:00:00Z"}}
        return True

    def finish(self, name: str, phase: str, at: str) -> None:
        self.runs[name]["status"] = {"phase": phase, "completionTime": at}

    def cancel_run(self, namespace: str, name: str) -> None:
        raise AssertionError("no run is cancelled here")

    def delete_run(self, namespace: str, name: str) -> None:
        self.deleted.append(name)
        self.runs.pop(name, None)

    def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
        self.events.append((type_, reason, message))
        return True


class World:
    def __init__(self, **schedule: Any) -> None:
        self.kube = FakeKube()
        self.now = datetime(2025, 1, 1, 0, 0, 30, tzinfo=timezone.utc)
        self.body: dict[str, Any] = {
            "metadata": {"name": "daily", "namespace": "ns", "uid": "u1", "generation": 1,
                         "creationTimestamp": "2024-12-31T23:00:00Z"},
            "spec": {"schedule": {"cron": "* * * * *", **schedule}},
            "status": {},
        }
        self.ctx = SimpleNamespace(kube=self.kube, events=self.kube, clock=lambda: self.now)

    def tick(self) -> dict[str, Any]:
        """Run the timer twice on the same facts: the second pass must change nothing."""
        for attempt in range(2):
            patch = SimpleNamespace(status={})
            on_schedule(self.ctx, self.body, patch)  # type: ignore[arg-type]
            if attempt == 1:
                assert patch.status == {}, f"a second pass on the same facts patched {patch.status}"
            status = {**self.body["status"], **patch.status}
            self.body["status"] = {k: v for k, v in status.items() if v is not None}
            PipelineStatus.model_validate(self.body["status"])
        return self.body["status"]

    def minute(self, n: int) -> None:
        self.now = self.now.replace(minute=n)

    def created(self) -> list[str]:
        """Every run the schedule created, including those the history limits deleted since."""
        return [e[2].split()[2] for e in self.kube.events if e[1] == "Scheduled"]

    def condition(self) -> dict[str, Any] | None:
        return next((c for c in self.body["status"].get("conditions") or () if c["type"] == "ScheduleFailing"), None)


def fail_latest(world: World, phase: str = "Failed") -> str:
    name = max(r for r in world.kube.runs if "status" not in world.kube.runs[r])
    world.kube.finish(name, phase, world.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return name


def test_timeout_seconds_becomes_each_scheduled_runs_timeout() -> None:
    world = World(timeoutSeconds=90)
    world.tick()
    (run,) = world.kube.runs.values()
    assert run["spec"]["timeoutSeconds"] == 90


def test_batch_becomes_each_scheduled_runs_batch_override() -> None:
    world = World(batch=["scored=all"])
    world.tick()
    (run,) = world.kube.runs.values()
    assert run["spec"]["batch"] == ["scored=all"]


def test_after_max_failures_runs_failed_in_a_row_ticks_are_skipped_with_an_event_and_a_condition() -> None:
    world = World(maxFailures=2)
    world.tick()
    assert world.condition()["status"] == "False"  # type: ignore[index]
    for minute in (1, 2):
        fail_latest(world)
        world.minute(minute)
        world.tick()
    assert len(world.created()) == 2  # the second failure was counted before the tick at 00:02
    status = world.body["status"]
    assert status["consecutiveFailures"] == 2
    cond = world.condition()
    assert cond is not None and cond["status"] == "True" and cond["reason"] == "MaxFailuresReached"
    assert "maxFailures=2" in cond["message"] and "apply the Pipeline again" in cond["message"]
    assert [e[1] for e in world.kube.events if e[0] == "Warning"] == ["ScheduleFailing"]
    world.minute(3)
    world.tick()
    assert len(world.created()) == 2  # still skipped, and the Event is not posted again
    assert [e[1] for e in world.kube.events if e[0] == "Warning"] == ["ScheduleFailing"]


def test_a_succeeded_run_resets_the_count() -> None:
    world = World(maxFailures=2)
    world.tick()
    fail_latest(world)
    world.minute(1)
    world.tick()
    fail_latest(world, "Succeeded")
    world.minute(2)
    world.tick()
    assert world.body["status"]["consecutiveFailures"] == 0
    assert world.condition()["status"] == "False"  # type: ignore[index]
    assert len(world.created()) == 3


def test_a_new_generation_resumes_a_failing_schedule() -> None:
    world = World(maxFailures=1)
    world.tick()
    fail_latest(world)
    world.minute(1)
    world.tick()
    assert len(world.created()) == 1 and world.condition()["status"] == "True"  # type: ignore[index]
    world.body["metadata"]["generation"] = 2  # the fix applied
    world.minute(2)
    world.tick()
    assert len(world.created()) == 2 and world.condition()["status"] == "False"  # type: ignore[index]


def test_without_max_failures_nothing_is_skipped_and_no_condition_is_written() -> None:
    world = World()
    for minute in range(1, 4):
        world.tick()
        fail_latest(world)
        world.minute(minute)
    world.tick()
    assert len(world.created()) == 4 and world.condition() is None
    assert world.kube.deleted  # the history limit still prunes
