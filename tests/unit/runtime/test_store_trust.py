"""What a reader believes of a shared store: it decodes only what the node allows, and with a key only what a key holder signed.

Real: the `barque` CLI in a child process and a local-folder store. A forger writes records
and a pickle that creates a file when unpickled; every test checks that file never appears.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

from barque.artifacts import cache_record_key, project_ref_scope, ref_key

from .clirun import barque, pipeline, ran, run_ok

SOURCE = """
from barque import asset, partitions_from

@asset(serializer="json")
def table() -> dict:
    trace("table")
    return {"a": 1}

@asset()
def keys() -> dict:
    trace("keys")
    return {"x": 1, "y": 2}

@asset(partitions={"k": partitions_from(keys)})
def per(k: str, keys: int) -> int:
    trace("per")
    return keys

@asset()
def model() -> tuple:
    trace("model")
    return (1, 2)

@asset(inputs={"model": model})
def score(model: tuple) -> int:
    trace("score")
    return sum(model)
"""

KEY = {"BARQUE_STORE_KEY": "a-long-random-key-from-a-secret"}


class _Payload:
    """Unpickling this creates the file ``path``: the stand-in for running a forger's code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


def _forge(tmp_path: Path, step: str, marker: Path) -> None:
    """Point ``step``'s commit record and ref at a pickle that runs code, as a store writer could."""
    data = pickle.dumps(_Payload(marker), protocol=5)
    h = hashlib.sha256(data).hexdigest()
    blob = tmp_path / ".barque" / "blobs" / h[:2] / h
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    ref_path = tmp_path / ".barque" / ref_key(project_ref_scope(str(tmp_path)), step)
    ref = json.loads(ref_path.read_text())
    artifact = {"content_hash": h, "serializer": "pickle", "size": len(data)}
    for path in (ref_path, tmp_path / ".barque" / cache_record_key(ref["cache_key"])):
        record = {k: v for k, v in json.loads(path.read_text()).items() if k != "mac"}
        path.write_text(json.dumps({**record, "artifact": artifact, "output_id": h}))


def _dry(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    result = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    return {s["step"]: (s["action"], s["reason"]) for s in result.json["steps"]}


def test_dry_run_and_plan_never_unpickle_a_record_that_claims_pickle(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    marker = tmp_path / "pwned"
    _forge(tmp_path, "pipeline.py:keys", marker)  # an automatic node, but its keys are read as JSON only
    assert _dry(tmp_path)["pipeline.py:keys"] == ("run", "record not trusted: serializer pickle, node allows json")
    assert barque("plan", "pipeline.py", "--cache", cwd=tmp_path).code == 0
    assert not marker.exists()


def test_show_refuses_a_json_node_whose_record_claims_pickle(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    marker = tmp_path / "pwned"
    _forge(tmp_path, "pipeline.py:table", marker)
    result = barque("show", "pipeline.py", "table", cwd=tmp_path)
    assert result.code != 0
    assert "record not trusted: serializer pickle, node allows json" in result.stderr
    assert not marker.exists()


def test_run_recomputes_a_json_node_whose_record_claims_pickle(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    marker = tmp_path / "pwned"
    _forge(tmp_path, "pipeline.py:table", marker)
    assert _dry(tmp_path)["pipeline.py:table"] == ("run", "record not trusted: serializer pickle, node allows json")
    run_ok("pipeline.py", "table", cwd=tmp_path)
    assert ran(tmp_path) == ["table"]
    assert not marker.exists()


def test_with_a_store_key_a_forged_record_is_recomputed_not_unpickled(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    run_ok("pipeline.py", cwd=tmp_path, env=KEY)
    ran(tmp_path)
    marker = tmp_path / "pwned"
    _forge(tmp_path, "pipeline.py:model", marker)  # automatic, pickled: only the missing MAC gives it away
    assert _dry(tmp_path, KEY)["pipeline.py:model"] == ("run", "record not authenticated")
    summary = run_ok("pipeline.py", "score", cwd=tmp_path, env=KEY)
    assert ran(tmp_path) == ["model"]  # same bytes again: score stays cached
    assert summary["final_output"] == 3
    assert not marker.exists()


def test_with_a_store_key_records_written_without_it_are_recomputed(tmp_path: Path) -> None:
    pipeline(tmp_path, SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    run_ok("pipeline.py", cwd=tmp_path, env=KEY)
    assert sorted(ran(tmp_path)) == ["keys", "model", "per", "per", "score", "table"]
    run_ok("pipeline.py", cwd=tmp_path, env=KEY)
    assert ran(tmp_path) == []


def test_env_values_never_reach_the_store_or_the_output(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset(env=["API_TOKEN", "REGION"])
        def fetch() -> int:
            trace("fetch")
            return 1
        """,
    )
    secret = "hunter2-very-secret-token"
    result = barque("run", "pipeline.py", cwd=tmp_path, env={"API_TOKEN": secret, "REGION": "eu-west-1"})
    assert result.code == 0, result.stderr
    dry = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path, env={"API_TOKEN": secret, "REGION": "eu-west-1"})
    leaks = [p for p in (tmp_path / ".barque").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []
    assert secret not in result.stdout + result.stderr + dry.stdout + dry.stderr


def test_a_changed_env_value_still_reruns_its_step(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset(env=["API_TOKEN"])
        def fetch() -> int:
            trace("fetch")
            return 1
        """,
    )
    run_ok("pipeline.py", cwd=tmp_path, env={"API_TOKEN": "one"})
    assert _dry(tmp_path, {"API_TOKEN": "one"})["pipeline.py:fetch"] == ("cached", "cached")
    assert _dry(tmp_path, {"API_TOKEN": "two"})["pipeline.py:fetch"] == ("run", "changed: env API_TOKEN")


def test_dry_run_shows_env_values_with_secret_looking_names_redacted(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset(env=["API_TOKEN", "REGION", "UNSET_ONE"])
        def fetch() -> int:
            return 1
        """,
    )
    assert "UNSET_ONE" not in os.environ
    result = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path, env={"API_TOKEN": "t0k3n", "REGION": "eu"})
    step = result.json["steps"][0]
    assert step["env"] == {"API_TOKEN": "<redacted>", "REGION": "eu", "UNSET_ONE": None}
    assert "t0k3n" not in result.stdout


def test_a_secret_a_failing_step_prints_and_raises_is_redacted_in_logs_records_and_summary(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        import os
        from barque import asset

        @asset(env=["API_TOKEN"])
        def fetch() -> int:
            print("calling with", os.environ["API_TOKEN"])
            raise ValueError("rejected token " + os.environ["API_TOKEN"])
        """,
    )
    secret = "hunter2-very-secret-token"
    result = barque("run", "pipeline.py", cwd=tmp_path, env={"API_TOKEN": secret})
    assert result.code == 1
    assert result.json["failures"][0]["error"] == "ValueError: rejected token <redacted>"
    assert secret not in result.stdout + result.stderr
    stored = [p for p in (tmp_path / ".barque").rglob("*") if p.is_file()]
    assert any(b"calling with <redacted>" in p.read_bytes() for p in stored)
    assert [p for p in stored if secret.encode() in p.read_bytes()] == []
