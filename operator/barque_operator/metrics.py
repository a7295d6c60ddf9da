"""Prometheus metrics of the operator; the chart's Grafana dashboard queries exactly these names.

``barque_runs_started_total``, ``barque_runs_finished_total{outcome}``,
``barque_run_duration_seconds``, ``barque_step_duration_seconds``,
``barque_steps_total{state}`` (cached included), ``barque_active_runs`` and
``barque_reconcile_errors_total{kind}`` and ``barque_events_dropped_total`` (Events the
operator did not post because its queue was full: they are advisory). Runs and steps are labelled by namespace and
pipeline. The active-runs gauge is derived from the runs the operator currently reconciles,
so a restarted operator rebuilds it as its timers start. The reconcile-error counter starts at
zero for every kind the operator reconciles: a labelled counter exports nothing until its first
increment, and the dashboard's panel would show "no data" on a healthy operator.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
STEP_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RECONCILED_KINDS = ("Pipeline", "PipelineRun")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs_started = Counter("barque_runs_started", "PipelineRuns started", ["namespace", "pipeline"], registry=r)
        self.runs_finished = Counter("barque_runs_finished", "PipelineRuns finished, by outcome",
                                     ["namespace", "pipeline", "outcome"], registry=r)
        self.run_duration = Histogram("barque_run_duration_seconds", "Wall time of finished PipelineRuns",
                                      ["namespace", "pipeline"], buckets=RUN_BUCKETS, registry=r)
        self.step_duration = Histogram("barque_step_duration_seconds", "Duration of executed steps",
                                       ["namespace", "pipeline"], buckets=STEP_BUCKETS, registry=r)
        self.steps = Counter("barque_steps", "Steps of finished runs, by final state", ["namespace", "pipeline", "state"],
                             registry=r)
        self.active_runs = Gauge("barque_active_runs", "PipelineRuns being reconciled (not finished)", registry=r)
        self.reconcile_errors = Counter("barque_reconcile_errors", "Reconciles that raised, by resource kind", ["kind"],
                                        registry=r)
        self.events_dropped = Counter("barque_events_dropped", "Kubernetes Events not posted: the queue was full",
                                      registry=r)
        for kind in RECONCILED_KINDS:
            self.reconcile_errors.labels(kind)
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)

    def run_active(self, uid: str, active: bool) -> None:
        with self._lock:
            (self._active.add if active else self._active.discard)(uid)
            self.active_runs.set(len(self._active))

    def run_started(self, namespace: str, pipeline: str) -> None:
        self.runs_started.labels(namespace, pipeline).inc()

    def run_finished(
        self, namespace: str, pipeline: str, outcome: str, duration: float | None,
        records: Mapping[str, Mapping[str, Any]], states: Iterable[str],
    ) -> None:
        """Count the run, its duration, its steps by final state and the executed steps' durations."""
        self.runs_finished.labels(namespace, pipeline, outcome.lower()).inc()
        if duration is not None:
            self.run_duration.labels(namespace, pipeline).observe(max(0.0, duration))
        for state in states:
            self.steps.labels(namespace, pipeline, state).inc()
        for rec in records.values():
            seconds = rec.get("duration_seconds")
            if rec.get("state") in ("succeeded", "failed") and isinstance(seconds, (int, float)):
                self.step_duration.labels(namespace, pipeline).observe(float(seconds))
