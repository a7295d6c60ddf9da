"""In a pod (`barque exec`), what a step prints also reaches the container's output, redacted,
so `kubectl logs` shows it; the store keeps its copy as before.

Real: `barque_runtime.calling` capturing file descriptors in this process (pytest's capfd).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from barque.model import Node
from barque.store.memory import MemoryStore
from barque_runtime.calling import call_with_retries


def _step() -> int:
    os.write(1, b"step output: 42\n")  # at the descriptor, as a print reaches it in a real process
    return 42


def _node() -> Node:
    return Node.from_dict({"id": "p.py:f", "kind": "task", "file": "p.py", "module": "p", "function": "f", "line": 1})


def _call(echo: bool) -> Any:
    return call_with_retries(MemoryStore(), "r", "p.py:f", _node(), _step, dict, restore=lambda: None, echo=echo)


def test_with_echo_a_steps_output_reaches_this_processs_stdout(capfd: pytest.CaptureFixture[str]):
    result, attempts, logs = _call(echo=True)
    assert result == 42 and "stdout" in logs
    assert "step output: 42" in capfd.readouterr().out


def test_without_echo_the_output_is_only_in_the_store(capfd: pytest.CaptureFixture[str]):
    _call(echo=False)
    assert "step output" not in capfd.readouterr().out


def test_echoed_output_is_redacted_like_the_stored_log(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")

    def leaky() -> None:
        os.write(1, b"token is s3cr3t-value\n")

    call_with_retries(MemoryStore(), "r", "p.py:f", _node(), leaky, dict, restore=lambda: None, echo=True)
    out = capfd.readouterr().out
    assert "s3cr3t-value" not in out and "<redacted>" in out
