"""The examples' manifests under GitOps, on the real node: applied with server-side apply by a
user (or Argo CD / Flux, which apply the same way), run by the operator, and re-applied.

Real: kube-apiserver's server-side apply and dry run, kubectl (`apply --server-side`, `diff
--server-side`), the chart's operator pod that ran the examples (examples_flow). Nothing is
simulated. The second apply must be a no-op (same resourceVersion, same managedFields) and the
diff empty after the runs, which holds only if the operator writes nothing the manifests own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import cluster

from .examples_flow import ExamplesRelease

APPLIER = "kubectl"  # kubectl apply --server-side's default field manager


def _live(kubectl: cluster.Tool, namespace: str, manifest: Path) -> dict[str, dict[str, Any]]:
    """The live objects of a manifest directory, by kind/name."""
    out = json.loads(kubectl("get", "-n", namespace, "-f", str(manifest), "-o", "json",
                             "--show-managed-fields").stdout)
    items = out["items"] if "items" in out else [out]
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in items}


def _paths(fields: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """The leaf field paths of a managedFields fieldsV1 tree ("f:spec.f:cancel", ...)."""
    for key, sub in fields.items():
        path = f"{prefix}.{key}" if prefix else key
        if key == "." or not sub:
            yield path
        else:
            yield from _paths(sub, path)


def _owned(obj: dict[str, Any], manager_is_applier: bool) -> set[str]:
    return {f"{entry.get('subresource', '')}:{path}" for entry in obj["metadata"].get("managedFields", [])
            if (entry["manager"] == APPLIER) == manager_is_applier for path in _paths(entry.get("fieldsV1", {}))}


@pytest.mark.parametrize("example", ["quickstart", "failing"])
def test_applying_an_examples_manifests_again_server_side_changes_nothing(
        examples_release: ExamplesRelease, kubectl: cluster.Tool, example: str) -> None:
    manifest = next(m for m in examples_release.manifests if m.name == example)
    before = _live(kubectl, examples_release.namespace, manifest)
    kubectl("apply", "--server-side", "-n", examples_release.namespace, "-f", str(manifest))
    after = _live(kubectl, examples_release.namespace, manifest)
    assert set(after) == set(before)
    for key, obj in after.items():
        assert obj["metadata"]["resourceVersion"] == before[key]["metadata"]["resourceVersion"], key
        assert obj["metadata"]["managedFields"] == before[key]["metadata"]["managedFields"], key


@pytest.mark.parametrize("example", ["quickstart", "failing"])
def test_kubectl_diff_of_an_examples_manifests_shows_no_drift_after_its_runs(
        examples_release: ExamplesRelease, kubectl: cluster.Tool, example: str) -> None:
    manifest = next(m for m in examples_release.manifests if m.name == example)
    diff = kubectl("diff", "--server-side", "-n", examples_release.namespace, "-f", str(manifest), check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr  # 1: differences, >1: kubectl failed
    assert diff.stdout == ""


@pytest.mark.parametrize("example", ["quickstart", "failing"])
def test_the_operator_writes_no_field_the_examples_manifests_own(
        examples_release: ExamplesRelease, kubectl: cluster.Tool, example: str) -> None:
    manifest = next(m for m in examples_release.manifests if m.name == example)
    for key, obj in _live(kubectl, examples_release.namespace, manifest).items():
        users = {path.split(":", 1)[1] for path in _owned(obj, manager_is_applier=True)}
        others = _owned(obj, manager_is_applier=False)
        assert users, f"{key}: {APPLIER} owns nothing: {obj['metadata'].get('managedFields')}"
        shared = {p for p in others if p.split(":", 1)[1] in users}
        assert not shared, f"{key}: fields of the manifest also written by another manager: {sorted(shared)}"
        assert not {p for p in others if p.startswith(":f:spec")}, f"{key}: spec written by another manager: {others}"
