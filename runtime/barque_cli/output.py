"""What ``get`` and ``run`` print on stdout: JSON or a human summary, by barca's rule.

First match wins ("Output format: JSON unless stdout is a terminal"): a flag (``--json``,
``--pretty``, or their older spellings ``-o json``/``-o pretty``); then ``BARQUE_OUTPUT``
(or barca's ``BARCA_OUTPUT``) set to ``json`` or ``pretty``; then the terminal: a TTY gets
the human summary, anything else JSON. ``-o value`` alone prints only the value; with
``--json`` it prints the JSON summary, whose ``final_output`` already holds the value.
Everything here is a function of its arguments, so it is tested without a terminal.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own constant, without importing typing (the slim entry, barque_cli.fastrun, loads this)
if TYPE_CHECKING:
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
    import json  # here, not above: the error path (barque_cli.envelope) must not import it early

    if mode == JSON_MODE:
        return json.dumps(summary, default=str)
    if mode == VALUE:
        # A failed run has no value; its error is on stderr, as barca's human modes keep it.
        return json.dumps(summary["final_output"], indent=2, default=str) if summary["status"] == "succeeded" else ""
    return pretty(summary)


def pretty(summary: Mapping[str, Any]) -> str:
    """The human summary: one line for the run, one per step that did not come from cache, one
    per run hook, the value."""
    import json
    lines = [
        f"run {summary['run_id']} {summary['status']} in {summary['elapsed_seconds']:.2f}s: "
        f"{summary['steps_executed']} executed, {summary['steps_cached']} cached, "
        f"{summary['steps_failed']} failed, {summary['steps_skipped']} skipped"
        + (f", {summary['steps_filtered']} filtered" if summary.get("steps_filtered") else "")
    ]
    for step in summary.get("steps", []):
        if step["status"] != "cached":
            took = f" in {step['elapsed_seconds']:.2f}s" if step["status"] in ("ran", "failed") else ""
            lines.append(f"  {step['status']:<8} {step['id']}{took}  ({step.get('detail', '')})")
    for failure in summary.get("failures", []):
        lines.append(f"  error    {failure['step']}: {failure['error']}")
    for hook in summary.get("hooks", []):  # after the run, apart from its outcome
        why = f"  ({hook['error']})" if hook.get("error") else ""
        lines.append(f"  hook     {hook['hook']} {hook['state']} in {hook.get('duration_seconds') or 0:.2f}s (on={hook.get('on')}){why}")
    if summary["status"] == "succeeded":
        lines.append("final_output: " + json.dumps(summary["final_output"], indent=2, default=str))
    return "\n".join(lines)
