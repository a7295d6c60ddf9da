"""The checked-in CRDs are exactly what the models generate, and the chart carries the same bytes (no servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from barque_operator import crdgen

ROOT = Path(__file__).resolve().parents[3]


def _schema(name: str) -> dict[str, Any]:
    crd = yaml.safe_load(crdgen.generated()[name])
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_generation_is_deterministic() -> None:
    assert crdgen.generated() == crdgen.generated()


def test_checked_in_crds_match_the_models() -> None:
    for name, text in crdgen.generated().items():
        path = ROOT / "crds" / name
        assert path.read_text(encoding="utf-8") == text, f"{path} drifted: run `python -m barque_operator.crdgen`"


def test_helm_chart_carries_a_byte_identical_copy() -> None:
    for name in crdgen.generated():
        chart = ROOT / "helm" / "barque" / "crds" / name
        assert chart.read_bytes() == (ROOT / "crds" / name).read_bytes(), f"{chart} differs from crds/{name}"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.get("properties", {}).items():
            out += _walk(value, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out += _walk(node[key], f"{path}[{key}]")
        for i, v in enumerate(node.get("anyOf", [])):
            out += _walk(v, f"{path}|{i}")
    return out


def test_schemas_are_structural() -> None:
    for name in crdgen.generated():
        for path, node in _walk(_schema(name)):
            assert not {"$ref", "$defs", "title", "default", "const", "prefixItems"} & set(node), path
            assert node.get("additionalProperties") is not False, path
            if "anyOf" not in path.split(".")[-1] and "|" not in path:
                assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{name} {path} has no type"
            assert not isinstance(node.get("exclusiveMinimum"), (int, float)) or isinstance(node["exclusiveMinimum"], bool)


def test_preserve_unknown_fields_only_for_kopfs_own_area_and_the_stubbed_values_of_overrides() -> None:
    # spec.overrides holds a test's stub values, any JSON: its names are checked by the operator.
    expected = {"pipelineruns.barque.dev.yaml": [".spec.overrides", ".status.kopf"]}
    for name in crdgen.generated():
        kept = [p for p, n in _walk(_schema(name)) if n.get("x-kubernetes-preserve-unknown-fields")]
        assert kept == expected.get(name, [".status.kopf"]), name


def test_names_columns_and_status_subresource() -> None:
    for name, short in (("pipelines.barque.dev.yaml", "bpl"), ("pipelineruns.barque.dev.yaml", "bpr")):
        crd = yaml.safe_load(crdgen.generated()[name])
        assert crd["spec"]["names"]["shortNames"] == [short]
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
    run = yaml.safe_load(crdgen.generated()["pipelineruns.barque.dev.yaml"])
    columns = {c["name"]: c["jsonPath"] for c in run["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["Status"] == ".status.phase"
    assert columns["Progress"] == ".status.progress"
    assert columns["Cached"] == ".status.counts.cached"
    assert columns["Age"] == ".metadata.creationTimestamp"
    assert columns["Duration"] == ".status.duration"
