"""Generate the CRD YAML from the pydantic models: ``python -m barque_operator.crdgen``.

Writes ``crds/<plural>.barque.dev.yaml`` and a byte-identical copy under
``helm/barque/crds/`` (Helm installs CRDs from there). The output is deterministic; a unit
test regenerates it and fails when the checked-in files drift from the models.

pydantic emits JSON Schema 2020-12; the API server wants an OpenAPI v3.0 *structural*
schema. ``structural()`` bridges the two: it inlines ``$ref``s, turns ``X | None`` into an
optional ``X``, turns numeric ``exclusiveMinimum`` into the boolean form, and drops what
structural schemas forbid or do not need (titles, defaults, ``additionalProperties: false``).
Defaults are left to the models, not the API server, so there is one place that applies them.
``x-kubernetes-preserve-unknown-fields`` appears only where a model asks for it (kopf's own
``status.kopf`` area, whose shape is kopf's business).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel

from barque_operator.models import GROUP, VERSION, Pipeline, PipelineRun

HELM_CRDS = Path("helm/barque/crds")
CRDS = Path("crds")

_DROP = {"title", "default", "$defs", "discriminator"}


def structural(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Turn one pydantic JSON schema node into a Kubernetes structural schema node."""
    defs = schema.get("$defs", defs or {})
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    variants = schema.get("anyOf")
    if variants is not None:
        kept = [v for v in variants if v.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(kept) == 1:
            return structural({**kept[0], **rest}, defs)
        out = _clean(rest, defs)
        out["anyOf"] = [structural(v, defs) for v in kept]
        if out.get("x-kubernetes-int-or-string"):
            out["anyOf"] = [{"type": v["type"]} for v in out["anyOf"]]
        return _ordered(out)
    return _clean(schema, defs)


def _clean(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, Mapping):
                out[key] = structural(value, defs)
        elif key == "exclusiveMinimum":
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum":
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        else:
            out[key] = value
    if out.get("x-kubernetes-preserve-unknown-fields") and "type" not in out:
        out["type"] = "object"
    return _ordered(out)


_ORDER = ["description", "type", "format", "enum", "pattern", "minLength", "maxLength", "minimum",
          "exclusiveMinimum", "maximum", "exclusiveMaximum", "minItems", "maxItems", "minProperties",
          "maxProperties", "required", "properties", "additionalProperties", "items", "anyOf"]


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    """A fixed key order, so the YAML reads the same way in every node."""
    known = [k for k in _ORDER if k in schema]
    return {k: schema[k] for k in known + sorted(k for k in schema if k not in _ORDER)}


def _object_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = structural(model.model_json_schema(by_alias=True, mode="validation"))
    props = schema["properties"]
    # apiVersion/kind/metadata are the API server's; keep them out of the CR schema.
    for key in ("apiVersion", "kind", "metadata"):
        props.pop(key)
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    schema["properties"] = {k: props[k] for k in ("apiVersion", "kind", "metadata", "spec", "status")}
    schema["required"] = ["spec"]
    return schema


def _crd(
    model: type[BaseModel], kind: str, plural: str, short: list[str], columns: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "barque", "app.kubernetes.io/component": "crd"},
            "annotations": {"barque.dev/generated-by": "python -m barque_operator.crdgen"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["barque"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": _object_schema(model)},
                }
            ],
        },
    }


def _col(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path, "description": description}
    if priority:
        col["priority"] = priority
    return col


def pipeline_crd() -> dict[str, Any]:
    return _crd(
        Pipeline, "Pipeline", "pipelines", ["bpl"],
        [
            _col("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Whether the graph, code and schedule are valid"),
            _col("Nodes", "integer", ".status.nodes", "Nodes in the graph"),
            _col("Schedule", "string", ".spec.schedule.cron", "Cron schedule (UTC)"),
            _col("Last-Schedule", "date", ".status.lastScheduleTime", "When the schedule last created a run"),
            _col("Age", "date", ".metadata.creationTimestamp", "Age"),
        ],
    )


def pipelinerun_crd() -> dict[str, Any]:
    return _crd(
        PipelineRun, "PipelineRun", "pipelineruns", ["bpr"],
        [
            _col("Pipeline", "string", ".spec.pipelineRef.name", "The Pipeline this run executes"),
            _col("Status", "string", ".status.phase", "Pending, Running, Succeeded, Failed or Cancelled"),
            _col("Progress", "string", ".status.progress", "Finished steps / total steps"),
            _col("Cached", "integer", ".status.counts.cached", "Steps served from the cache"),
            _col("Age", "date", ".metadata.creationTimestamp", "Age"),
            _col("Duration", "string", ".status.duration", "Run time so far, or in total once finished"),
            _col("Failed", "integer", ".status.counts.failed", "Steps that raised", priority=1),
            _col("Crashed", "integer", ".status.counts.crashed", "Steps whose process died (a signal, OOMKilled, a lost Pod)", priority=1),
            _col("Filtered", "integer", ".status.counts.filtered", "Steps that chose not to produce (barque.Skip), or below one that did",
                 priority=1),
            _col("Skipped", "integer", ".status.counts.skipped", "Steps not run because a step they read failed or crashed",
                 priority=1),
            _col("Cancelled", "integer", ".status.counts.cancelled", "Steps stopped or never started: cancel, timeout, fail fast",
                 priority=1),
            _col("Message", "string", ".status.message", "Why the run failed", priority=1),
        ],
    )


def render(crd: Mapping[str, Any]) -> str:
    header = "# Generated by `python -m barque_operator.crdgen` from operator/barque_operator/models.py. Do not edit.\n"
    text: str = yaml.safe_dump(dict(crd), sort_keys=False, width=120, allow_unicode=True)
    return header + text


def generated() -> dict[str, str]:
    """File name -> YAML text of every generated CRD."""
    crds = [pipeline_crd(), pipelinerun_crd()]
    return {f"{c['metadata']['name']}.yaml": render(c) for c in crds}


def write(root: Path) -> list[Path]:
    written = []
    for folder in (root / CRDS, root / HELM_CRDS):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in generated().items():
            path = folder / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m barque_operator.crdgen", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="repository root (default: the current directory)")
    args = parser.parse_args(argv)
    for path in write(Path(args.root)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
