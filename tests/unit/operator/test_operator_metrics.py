"""The operator's metrics carry exactly the names the chart's Grafana dashboard queries (no servers)."""

from __future__ import annotations

from prometheus_client import generate_latest

from barque_operator.metrics import Metrics

NAMES = ("barque_runs_started_total", "barque_runs_finished_total", "barque_run_duration_seconds",
         "barque_step_duration_seconds", "barque_steps_total", "barque_active_runs", "barque_reconcile_errors_total")


def test_metric_names_and_labels() -> None:
    m = Metrics()
    m.run_started("team-a", "demo")
    m.run_active("uid-1", True)
    m.run_active("uid-2", True)
    m.run_active("uid-1", False)
    records = {"a": {"state": "succeeded", "duration_seconds": 1.5}, "b": {"state": "cached", "duration_seconds": 0.0}}
    m.run_finished("team-a", "demo", "Succeeded", 12.0, records, ["succeeded", "cached"])
    m.reconcile_errors.labels("PipelineRun").inc()
    text = generate_latest(m.registry).decode()
    for name in NAMES:
        assert name in text, name
    assert 'barque_runs_finished_total{namespace="team-a",outcome="succeeded",pipeline="demo"} 1.0' in text
    assert 'barque_steps_total{namespace="team-a",pipeline="demo",state="cached"} 1.0' in text
    assert "barque_active_runs 1.0" in text
    assert 'barque_step_duration_seconds_count{namespace="team-a",pipeline="demo"} 1.0' in text  # cached steps did not run


def test_reconcile_errors_are_exported_at_zero_before_any_error() -> None:
    # The dashboard's reconcile-errors panel needs a series on a healthy operator too.
    text = generate_latest(Metrics().registry).decode()
    assert 'barque_reconcile_errors_total{kind="Pipeline"} 0.0' in text
    assert 'barque_reconcile_errors_total{kind="PipelineRun"} 0.0' in text
