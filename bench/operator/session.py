"""One benchmark session on the test bed: start it, watch it, and always tear it down.

Shared by run_bench.py, fault_kill.py and faults.py so that each stops exactly what it started,
the same way: on a normal end, an exception, Ctrl-C or SIGTERM (turned into KeyboardInterrupt),
the watch recorder stops, every operator started through the session stops, then the test bed's
processes in reverse order of start, and the temp dir goes unless ``keep``. ``results`` gains
``finished`` and, when interrupted, ``interrupted``.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from run_bench import OperatorProcess, Recorder, Testbed, log  # type: ignore[import-not-found]


@dataclass
class Session:
    bed: Testbed
    rec: Recorder
    operators: list[OperatorProcess] = field(default_factory=list)

    def operator(self, resync: float | None = None, source: Path | None = None, name: str = "operator",
                 **env: str) -> OperatorProcess:
        """A `barque operator` (not started) that the session stops at its end; ``env`` adds variables."""
        op = self.bed.operator(resync, source, name=name)
        op.env.update(env)
        self.operators.append(op)
        return op


@contextmanager
def bench_session(prefix: str, keep: bool, results: dict[str, Any]) -> Iterator[Session]:
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    bed = Testbed(dir=workdir)
    rec: Recorder | None = None
    session: Session | None = None
    try:
        log(f"starting the test bed in {workdir}")
        bed.start()
        rec = Recorder(bed.kubeconfigs["bench"])
        rec.start()
        session = Session(bed, rec)
        yield session
    except KeyboardInterrupt as err:
        results["interrupted"] = str(err) or "KeyboardInterrupt"
        log("interrupted; stopping the test bed")
    finally:
        results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if rec is not None:
            rec.stop.set()
        for op in session.operators if session is not None else []:
            op.stop()
        bed.stop()
        signal.signal(signal.SIGTERM, previous)
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
