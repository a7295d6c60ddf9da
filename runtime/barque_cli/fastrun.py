"""The ``barque`` console script: a run that a certificate answers, else the full command.

A fully cached local run left a certificate (``barque.certificate``, written by
``barque_runtime.certify``): for this exact command line, in this folder, with these files,
variables and stored artifacts, the outcome is the one recorded. When one is found and its
checks hold, this prints that outcome (with a new run id and elapsed time) and adds the run to
the history as the full path does (``history.append_run``: the row every reader of the history
sees); otherwise it hands over to ``barque_cli.main`` unchanged. It runs before argparse and
imports only what the checks and the answer need: ``os``, ``sys``, ``time``, ``stat``, ``zlib``
(the seal), ``fcntl`` (the history's lock); ``hashlib`` only to hash a variable or a file whose
status changed.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from barque.plans import Plan


def main() -> int:
    """Entry point of the ``barque`` console script; returns the exit code."""
    t0 = time.perf_counter()
    started = time.time()
    try:
        return _answer(sys.argv[1:], t0, started)
    except KeyboardInterrupt:  # Ctrl-C before anything was printed exits as the full path's does
        return 130


def _answer(argv: list[str], t0: float, started: float) -> int:
    from barque import certificate

    try:
        cwd = os.getcwd()
        answer = certificate.serve(argv, cwd, os.environ)
    except OSError:
        answer = None
    if answer is None:
        from barque_cli.main import main as full

        return full(certify=True)
    from barque_runtime import history

    if sys.stderr.isatty():  # the live line a run draws on a terminal (the request says it was one)
        _progress(answer.steps)
    run_id = history.new_run_id()
    elapsed = round(time.perf_counter() - t0, 4)
    history.append_run(answer.history_folder, run_id, started, elapsed, answer.history_rest)
    text = answer.text(run_id, elapsed)
    if text:
        sys.stdout.write(text + "\n")
    return 0


def _progress(steps: int) -> None:
    """What ``Progress`` shows for a run whose ``steps`` were all served from cache."""
    from types import SimpleNamespace
    from typing import cast

    from barque_runtime.progress import Progress

    progress = Progress()
    progress.planned(cast("Plan", SimpleNamespace(total_steps=steps)), {})
    for _ in range(steps):
        progress.finished({"state": "cached"})
    progress.close()


if __name__ == "__main__":
    sys.exit(main())
