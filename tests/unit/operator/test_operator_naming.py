"""Child names are deterministic, short enough for Pod hostnames, and DNS-1123 safe (pure)."""

from __future__ import annotations

import re

import pytest

from barque_operator import naming

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def test_short_names_are_kept_readable() -> None:
    assert naming.job_name("demo-1", 0) == "demo-1-p0"
    assert naming.job_name("demo-1", 12) == "demo-1-p12"


@pytest.mark.parametrize("run", ["a" * 52, "b" * 253, "nightly." + "c" * 60, "x-" * 100 + "y", "a.b.c"])
@pytest.mark.parametrize("phase", [0, 7, 12345])
def test_long_or_dotted_run_names_give_valid_distinct_job_names(run: str, phase: int) -> None:
    name = naming.job_name(run, phase)
    assert LABEL.fullmatch(name), name
    assert len(name) <= naming.JOB_NAME_MAX
    assert len(f"{name}-99999") <= 63  # the Indexed Job's Pod hostname stays a DNS label
    assert naming.job_name(run, phase) == name
    assert naming.job_name(run + "z", phase) != name
    assert naming.job_name(run, phase + 1) != name


@pytest.mark.parametrize("value", ["demo", "a" * 63, "a" * 64, "b" * 253, "weird/value:1", "-dash-", "x.y_z"])
def test_label_values_are_valid(value: str) -> None:
    out = naming.label_value(value)
    assert LABEL_VALUE.fullmatch(out) and len(out) <= 63, out
    if LABEL_VALUE.fullmatch(value) and len(value) <= 63:
        assert out == value


def test_run_id_carries_namespace_name_and_uid() -> None:
    assert naming.run_id("team-a", "demo-1", "abcdef12-0000-4000-8000-000000000001") == "k8s/team-a/demo-1-abcdef12"


def test_scheduled_run_names_are_per_slot() -> None:
    assert naming.scheduled_run_name("demo", 1_700_000_040) == "demo-28333334"
    assert naming.scheduled_run_name("demo", 1_700_000_040) == naming.scheduled_run_name("demo", 1_700_000_059)
    assert len(naming.scheduled_run_name("p" * 253, 1_700_000_040)) <= 253
