"""Build the one Indexed Job of a plan phase: a pure function from run, pipeline and phase to a dict.

Each Job index runs one stream of the phase (``barque exec`` reads ``JOB_COMPLETION_INDEX``).
Failure handling is split on purpose: user-code retries happen inside the runtime, which
exits 3 once a step has failed for good, so exit code 3 fails the index at once
(``FailIndex``) and the other streams carry on; any other exit is an infrastructure failure
and is retried up to ``backoffLimitPerIndex``; a disrupted Pod (preemption, node drain) is
ignored by the failure count and simply recreated. ``maxFailedIndexes`` stays unset so one
failed stream never stops independent ones, and ``ttlSecondsAfterFinished`` stays unset
because the operator reads the finished Job before the next phase starts.

The Pod runs as a non-root user with a read-only root filesystem, no capabilities, the
RuntimeDefault seccomp profile and no service-account token: it needs only the store.
``/tmp`` is an emptyDir (and ``TMPDIR``/``HOME`` point there) because Python and libraries
expect somewhere writable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from barque.plans import Phase
from barque.hookstore import HOOKS_PHASE
from barque_operator import naming
from barque_operator.models import API_VERSION, Defaults, PipelineRunSpec, StoreSpec
from barque_operator.settings import OperatorSettings

CONTAINER = "step"
USER_FAILURE_EXIT_CODE = 3
RUNTIME_UID = 10001


class ManifestError(ValueError):
    """The Job cannot be built (no image, no store); the message says which setting is missing."""


def labels(pipeline_name: str, run_name: str, phase: int | None = None) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "barque",
        "app.kubernetes.io/component": "step",
        "app.kubernetes.io/managed-by": "barque-operator",
        "barque.dev/pipeline": naming.label_value(pipeline_name),
        "barque.dev/run": naming.label_value(run_name),
    }
    if phase is not None:
        out["barque.dev/phase"] = str(phase)
    return out


@dataclass(frozen=True)
class JobInputs:
    """The parts of a Pipeline a Job needs; a run pins them when it starts (see ``pinned_pipeline``)."""

    name: str
    defaults: Defaults
    store: StoreSpec | None
    code_image: str | None

    @classmethod
    def of(cls, pipeline: Mapping[str, Any]) -> "JobInputs":
        spec = pipeline.get("spec") or {}
        store = spec.get("store")
        return cls(
            name=pipeline["metadata"]["name"],
            defaults=Defaults.model_validate(spec.get("defaults") or {}),
            store=StoreSpec.model_validate(store) if store else None,
            code_image=(spec.get("code") or {}).get("image"),
        )


def pinned_pipeline(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    """What of a Pipeline its runs keep for later phases: everything but the graph and inline code."""
    spec = pipeline.get("spec") or {}
    code = {k: v for k, v in (spec.get("code") or {}).items() if k != "inline"}
    kept = {k: spec[k] for k in ("defaults", "store") if spec.get(k)}
    return {"metadata": {"name": pipeline["metadata"]["name"]}, "spec": {**kept, "code": code}}


def image_for(pipeline: JobInputs, settings: OperatorSettings) -> str | None:
    """An image that holds the code wins; then the Pipeline's default; then the operator's."""
    return pipeline.code_image or pipeline.defaults.image or settings.default_image


def store_for(pipeline: JobInputs, settings: OperatorSettings) -> tuple[str | None, str | None]:
    """The store URI and credentials Secret: the Pipeline's, else the operator's defaults."""
    if pipeline.store is not None:
        return pipeline.store.uri, pipeline.store.secret_name
    return settings.default_store, settings.default_store_secret


@dataclass(frozen=True)
class RunPins:
    """The image, store and credentials Secret a run resolved when it started.

    They are pinned on the run's status (``image``, ``storeUri``, ``storeSecretName``) and every
    Job of the run is built from them, so changing the operator's defaults mid-run (a ``helm
    upgrade``) cannot send a later phase to another image or to a store that lacks the run's spec.
    """

    image: str
    store_uri: str
    store_secret: str | None

    def status_fields(self) -> dict[str, Any]:
        return {"image": self.image, "storeUri": self.store_uri, "storeSecretName": self.store_secret}


def run_pins(status: Mapping[str, Any], pipeline: JobInputs, settings: OperatorSettings) -> RunPins:
    """The pins on ``status`` when the run has them, else resolved now (the run is starting, or it
    started before image and Secret were pinned: then only its store URI is taken from the status)."""
    if status.get("image") and status.get("storeUri"):
        return RunPins(str(status["image"]), str(status["storeUri"]), status.get("storeSecretName"))
    image = image_for(pipeline, settings)
    if not image:
        raise ManifestError("no runtime image: set spec.defaults.image on the Pipeline or --default-image on the operator")
    store, secret = store_for(pipeline, settings)
    store = status.get("storeUri") or store
    if not store:
        raise ManifestError("no artifact store: set spec.store.uri on the Pipeline or --default-store on the operator")
    return RunPins(image, store, secret)


def run_timeout(run: PipelineRunSpec, pipeline: JobInputs) -> int | None:
    return run.timeout_seconds or pipeline.defaults.timeout_seconds


def build_phase_job(
    run: Mapping[str, Any], pipeline: Mapping[str, Any], phase: Phase, settings: OperatorSettings
) -> dict[str, Any]:
    """The Job for ``phase`` of ``run`` (both CR bodies as dicts); ``phase`` lists only the streams that run.

    Image, store and Secret come from the pins on the run's status (``run_pins``)."""
    if not phase.streams:
        raise ManifestError(f"phase {phase.index} has no stream to run; it needs no Job")
    return _indexed_job(run, pipeline, phase.index, len(phase.streams), ["--phase", str(phase.index)], settings)


