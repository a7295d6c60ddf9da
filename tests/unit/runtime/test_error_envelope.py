"""Errors in JSON mode are barca's envelope on stderr; human errors stay prose.

Pure: the envelope builder, the kind of each exit code and the rule that picks JSON errors.
Real: the `barque` CLI in a child process (stdout captured, so JSON is the default).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from barque.errors import BarqueError, StoreError, error_envelope
from barque_cli.envelope import json_errors, run_failure

from .clirun import barque, write

BARCA_KEYS = {"code", "error", "kind", "remediation"}


def _envelope(stderr: str) -> dict:
    """The last JSON object on stderr, as barca tells readers to find it."""
    objects = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert objects, stderr
    return objects[-1]


def test_the_envelope_has_barcas_keys_and_the_kind_of_its_code() -> None:
    env = BarqueError("unknown target 'x'", where="pipeline.py", hint="barque list FILE").envelope()
    assert env == {"code": 2, "error": "pipeline.py: unknown target 'x'", "kind": "usage", "remediation": "barque list FILE"}


@pytest.mark.parametrize(("code", "kind"), [(1, "step_failed"), (2, "usage"), (3, "infra"), (130, "cancelled"), (143, "cancelled")])
def test_each_exit_code_is_one_kind(code: int, kind: str) -> None:
    assert error_envelope(code, "e", None)["kind"] == kind


def test_a_store_that_fails_is_infra_exit_3_as_in_barca() -> None:
    err = StoreError("cannot write 'k'")
    assert (err.exit_code, err.kind) == (3, "infra")


@pytest.mark.parametrize(
    ("argv", "environ", "isatty", "expected"),
    [
        (["run", "p.py"], {}, False, True),
        (["run", "p.py"], {}, True, False),
        (["run", "p.py", "--json"], {}, True, True),
        (["get", "x", "--pretty"], {}, False, False),
        (["get", "x", "-o", "value"], {}, False, False),
        (["status"], {"BARCA_OUTPUT": "json"}, True, True),
        (["status"], {"BARQUE_OUTPUT": "pretty"}, False, False),
        (["plan", "p.py"], {}, True, True),
        (["compile", "p.py"], {}, False, False),
    ],
)
def test_errors_are_json_when_the_output_is(argv: list[str], environ: dict[str, str], isatty: bool, expected: bool) -> None:
    assert json_errors(argv, environ, isatty) is expected


PIPE = """
from barque import asset

@asset()
def good() -> int:
    return 1

@asset()
def bad() -> int:
    raise ValueError("no rows")
"""


def test_an_unknown_target_piped_is_one_json_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    result = barque("get", "nope", "pipeline.py", cwd=tmp_path)
    assert result.code == 2 and result.stdout == ""
    env = json.loads(result.stderr.strip())
    assert set(env) == BARCA_KEYS and env["kind"] == "usage" and env["code"] == 2 and "nope" in env["error"]


def test_a_human_error_stays_prose(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    result = barque("get", "nope", "pipeline.py", "--pretty", cwd=tmp_path)
    assert result.code == 2 and result.stderr.startswith("barque: error: unknown target 'nope'\n  hint: ")


def test_an_argument_the_parser_rejects_is_the_same_envelope(tmp_path: Path) -> None:
    result = barque("run", "--jsn", cwd=tmp_path)
    env = json.loads(result.stderr.strip())
    assert result.code == 2 and set(env) == BARCA_KEYS and env["error"] == "unrecognized arguments: --jsn"


def test_an_argument_error_in_human_mode_is_argparses_own(tmp_path: Path) -> None:
    result = barque("run", "--workers", "0", "--pretty", cwd=tmp_path)
    assert result.code == 2 and result.stderr.startswith("usage: barque run ")
    assert "barque run: error: argument --workers: 0 workers cannot run anything" in result.stderr


def test_a_failed_step_in_json_mode_prints_the_summary_and_ends_stderr_with_a_step_failed_envelope(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1 and result.json["status"] == "failed"
    env = _envelope(result.stderr)
    assert (env["kind"], env["code"], env["node"]) == ("step_failed", 1, "pipeline.py:bad")
    assert env["error"] == "step 'pipeline.py:bad' failed: ValueError: no rows"
    assert result.json["run_id"] in env["remediation"]


def test_a_failed_step_in_human_mode_prints_no_envelope(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    result = barque("run", "pipeline.py", "--pretty", cwd=tmp_path)
    assert result.code == 1 and not any(line.startswith("{") for line in result.stderr.splitlines())


def test_a_cancelled_run_is_kind_cancelled_with_the_signals_code() -> None:
    env = run_failure({"run_id": "r", "status": "cancelled", "cancelled_by": "SIGTERM"})
    assert env is not None and (env["kind"], env["code"]) == ("cancelled", 143)


def test_a_run_that_succeeded_has_no_envelope() -> None:
    assert run_failure({"run_id": "r", "status": "succeeded"}) is None


def test_a_pipeline_named_json_py_is_reported_in_an_envelope(tmp_path: Path) -> None:
    write(tmp_path, "json.py", "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    result = barque("run", "json.py", cwd=tmp_path)
    env = json.loads(result.stderr.strip())
    assert result.code == 2 and env["kind"] == "usage" and "standard library" in env["error"]
