"""The reconcile decisions of a run with hooks: once the steps are over, the hook Job is created
once, the run stays Running while it runs, and then ends with the phase its steps made and the
hooks' results in its status. Pure: the reconcile tests' World (a dict for the store, JobViews
for the Jobs); each decision is made twice and its status validated against the CRD's model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from barque.hookstore import HOOKS_PHASE
from barque_operator.observed import CreateHookJob, Decision, JobView, RunFacts
from tests.unit.operator.test_operator_reconcile import World

HOOKS = {"p.py:alert": "failure", "p.py:always": "always", "p.py:party": "success"}


class HookedWorld(World):
    """A World whose run has hooks; ``results`` are what the hook Job stored once it ended."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[dict[str, Any]] | None = None

    def facts(self) -> RunFacts:
        return replace(super().facts(), hooks=HOOKS, hook_results=self.results)

    def reconcile(self) -> Decision:
        d = super().reconcile()
        for action in d.of(CreateHookJob):
            assert HOOKS_PHASE not in self.jobs, "the hook Job is created once"
            self.jobs[HOOKS_PHASE] = JobView(f"demo-1-p{HOOKS_PHASE}", HOOKS_PHASE, len(action.hooks), active=1)
        return d

    def steps_over(self, outcome: dict[str, str] | None = None) -> Decision:
        """Run the phases' Jobs; the first decision made once every step has its record."""
        self.reconcile()
        self.run_job(0, outcome)
        d = self.reconcile()
        if 1 in self.jobs:
            self.run_job(1)
            d = self.reconcile()
        return d


def test_the_hook_job_starts_once_the_steps_are_over_and_the_run_stays_running() -> None:
    world = HookedWorld()
    d = world.steps_over({"raw": "failed"})
    (create,) = d.of(CreateHookJob)
    assert create.status == "failed" and create.hooks == ("p.py:alert", "p.py:always")
    assert d.status["phase"] == "Running" and d.finished is None
    again = world.reconcile()
    assert not again.of(CreateHookJob) and again.status["phase"] == "Running"


def test_the_run_ends_with_its_steps_phase_and_the_hooks_results_once_the_hook_job_ended() -> None:
    world = HookedWorld()
    world.steps_over({"raw": "failed"})
    world.jobs[HOOKS_PHASE] = replace(world.jobs[HOOKS_PHASE], active=0, outcome="Complete")
    world.results = [{"hook": "p.py:alert", "on": "failure", "state": "succeeded", "attempts": 1, "duration_seconds": 0.1},
                     {"hook": "p.py:always", "on": "always", "state": "failed", "attempts": 1, "error": "RuntimeError: down"}]
    d = world.reconcile()
    assert d.finished == "Failed" and d.status["message"].startswith("step raw failed")
    assert d.status["hooks"] == [
        {"hook": "p.py:alert", "on": "failure", "state": "succeeded", "attempts": 1, "durationSeconds": 0.1},
        {"hook": "p.py:always", "on": "always", "state": "failed", "attempts": 1, "error": "RuntimeError: down"},
    ]
    assert [e.reason for e in d.actions if getattr(e, "reason", None) == "HookFailed"] == ["HookFailed"]
