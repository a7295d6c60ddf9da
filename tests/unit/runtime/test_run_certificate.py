"""Run certificates: a fully cached local run is answered again by the console script's slim
entry (``barque_cli.fastrun``) exactly as the full path answers it, and only then.

Real parts: the console entry in a child process (``fastrun_probe.py`` says which path
answered), the default folder store and history; the exclusions are judged in this process
through ``barque.run(certify=...)`` with the full path's own run objects.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import barque
from barque import certificate, seal
from barque_cli.output import render
from barque_runtime.certify import certify

from .certruns import MARK, PROBE, Answer, certificates, console, history, without_fresh
from .clirun import write

RUN = ("run", "pipeline.py", "--workers", "2")


def JSON_OUTPUT(summary: Any) -> str:  # noqa: N802 (what `barque run` prints, as certify takes it)
    return render(summary, "json")
BENCH = Path(__file__).resolve().parents[3] / "bench" / "generate.py"


def _generate() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shape(folder: Path, name: str) -> tuple[str, ...]:
    """Write a benchmark shape (bench/generate.py) into ``folder``; the command that runs it."""
    generate = _generate()
    for rel, text in generate.SHAPES[name]().items():
        write(folder, rel, text)
    return ("run", generate.ENTRY[name], "--workers", "2")


def _cached_twice(folder: Path, args: tuple[str, ...], env: dict[str, str] | None = None) -> tuple[Answer, Answer]:
    """A cold run, then a fully cached one (the full path, which writes the certificate)."""
    cold = console(*args, cwd=folder, env=env)
    assert cold.code == 0 and cold.path == "full", cold.stderr
    cached = console(*args, cwd=folder, env=env)
    assert cached.code == 0 and cached.path == "full" and cached.summary["steps_executed"] == 0, cached.stderr
    return cold, cached


def _same_answer(fast: Answer, full: Answer) -> None:
    assert (fast.code, fast.stderr) == (full.code, full.stderr)
    assert without_fresh(fast.summary) == without_fresh(full.summary)
    assert list(fast.summary) == list(full.summary)  # the same keys in the same order


@pytest.mark.parametrize("shape", ["trivial", "chain_100", "multi_file_discovery", "partitioned_chain", "large_payloads"])
def test_a_fully_cached_benchmark_shape_is_answered_by_its_certificate_as_the_full_path_answers_it(tmp_path: Path, shape: str) -> None:
    args = _shape(tmp_path, shape)
    _, cached = _cached_twice(tmp_path, args)
    fast = console(*args, cwd=tmp_path)
    assert fast.path == "fast"
    _same_answer(fast, cached)


def test_the_quickstart_is_answered_by_its_certificate(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[3] / "examples" / "quickstart" / "pipeline.py"
    write(tmp_path, "pipeline.py", source.read_text())
    _, cached = _cached_twice(tmp_path, RUN)
    fast = console(*RUN, cwd=tmp_path)
    assert fast.path == "fast"
    _same_answer(fast, cached)
    assert fast.summary["final_output"] == {"count": 5, "total": 15, "mean": 3.0}


def _trivial(folder: Path) -> None:
    write(folder, "pipeline.py", """
        from barque import asset

        @asset()
        def hello() -> dict:
            return {"message": "hello"}
    """)


def test_the_history_lists_a_run_the_certificate_answered_as_it_lists_a_cached_run(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _, cached = _cached_twice(tmp_path, RUN)
    fast = console(*RUN, cwd=tmp_path)
    assert fast.path == "fast"
    newest, before = history(tmp_path)[:2]
    assert (newest["run_id"], before["run_id"]) == (fast.summary["run_id"], cached.summary["run_id"])
    assert without_fresh(newest) == without_fresh(before)
    listed = console("history", cwd=tmp_path)
    assert [r["run_id"] for r in json.loads(listed.stdout)][:2] == [fast.summary["run_id"], cached.summary["run_id"]]


def test_a_fast_run_writes_to_the_store_what_a_fully_cached_run_writes(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)

    def tree() -> dict[str, tuple[int, int]]:
        store = tmp_path / ".barque"
        return {str(p.relative_to(store)): (p.stat().st_size, p.stat().st_mtime_ns) for p in store.rglob("*")
                if p.is_file() and not p.name.startswith("history.db")}

    before = tree()
    assert console(*RUN, cwd=tmp_path).path == "fast"
    assert tree() == before  # the history is all either writes


def test_the_slim_path_imports_none_of_barques_heavy_modules(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    fast = console(*RUN, cwd=tmp_path)
    assert fast.path == "fast"
    # nor json (with re), hashlib (OpenSSL) or sqlite3: half of a fully cached run before (bench/FINDINGS.md)
    assert set(fast.modules) <= {"barque", "barque.certificate", "barque.seal", "barque_cli", "barque_cli.fastrun",
                                 "barque_runtime", "barque_runtime.history"}, fast.modules


def test_an_edited_pipeline_voids_the_certificate_and_the_full_path_runs_it(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    (tmp_path / "pipeline.py").write_text((tmp_path / "pipeline.py").read_text().replace('"hello"}', '"bye"}'))
    again = console(*RUN, cwd=tmp_path)
    assert again.path == "full" and again.summary["steps_executed"] == 1
    assert again.summary["final_output"] == {"message": "bye"}


def test_another_command_line_is_not_answered_by_a_certificate_of_this_one(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    assert console("run", "pipeline.py", "--workers", "1", cwd=tmp_path).path == "full"
    assert console(*RUN, "--json", cwd=tmp_path).path == "full"


def test_a_new_barque_variable_voids_the_certificate(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    assert console(*RUN, cwd=tmp_path, env={"BARQUE_OUTPUT": "pretty"}).path == "full"


def test_a_tampered_certificate_is_not_served(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    (cert,) = certificates(tmp_path)
    data = cert.read_bytes()
    cert.write_bytes(data.replace(b'"hello"', b'"HELLO"'))
    answer = console(*RUN, cwd=tmp_path)
    assert answer.path == "full" and answer.summary["final_output"] == {"message": "hello"}


def test_a_certificate_forged_without_the_store_key_is_not_served(tmp_path: Path) -> None:
    key = {"BARQUE_STORE_KEY": "the-key"}
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN, env=key)
    (cert,) = certificates(tmp_path)
    body = seal.unseal(cert.read_bytes(), b"the-key")
    assert body is not None
    forged = body.replace(b'"hello"', b'"HELLO"')
    cert.write_bytes(seal.sealed(forged, None))  # sealed as one without the key can
    answer = console(*RUN, cwd=tmp_path, env=key)
    assert answer.path == "full" and answer.summary["final_output"] == {"message": "hello"}
    assert console(*RUN, cwd=tmp_path, env=key).path == "fast"  # the full path wrote it again


def test_a_certificate_past_its_moment_is_not_served(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    (cert,) = certificates(tmp_path)
    body = seal.unseal(cert.read_bytes(), None)
    assert body is not None and b"\nuntil\t\n" in body
    cert.write_bytes(seal.sealed(body.replace(b"\nuntil\t\n", b"\nuntil\t1.0\n"), None))
    assert console(*RUN, cwd=tmp_path).path == "full"


def test_a_removed_commit_record_or_a_corrupt_blob_is_recomputed_not_answered(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    (record,) = (tmp_path / ".barque" / "cache").glob("*.json")
    record.unlink()
    answer = console(*RUN, cwd=tmp_path)
    assert answer.path == "full" and answer.summary["steps_executed"] == 1
    console(*RUN, cwd=tmp_path)  # fully cached again: a new certificate
    (record,) = (tmp_path / ".barque" / "cache").glob("*.json")  # a small value is inline in its record
    doc = json.loads(record.read_bytes())
    value = base64.b64decode(doc["artifact"]["inline"]).replace(b"hello", b"jello")
    doc["artifact"]["inline"] = base64.b64encode(value).decode()
    record.write_text(json.dumps(doc))
    answer = console(*RUN, cwd=tmp_path)
    assert answer.path == "full" and answer.summary["steps_executed"] == 1


def test_a_history_that_cannot_be_written_warns_on_the_fast_path_as_on_the_full_one(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    pending = tmp_path / ".barque" / "history.db-pending"  # every run appends its row here
    pending.unlink()
    pending.mkdir()  # neither an append nor a fold can open a folder
    fast = console(*RUN, cwd=tmp_path)
    assert fast.path == "fast" and fast.code == 0
    assert fast.stderr.startswith(f"barque: warning: run {fast.summary['run_id']} was not added to the history")
    full = console(*RUN, "--json", cwd=tmp_path)
    assert full.path == "full" and full.code == 0
    assert full.stderr.startswith(f"barque: warning: run {full.summary['run_id']} was not added to the history")


# --- runs that get no certificate -------------------------------------------------------

def _reasons(folder: Path, *files: str, **options: Any) -> list[str | None]:
    """Run twice in this process (the second fully cached when it can be); why each got no certificate."""
    reasons: list[str | None] = []

    def write_it(*run: Any) -> None:
        reasons.append(certify(["run", *files], str(folder), JSON_OUTPUT, *run))

    for _ in range(2):
        barque.run(*[str(folder / f) for f in files], workers=1, certify=write_it, **options)
    return reasons


EXCLUDED = {
    "a sensor": """
        from barque import asset, sensor

        @sensor()
        def seen() -> tuple[bool, int]:
            return True, 1

        @asset(inputs={"s": seen})
        def a(s: int) -> int:
            return s
    """,
    "a run hook": """
        from barque import asset, task

        @asset()
        def a() -> int:
            return 1

        @task(on="success")
        def told() -> None:
            pass
    """,
    "a run_if condition": """
        from barque import asset

        @asset()
        def a() -> int:
            return 1

        @asset(inputs={"x": a}, run_if=lambda x: x > 0)
        def b(x: int) -> int:
            return x
    """,
    "batch=": """
        from barque import asset, partitions

        @asset(partitions={"k": partitions(["a", "b"])}, batch="all")
        def a(k: list[str]) -> dict:
            return {key: key for key in k}
    """,
    "Manual freshness": """
        from barque import Manual, asset

        @asset(freshness=Manual)
        def a() -> int:
            return 1
    """,
    "a dataset sink": """
        from barque import asset, sink

        @asset()
        @sink("out/ds/", serializer="json")
        def a() -> list[dict]:
            return [{"x": 1}]
    """,
    "partition keys known at run time": """
        from barque import asset, partitions

        @asset(partitions={"k": partitions(sorted(["b", "a"]))})
        def a(k: str) -> str:
            return k
    """,
    "a value shown that is not JSON": """
        from barque import asset

        @asset(serializer="pickle")
        def a() -> set:
            return {1, 2}
    """,
    "a warning": """
        from barque import asset

        @asset()
        def a() -> int:
            return 1

        @asset(inputs={"x": a})
        def b(x: int) -> int:
            return 2
    """,
    "a task": """
        from barque import task

        @task()
        def t() -> None:
            pass
    """,
}


# What the full path says about each, when it is not the case's own name.
SAID = {"a warning": "not a clean run", "a task": "not a clean run"}


@pytest.mark.parametrize("case", sorted(EXCLUDED))
def test_a_run_whose_outcome_is_decided_at_run_time_gets_no_certificate(tmp_path: Path, case: str) -> None:
    write(tmp_path, "pipeline.py", EXCLUDED[case])
    (tmp_path / ".barque").mkdir()
    reasons = _reasons(tmp_path, "pipeline.py", **({"target": "t"} if case == "a task" else {}))  # a task runs when named
    assert reasons[-1] is not None and SAID.get(case, case) in reasons[-1], reasons
    assert certificates(tmp_path) == []


@pytest.mark.parametrize("option", [{"no_cache": True}, {"refresh": "hello"}, {"partition": "k=a"}, {"batch": ["all"]}])
def test_a_run_time_option_gets_no_certificate(tmp_path: Path, option: dict[str, Any]) -> None:
    write(tmp_path, "pipeline.py", """
        from barque import asset, partitions

        @asset(partitions={"k": partitions(["a", "b"])})
        def hello(k: str) -> str:
            return k
    """)
    (tmp_path / ".barque").mkdir()
    reasons = _reasons(tmp_path, "pipeline.py", **option)
    assert reasons[-1] is not None and "option" in reasons[-1], reasons
    assert certificates(tmp_path) == []


def test_a_plain_fully_cached_run_gets_a_certificate_through_the_same_hook(tmp_path: Path) -> None:
    _trivial(tmp_path)
    (tmp_path / ".barque").mkdir()
    reasons = _reasons(tmp_path, "pipeline.py")
    assert reasons == ["not a clean run", None]
    assert len(certificates(tmp_path)) == 1


def test_a_store_elsewhere_gets_no_certificate(tmp_path: Path) -> None:
    _trivial(tmp_path)
    (tmp_path / ".barque").mkdir()
    reasons = _reasons(tmp_path, "pipeline.py", store=str(tmp_path / "elsewhere"))
    assert reasons[-1] == "a store other than the project's .barque/"


def test_a_certificate_records_env_values_as_digests_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_FOR_A", "very-secret-value")
    write(tmp_path, "pipeline.py", """
        import os
        from barque import asset

        @asset(env=["TOKEN_FOR_A"])
        def a() -> int:
            return len(os.environ["TOKEN_FOR_A"])
    """)
    (tmp_path / ".barque").mkdir()
    assert _reasons(tmp_path, "pipeline.py")[-1] is None
    (cert,) = certificates(tmp_path)
    assert b"very-secret-value" not in cert.read_bytes()
    lines = cert.read_text().splitlines()
    assert certificate.line("env", "TOKEN_FOR_A", certificate.env_digest("very-secret-value")).rstrip("\n") in lines


def test_the_history_database_is_untouched_by_a_certificate_that_is_not_served(tmp_path: Path) -> None:
    _trivial(tmp_path)
    _cached_twice(tmp_path, RUN)
    (cert,) = certificates(tmp_path)
    cert.write_bytes(b"torn")
    answer = console(*RUN, cwd=tmp_path)
    assert answer.path == "full"
    runs = history(tmp_path)  # the reader folds the appended rows in
    assert len(runs) == len({r["run_id"] for r in runs}) == 3  # one row per run, none twice



def _on_a_terminal(folder: Path) -> tuple[str, str]:
    """``barque run`` with stderr on a terminal (a pty): which path answered, and what the terminal showed."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BARQUE_", "BARCA_"))}
    proc = subprocess.run([sys.executable, PROBE, *RUN], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=child, timeout=120)
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # the terminal's other end is closed: all was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.returncode == 0
    text, _, probe = shown.decode().replace("\r\n", "\n").rpartition(MARK)
    return json.loads(probe)["path"], re.sub(r"\d+\.\d+s", "Ts", text)  # the times differ


