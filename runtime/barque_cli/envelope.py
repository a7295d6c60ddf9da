"""How an error reaches stderr: barca's JSON envelope when the command's output is JSON (its
"Errors" contract: one JSON line, the last on stderr), barque's prose otherwise.

The envelope itself is built by ``barque.errors.error_envelope``; this module decides the mode
and prints. It imports ``json`` only to print one, and then the standard library's: one of
the errors it reports is a pipeline file named ``json.py`` in the working folder, which
``python -m barque_cli.main`` puts first on ``sys.path``.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any, Mapping

from barque.errors import BarqueError, error_envelope
from barque_cli.output import JSON_MODE, output_mode

# Errors follow the output rule of the command's stdout. ``plan`` always prints JSON, as in
# barca; these commands print no JSON document, so their errors stay prose.
ALWAYS_JSON = frozenset({"plan"})
HUMAN_ONLY = frozenset({"compile", "submit", "operator", "exec", "version", "logs"})


def json_errors(argv: list[str], environ: Mapping[str, str], isatty: bool) -> bool:
    """Whether an error of ``barque ARGV`` is reported as JSON. Read from the raw arguments,
    so an argument the parser rejects is reported the same way."""
    command = next((a for a in argv if not a.startswith("-")), "")
    if command in ALWAYS_JSON:
        return True
    if command in HUMAN_ONLY or not command:
        return False
    o = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "--output")), None)
    o = o or next((a.split("=", 1)[1] for a in argv if a.startswith("--output=")), None)
    try:
        return output_mode("--json" in argv, "--pretty" in argv, o, environ, isatty) == JSON_MODE
    except BarqueError:  # conflicting flags or a bad BARQUE_OUTPUT: that error itself, as JSON when piped
        return not isatty


def error_text(err: BarqueError, as_json: bool) -> str:
    """What stderr carries for ``err``: barca's envelope on one line, or the prose barque prints."""
    if as_json:
        return envelope_line(err.envelope())
    from barque_cli.usage import ArgumentError

    return err.human_text() if isinstance(err, ArgumentError) else f"barque: error: {err}"


def envelope_line(envelope: Mapping[str, Any]) -> str:
    """One envelope as barca prints it: one compact JSON line, keys sorted."""
    return _stdlib_json().dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def run_failure(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The envelope of a run that did not succeed (its first failed step, or the cancel), else None."""
    run_id = summary.get("run_id")
    if summary.get("status") == "cancelled":
        code = 143 if summary.get("cancelled_by") == "SIGTERM" else 130
        return error_envelope(code, f"run {run_id} cancelled by {summary.get('cancelled_by') or 'SIGINT'}",
                              "re-run the same command: steps that finished are cached")
    if summary.get("status") == "succeeded":
        return None
    failures = summary.get("failures") or []
    if not failures:  # failed without a failed step: keys that could not be resolved
        return error_envelope(1, f"run {run_id} failed", f"`barque history {run_id}` shows its steps")
    first = failures[0]
    return error_envelope(
        1, f"step '{first['step']}' failed: {first['error']}",
        f"fix the error in '{first['step']}' and re-run the same command; steps that succeeded are cached "
        f"(`barque history {run_id}` shows the traceback, `barque logs {run_id}` the output)",
        node=first["step"], traceback=None,
    )


def _stdlib_json() -> ModuleType:
    """The standard library's ``json``, also where a ``json.py`` of the working folder was
    imported under that name (it is put back afterwards: it is not this module's to remove)."""
    loaded = sys.modules.get("json")
    if loaded is not None and hasattr(loaded, "JSONEncoder"):
        return loaded
    shadow = {name: sys.modules.pop(name) for name in list(sys.modules) if name == "json" or name.startswith("json.")}
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if p not in {"", ".", os.getcwd()}]
    try:
        return importlib.import_module("json")
    finally:
        sys.path[:] = saved
        sys.modules.update(shadow)
