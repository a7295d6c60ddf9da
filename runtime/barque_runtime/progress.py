"""Diagnostics on stderr: a live progress line when stderr is a terminal, nothing when it is not.

Failures are always reported, terminal or not, because a person or a log needs them.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Mapping, TextIO

from barque.steprecord import FAILURES

if TYPE_CHECKING:
    from barque.cachestate import StepCache
    from barque.plans import Plan


class Progress:
    """Counts finished steps and, on a terminal, redraws one status line."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.total = 0
        self.done = 0
        self.cached = 0
        self.failed = 0
        self.started = time.monotonic()

    def planned(self, plan: Plan, verdicts: Mapping[str, StepCache]) -> None:
        self.total = max(self.total, plan.total_steps)
        self._draw()

    def finished(self, record: Mapping[str, Any]) -> None:
        self.done += 1
        state = record.get("state")
        self.cached += state == "cached"
        if state in FAILURES:  # failed or crashed: always said, terminal or not
            self.failed += 1
            err = record.get("error") or {}
            word = str(state).upper()
            self._line(f"[barque] {word} {record['step']} after {record.get('attempts', 1)} attempt(s): {err.get('type')}: {err.get('message')}")
        self._draw()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
            self._line(f"[barque] {self.done}/{self.total} steps done ({self.cached} cached) in {time.monotonic() - self.started:.1f}s")

    def _line(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[2K[barque] {self.done}/{self.total} steps ({self.cached} cached, {self.failed} failed) {time.monotonic() - self.started:.1f}s")
            self.stream.flush()