def test_on_a_terminal_the_fast_answer_draws_the_progress_line_the_full_path_draws(tmp_path: Path) -> None:
    _trivial(tmp_path)
    console(*RUN, cwd=tmp_path)
    path, full = _on_a_terminal(tmp_path)  # fully cached: writes the terminal's certificate
    assert path == "full" and "[barque] 1/1 steps done (1 cached)" in full
    path, fast = _on_a_terminal(tmp_path)
    assert path == "fast"
    assert fast == full


def test_a_folder_that_changed_after_the_process_started_gets_no_certificate(tmp_path: Path) -> None:
    _trivial(tmp_path / "jobs")  # written after this process started: the run may not have seen it so
    (tmp_path / ".barque").mkdir()
    reasons = _reasons(tmp_path, "jobs")
    assert reasons[-1] == "a file it read changed during the run"


def test_a_commit_record_rewritten_during_the_run_gets_no_certificate(tmp_path: Path) -> None:
    _trivial(tmp_path)
    (tmp_path / ".barque").mkdir()
    reasons: list[str | None] = []

    def rewrite_then_certify(*run: Any) -> None:
        for record in (tmp_path / ".barque" / "cache").glob("*.json"):  # another run committed the key meanwhile
            doc = json.loads(record.read_bytes())
            record.write_text(json.dumps({**doc, "output_id": "another"}))
        reasons.append(certify(["run", "pipeline.py"], str(tmp_path), JSON_OUTPUT, *run))

    barque.run(str(tmp_path / "pipeline.py"), workers=1)
    barque.run(str(tmp_path / "pipeline.py"), workers=1, certify=rewrite_then_certify)
    assert reasons == ["a commit record changed during the run"]


def test_barques_own_folders_changing_during_the_run_still_give_a_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Any Python process importing one of barque's modules for the first time adds a __pycache__
    # to its folder; in CI the other tiers did so while this tier's runs went on.
    _trivial(tmp_path)
    (tmp_path / ".barque").mkdir()
    barque.run(str(tmp_path / "pipeline.py"), workers=1)
    reasons: list[str | None] = []

    def touch_then_certify(*run: Any) -> None:
        os.utime(Path(certificate.__file__).parent / "store")  # its mtime now, as a new entry makes it
        reasons.append(certify(["run", "pipeline.py"], str(tmp_path), JSON_OUTPUT, *run))

    monkeypatch.setattr(certificate, "STARTED_NS", certificate.time.time_ns())
    barque.run(str(tmp_path / "pipeline.py"), workers=1, certify=touch_then_certify)
    assert reasons == [None]