def build_hook_job(run: Mapping[str, Any], pipeline: Mapping[str, Any], hooks: int, settings: OperatorSettings) -> dict[str, Any]:
    """The run's last Job: one Pod per run hook (Indexed by hook), run once its outcome is known."""
    if hooks < 1:
        raise ManifestError("a run with no hook to run needs no hook Job")
    return _indexed_job(run, pipeline, HOOKS_PHASE, hooks, ["--hooks"], settings)


def _indexed_job(
    run: Mapping[str, Any], pipeline: Mapping[str, Any], index: int, streams: int, what: list[str], settings: OperatorSettings
) -> dict[str, Any]:
    meta = run["metadata"]
    run_spec = PipelineRunSpec.model_validate(run["spec"])
    spec = JobInputs.of(pipeline)
    pins = run_pins(run.get("status") or {}, spec, settings)
    job_labels = labels(spec.name, meta["name"], index)
    rid = naming.run_id(meta["namespace"], meta["name"], meta["uid"])
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": streams,
        "parallelism": min(streams, spec.defaults.parallelism),
        "backoffLimitPerIndex": spec.defaults.retries,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailIndex",
                    "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [USER_FAILURE_EXIT_CODE]},
                },
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            ]
        },
        "template": {
            "metadata": {"labels": dict(job_labels), "annotations": {"barque.dev/run-id": rid}},
            "spec": _pod_spec(spec, settings, pins, rid, index, what),
        },
    }
    timeout = run_timeout(run_spec, spec)
    if timeout:
        job_spec["activeDeadlineSeconds"] = timeout
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": naming.job_name(meta["name"], index),
            "namespace": meta["namespace"],
            "labels": job_labels,
            "annotations": {"barque.dev/run-id": rid},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "PipelineRun",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": job_spec,
    }


def _pod_spec(spec: JobInputs, settings: OperatorSettings, pins: RunPins, rid: str, phase: int, what: list[str]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": pins.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["barque", "exec", "--store", "$(BARQUE_STORE)", "--run", "$(BARQUE_RUN_ID)", *what],
        "env": [
            {"name": "BARQUE_STORE", "value": pins.store_uri},
            {"name": "BARQUE_RUN_ID", "value": rid},
            {"name": "BARQUE_PHASE", "value": str(phase)},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "HOME", "value": "/tmp"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
    }
    for name, value in sorted((spec.defaults.env or {}).items()):
        if not name.startswith("BARQUE_"):  # the run's coordinates are the operator's to set
            container["env"].append({"name": name, "value": value})
    if pins.store_secret:
        container["envFrom"] = [{"secretRef": {"name": pins.store_secret}}]
    resources = spec.defaults.resources
    if resources is not None and (resources.requests or resources.limits):
        container["resources"] = resources.model_dump(by_alias=True, exclude_none=True)
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNTIME_UID,
            "runAsGroup": RUNTIME_UID,
            "fsGroup": RUNTIME_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    }
    if spec.defaults.service_account_name:
        pod["serviceAccountName"] = spec.defaults.service_account_name
    if spec.defaults.node_selector:
        pod["nodeSelector"] = dict(spec.defaults.node_selector)
    if spec.defaults.tolerations:
        pod["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in spec.defaults.tolerations]
    return pod


def scheduled_run(pipeline: Mapping[str, Any], name: str, slot: str) -> dict[str, Any]:
    """The PipelineRun a Pipeline's schedule creates for the slot ``slot`` (owned by the Pipeline)."""
    meta = pipeline["metadata"]
    sched = (pipeline.get("spec") or {}).get("schedule") or {}
    spec: dict[str, Any] = {"pipelineRef": {"name": meta["name"]}}
    if sched.get("targets"):
        spec["targets"] = list(sched["targets"])
    if sched.get("params"):
        spec["params"] = dict(sched["params"])
    if sched.get("timeoutSeconds"):
        spec["timeoutSeconds"] = sched["timeoutSeconds"]
    if sched.get("batch"):
        spec["batch"] = list(sched["batch"])
    return {
        "apiVersion": API_VERSION,
        "kind": "PipelineRun",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {
                "barque.dev/pipeline": naming.label_value(meta["name"]),
                "barque.dev/scheduled-by": naming.label_value(meta["name"]),
            },
            "annotations": {"barque.dev/scheduled-at": slot},
            "ownerReferences": [
                {"apiVersion": API_VERSION, "kind": "Pipeline", "name": meta["name"], "uid": meta["uid"],
                 "controller": True, "blockOwnerDeletion": False}
            ],
        },
        "spec": spec,
    }
