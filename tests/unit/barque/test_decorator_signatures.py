"""The decorators take barca's options at run time too (a pipeline module is imported by its
steps): each returns the function unchanged, and ``Failed`` carries its reason."""

from __future__ import annotations

import pytest

import barque
from barque import Failed, batches, batches_by, decorators
from barque.parsing.declare import ACCEPTED


def f(r: list) -> dict:
    return {}


def test_asset_task_and_sensor_take_barcas_scheduling_options() -> None:
    assert barque.asset(weight=2, cutoff=True, deterministic=False, batch=batches([["a"]], strict=True))(f) is f
    assert barque.task(weight=3, batch=batches_by(str, max_size=2))(f) is f
    assert barque.sensor(weight=2)(f) is f


def test_sink_takes_a_dataset_sinks_options() -> None:
    assert barque.sink("out/ds/", partition_by=["day"], rows_per_file=10)(f) is f


def test_failed_keeps_its_reason_as_a_string() -> None:
    assert Failed(3).reason == "3" and repr(Failed("no rows")) == "Failed('no rows')"


@pytest.mark.parametrize(("kind", "options"), [("asset", decorators.AssetOptions), ("task", decorators.TaskOptions),
                                               ("sensor", decorators.NodeOptions)])
def test_the_keywords_a_type_checker_allows_are_the_ones_the_parser_accepts(kind: str, options: type) -> None:
    assert options.__optional_keys__ == set(ACCEPTED[kind])  # type: ignore[attr-defined]
