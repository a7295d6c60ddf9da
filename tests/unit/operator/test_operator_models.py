"""The CR models accept what users and the operator write and reject what the API server would (no servers)."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from barque import model as core
from barque.model import Graph
from barque_operator import models
from tests.unit.operator.operator_samples import pipeline, run


def test_a_sample_pipeline_validates_and_its_graph_round_trips() -> None:
    p = models.Pipeline.model_validate(pipeline())
    graph = Graph.from_dict(p.spec.graph.model_dump())
    assert graph == Graph.from_dict(pipeline()["spec"]["graph"])
    assert p.spec.defaults.parallelism == 2
    assert models.dump(p)["spec"]["store"] == {"uri": "s3://barque-artifacts/demo", "secretName": "barque-store"}


def test_a_sample_run_validates_with_defaults() -> None:
    r = models.PipelineRun.model_validate(run(targets=["report"], params={"day": "mon"}, noCache=True))
    assert r.spec.pipeline_ref.name == "demo"
    assert r.spec.no_cache is True and r.spec.cancel is False
    assert models.dump(r)["spec"]["params"] == {"day": "mon"}


@pytest.mark.parametrize(
    "change",
    [
        {"code": {}},
        {"code": {"inline": {"files": {"a.py": ""}}, "image": "img"}},
        {"code": {"image": "img"}},
        {"schedule": {"cron": "every minute"}},
        {"schedule": {"cron": "* * * * *", "concurrencyPolicy": "Sometimes"}},
        {"defaults": {"parallelism": 0}},
        {"store": {"uri": "ftp://nope"}},
        {"unknownField": 1},
    ],
)
def test_invalid_pipeline_specs_are_rejected(change: dict[str, typing.Any]) -> None:
    with pytest.raises(ValidationError):
        models.Pipeline.model_validate(pipeline(**change))


@pytest.mark.parametrize(
    "change",
    [
        {"pipelineRef": {"name": "Not_A_Name"}},
        {"pipelineRef": {}},
        {"timeoutSeconds": 0},
        {"resumeFrom": "UPPER"},
        {"cancel": "yes please"},
        {"noCahce": True},
    ],
)
def test_invalid_run_specs_are_rejected(change: dict[str, typing.Any]) -> None:
    with pytest.raises(ValidationError):
        models.PipelineRun.model_validate(run(**change))


_PAIRS = [
    (core.Node, models.GraphNode),
    (core.InputSpec, models.GraphInput),
    (core.PartitionSpec, models.GraphPartition),
    (core.Freshness, models.GraphFreshness),
    (core.SinkSpec, models.GraphSink),
    (core.BatchSpec, models.GraphBatch),
]


@pytest.mark.parametrize(("record", "model"), _PAIRS, ids=[d.__name__ for d, _ in _PAIRS])
def test_graph_models_have_exactly_the_core_record_fields(record: type, model: type) -> None:
    # A field the CRD schema does not know is pruned by the API server without an error.
    assert list(record._fields) == list(model.model_fields)  # type: ignore[attr-defined]


def test_graph_model_has_exactly_the_graph_dict_keys() -> None:
    assert list(Graph(root=".", nodes={}).to_dict()) == list(models.GraphSpec.model_fields)
