"""The phase Job builder against expected YAML files in ``expected/`` (pure; no servers).

Set BARQUE_UPDATE_EXPECTED=1 to rewrite the files after an intended change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from barque.plans import Phase, Stream
from barque_operator.manifests import ManifestError, build_phase_job
from barque_operator.settings import OperatorSettings
from tests.unit.operator.operator_samples import pipeline, run

EXPECTED = Path(__file__).parent / "expected"
SETTINGS = OperatorSettings(default_image="barque-runtime:dev", default_store="s3://fallback/store")

PHASE0 = Phase(0, "initial", (Stream("p0-w0", ("raw", "clean")), Stream("p0-w1", ("other",)), Stream("p0-w2", ("per_day[day=mon]",))))
PHASE1 = Phase(1, "report needs clean from another stream", (Stream("p1-w0", ("report",)),))


def _image_pipeline() -> dict[str, Any]:
    body = pipeline(code={"image": "registry.example/team/etl:2024.1", "path": "/app"})
    body["spec"]["defaults"] = {}
    del body["spec"]["store"]
    return body


CASES = {
    "phase0-inline-code": (lambda: run(timeoutSeconds=600), pipeline, PHASE0),
    "phase1-image-code-operator-defaults": (
        lambda: run(name="nightly-" + "x" * 70, uid="99999999-0000-4000-8000-000000000009"),
        _image_pipeline,
        PHASE1,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_phase_job_matches_expected_yaml(case: str) -> None:
    make_run, make_pipeline, phase = CASES[case]
    job = build_phase_job(make_run(), make_pipeline(), phase, SETTINGS)
    path = EXPECTED / f"{case}.yaml"
    if os.environ.get("BARQUE_UPDATE_EXPECTED"):
        path.write_text(yaml.safe_dump(job, sort_keys=False, width=120), encoding="utf-8")
    assert job == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_building_twice_gives_the_same_job() -> None:
    assert build_phase_job(run(), pipeline(), PHASE0, SETTINGS) == build_phase_job(run(), pipeline(), PHASE0, SETTINGS)


def test_job_runs_one_index_per_stream_and_fails_fast_only_on_user_errors() -> None:
    spec = build_phase_job(run(), pipeline(), PHASE0, SETTINGS)["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 2)
    assert "maxFailedIndexes" not in spec and "ttlSecondsAfterFinished" not in spec
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailIndex" and rules[0]["onExitCodes"]["values"] == [3]
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_pod_is_locked_down() -> None:
    pod = build_phase_job(run(), pipeline(), PHASE0, SETTINGS)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert ctx["runAsNonRoot"] and ctx["runAsUser"] == 10001 and ctx["readOnlyRootFilesystem"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "scratch", "mountPath": "/tmp"} in container["volumeMounts"]


def test_missing_image_is_an_error_that_names_the_setting() -> None:
    body = pipeline()
    body["spec"]["defaults"] = {}
    with pytest.raises(ManifestError, match="default-image"):
        build_phase_job(run(), body, PHASE0, OperatorSettings())
