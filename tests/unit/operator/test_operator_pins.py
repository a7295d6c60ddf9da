"""A run pins the image, store and credentials Secret it resolved when it started, and builds every Job
from them: the operator's defaults changing mid-run (a ``helm upgrade``) do not move later phases. Pure:
the ``World`` harness of the reconcile tests decides (twice) and the Job builder runs on its decisions."""

from __future__ import annotations

from typing import Any

from barque_operator.manifests import JobInputs, build_phase_job, run_pins
from barque_operator.observed import CreateJob, Decision
from barque_operator.settings import OperatorSettings
from tests.unit.operator.operator_samples import pipeline, run
from tests.unit.operator.test_operator_reconcile import World

BEFORE = OperatorSettings(default_image="runtime:1", default_store="s3://old-bucket/store", default_store_secret="old-creds")
AFTER = OperatorSettings(default_image="runtime:2", default_store="s3://new-bucket/store", default_store_secret="new-creds")


def _operator_defaults_pipeline() -> dict[str, Any]:
    """A Pipeline that names no image and no store: its runs take the operator's defaults."""
    body = pipeline()
    body["spec"]["defaults"].pop("image")
    del body["spec"]["store"]
    return body


def _job(decision: Decision, settings: OperatorSettings) -> dict[str, Any]:
    (create,) = decision.of(CreateJob)
    return build_phase_job({**run(), "status": decision.status}, _operator_defaults_pipeline(), create.phase, settings)


def _resolved(job: dict[str, Any]) -> tuple[str, str, str]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    store = next(e["value"] for e in container["env"] if e["name"] == "BARQUE_STORE")
    return container["image"], store, container["envFrom"][0]["secretRef"]["name"]


def test_later_phases_use_the_image_store_and_secret_pinned_when_the_run_started() -> None:
    world = World()
    world.pins = run_pins({}, JobInputs.of(_operator_defaults_pipeline()), BEFORE).status_fields()
    first = world.reconcile()
    assert (first.status["image"], first.status["storeUri"], first.status["storeSecretName"]) == (
        "runtime:1", "s3://old-bucket/store", "old-creds")
    phase0 = _job(first, BEFORE)
    world.run_job(0)
    second = world.reconcile()  # the operator now runs with other defaults
    phase1 = _job(second, AFTER)
    assert _resolved(phase0) == _resolved(phase1) == ("runtime:1", "s3://old-bucket/store", "old-creds")
    assert second.status["image"] == "runtime:1"


def test_a_run_started_before_image_and_secret_were_pinned_keeps_its_store() -> None:
    status = {"storeUri": "s3://old-bucket/store"}  # what older operators pinned
    pins = run_pins(status, JobInputs.of(_operator_defaults_pipeline()), AFTER)
    assert (pins.image, pins.store_uri, pins.store_secret) == ("runtime:2", "s3://old-bucket/store", "new-creds")
