"""What ``get`` and ``run`` print on stdout: JSON or a human summary, by barca's rule.

First match wins ("Output format: JSON unless stdout is a terminal"): a flag (``--json``,
``--pretty``, or their older spellings ``-o json``/``-o pretty``); then ``BARQUE_OUTPUT``
(or barca's ``BARCA_OUTPUT``) set to ``json`` or ``pretty``; then the terminal: a TTY gets
the human summary, anything else JSON. ``-o value`` alone prints only the value; with
``--json`` it prints the JSON summary, whose ``final_output`` already holds the value.
Everything here is a function of its arguments, so it is tested without a terminal.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from barque.errors import BarqueError

JSON_MODE = "json"
PRETTY = "pretty"
VALUE = "value"


def output_mode(json_flag: bool, pretty_flag: bool, o: str | None, environ: Mapping[str, str], isatty: bool) -> str:
    """``json``, ``pretty`` or ``value``: what stdout carries."""
    if json_flag and pretty_flag:
        raise BarqueError("--json and --pretty cannot be combined", hint="pass one of them")
    if o in (JSON_MODE, PRETTY) and (json_flag or pretty_flag):
        raise BarqueError(f"-o {o} cannot be combined with --json or --pretty", hint="-o json and -o pretty are older spellings of --json and --pretty")
    if json_flag or o == JSON_MODE:
        return JSON_MODE
    if pretty_flag or o == PRETTY:
        return PRETTY
    if o == VALUE:
        return VALUE
    for name in ("BARQUE_OUTPUT", "BARCA_OUTPUT"):
        chosen = environ.get(name)
        if chosen in (JSON_MODE, PRETTY):
            return chosen
        if chosen:
            raise BarqueError(f"{name}={chosen!r} is not json or pretty", hint=f"set {name}=json or {name}=pretty, or unset it")
    return PRETTY if isatty else JSON_MODE


def render(summary: Mapping[str, Any], mode: str) -> str:
    """The text for stdout (without a final newline; empty when there is nothing to print)."""
    if mode == JSON_MODE:
        return json.dumps(summary, default=str)
    if mode == VALUE:
        # A failed run has no value; its error is on stderr, as barca's human modes keep it.
        return json.dumps(summary["final_output"], indent=2, default=str) if summary["status"] == "succeeded" else ""
    return pretty(summary)


def pretty(summary: Mapping[str, Any]) -> str:
    """The human summary: one line for the run, one per step that did not come from cache, the value."""
    lines = [
        f"run {summary['run_id']} {summary['status']} in {summary['elapsed_seconds']:.2f}s: "
        f"{summary['steps_executed']} executed, {summary['steps_cached']} cached, "
        f"{summary['steps_failed']} failed, {summary['steps_skipped']} skipped"
    ]
    for step in summary.get("steps", []):
        if step["status"] != "cached":
            took = f" in {step['elapsed_seconds']:.2f}s" if step["status"] in ("ran", "failed") else ""
            lines.append(f"  {step['status']:<8} {step['id']}{took}  ({step.get('detail', '')})")
    for failure in summary.get("failures", []):
        lines.append(f"  error    {failure['step']}: {failure['error']}")
    if summary["status"] == "succeeded":
        lines.append("final_output: " + json.dumps(summary["final_output"], indent=2, default=str))
    return "\n".join(lines)


# Errors follow the output rule of the command's stdout: JSON there, one JSON envelope on
# stderr (barca's "Errors"). ``plan`` always prints JSON; these print no JSON documents.
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
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def run_failure(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The envelope of a run that did not succeed (its first failed step, or the cancel), else None."""
    from barque.errors import error_envelope

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
