"""`barque FILE.py` is short for `barque run FILE.py`, but a command name always wins."""

from __future__ import annotations

from barque_cli.main import _with_default_command

COMMANDS = {"run", "plan", "operator"}


def test_a_python_file_means_run():
    assert _with_default_command(["pipeline.py"], COMMANDS) == ["run", "pipeline.py"]


def test_a_directory_means_run(tmp_path):
    assert _with_default_command([str(tmp_path)], COMMANDS) == ["run", str(tmp_path)]


def test_a_command_named_like_a_folder_here_stays_a_command(tmp_path, monkeypatch):
    (tmp_path / "operator").mkdir()
    monkeypatch.chdir(tmp_path)
    assert _with_default_command(["operator", "--namespace", "x"], COMMANDS) == ["operator", "--namespace", "x"]
