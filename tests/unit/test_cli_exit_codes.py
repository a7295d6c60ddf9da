"""How an error ends `barque`, the same while its arguments are read and while its command runs:
a ``BarqueError`` is reported on stderr and exits with its code, a signal exits 128 + its number
(as a shell reports it) without a traceback, and any other error is raised.

Real: ``barque_cli.main.main`` in this process; the parser or the command is replaced by one
that raises, since a signal's timing cannot be placed by a child process reliably.
"""

from __future__ import annotations

import argparse
import signal
from typing import Any

import pytest

from barque.errors import BarqueError
from barque_cli import main as cli
from barque_runtime.cancel import Cancelled


def _raising(error: BaseException) -> Any:
    def raise_it(*_: Any) -> Any:
        raise error

    return raise_it


@pytest.fixture(params=["parse", "command"])
def failing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """failing(error): make `barque plan` raise ``error`` while parsing or while its command runs."""

    def arrange(error: BaseException) -> None:
        if request.param == "parse":
            monkeypatch.setattr(cli, "_parse", _raising(error))
        else:
            args = argparse.Namespace(version=False, func=_raising(error))
            monkeypatch.setattr(cli, "_parse", lambda args_in: (args, None))

    return arrange


def test_ctrl_c_exits_130(failing: Any) -> None:
    failing(KeyboardInterrupt())
    assert cli.main(["plan", "p.py"]) == 130


def test_sigterm_exits_143(failing: Any) -> None:
    failing(Cancelled(signal.SIGTERM))
    assert cli.main(["plan", "p.py"]) == 128 + signal.SIGTERM


def test_a_signal_behind_a_wrapping_error_exits_as_that_signal(failing: Any) -> None:
    wrapped = RuntimeError("Error calling __set_name__")
    wrapped.__cause__ = KeyboardInterrupt()
    failing(wrapped)
    assert cli.main(["plan", "p.py"]) == 130


def test_a_barque_error_is_reported_and_exits_with_its_code(failing: Any, capsys: pytest.CaptureFixture[str]) -> None:
    failing(BarqueError("no such file", where="p.py", hint="check the path"))
    assert cli.main(["plan", "p.py"]) == BarqueError.exit_code
    err = capsys.readouterr().err
    assert "no such file" in err and "check the path" in err


def test_any_other_error_is_raised(failing: Any) -> None:
    failing(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["plan", "p.py"])
