"""A signal that lands while a module is imported still reads as that signal.

Python wraps what a class body's ``__set_name__`` raises in a RuntimeError, so a SIGTERM that
arrives while a dataclass is defined surfaced as a traceback and exit 1 (seen once in CI's
random-kill test). ``interrupting_signal`` finds the signal behind such a wrapper.
"""

from __future__ import annotations

import signal
import pytest

from barque_runtime.cancel import Cancelled, interrupting_signal


class _SignalOnSetName:
    def __init__(self, raised: BaseException) -> None:
        self.raised = raised

    def __set_name__(self, owner: type, name: str) -> None:
        raise self.raised


def _define_class_interrupted_by(raised: BaseException) -> BaseException:
    try:
        type("Interrupted", (), {"attr": _SignalOnSetName(raised)})
    except BaseException as err:  # noqa: BLE001 - the exception is what the test inspects
        return err
    raise AssertionError("the class body raised nothing")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_cancel_signal_raised_in_a_class_body_is_found_behind_its_wrapper(signum: int) -> None:
    err = _define_class_interrupted_by(Cancelled(signum))
    assert interrupting_signal(err) == signum


def test_a_plain_ctrl_c_behind_a_wrapper_reads_as_sigint() -> None:
    err = _define_class_interrupted_by(KeyboardInterrupt())
    assert interrupting_signal(err) == signal.SIGINT


def test_an_error_raised_while_handling_a_cancel_is_still_the_cancel() -> None:
    try:
        try:
            raise Cancelled(signal.SIGTERM)
        except Cancelled:
            raise OSError("cleanup failed")
    except OSError as err:
        assert interrupting_signal(err) == signal.SIGTERM


def test_an_ordinary_error_has_no_signal_behind_it() -> None:
    assert interrupting_signal(_define_class_interrupted_by(ValueError("bad"))) is None


def test_a_cycle_of_causes_ends_the_search() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert interrupting_signal(first) is None
