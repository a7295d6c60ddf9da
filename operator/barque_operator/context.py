"""What every handler shares: settings, the API and store access, caches, metrics and the clock.

Built once by ``main`` and handed to the handlers explicitly when they are registered.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from barque_operator.events import EventRecorder
from barque_operator.jobwatch import JobIndex
from barque_operator.kube import Kube
from barque_operator.metrics import Metrics
from barque_operator.runstore import CodeSnapshots, RecordCache, SpecCache, Stores
from barque_operator.settings import OperatorSettings
from barque_operator.startfirst import Starts


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Context:
    settings: OperatorSettings
    kube: Kube
    metrics: Metrics
    stores: Stores = field(default_factory=Stores)
    records: RecordCache = field(default_factory=RecordCache)
    specs: SpecCache = field(default_factory=SpecCache)
    code: CodeSnapshots = field(default_factory=CodeSnapshots)
    clock: Callable[[], datetime] = utcnow
    background: list[Any] = field(default_factory=list)  # tasks the handlers started (kept referenced)
    jobs: JobIndex = field(default_factory=JobIndex)  # barque's Jobs by run, kept by ``jobwatch``
    stopping: threading.Event = field(default_factory=threading.Event)  # set: the Job watches stop
    starts: Starts = field(default_factory=Starts)  # run starts under way; status writes and Events wait for them
    # Store writes a reconcile starts side by side (``runcycle._write``); threads start on demand.
    io: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="barque-store"))
    events: EventRecorder = field(init=False)  # posts through ``kube``; its threads start on the first Event
    # Threads for the two halves of a run's reconcile (``handlers_run.on_reconcile``).
    reconcilers: ThreadPoolExecutor = field(init=False)
    writers: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.reconcilers = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="barque-reconcile")
        self.writers = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="barque-status")
        self.events = EventRecorder(lambda event: self.kube.post_event(event), lambda: self.metrics.events_dropped.inc(),
                                    hold=self.starts.busy)
