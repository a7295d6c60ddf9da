"""S3Store against a real MinIO server.

Real here: the MinIO server started by the session fixture ``minio`` (tests/integration/
conftest.py), boto3 and HTTP on loopback. Nothing is faked. The first part is the very
contract suite LocalStore and MemoryStore pass (tests/unit/barque/test_store_contract.py),
loaded from its file and given an S3 ``store``; the rest is what only S3 has: configuration
from the AWS settings and errors that say what to check.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from barque import artifacts
from barque.errors import StoreError
from barque.store import open_store
from barque.store.s3 import S3Store

_CONTRACT_FILE = Path(__file__).resolve().parents[1] / "unit" / "barque" / "test_store_contract.py"
_spec = importlib.util.spec_from_file_location("barque_store_contract_for_s3", _CONTRACT_FILE)
assert _spec is not None and _spec.loader is not None
_contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_contract)
# Every contract test, collected here and run against the ``store`` fixture below.
globals().update({name: fn for name, fn in vars(_contract).items() if name.startswith("test_")})

_AWS_VARS = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION",
    "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
)


@pytest.fixture
def no_aws_settings(monkeypatch, tmp_path):
    """No AWS variable and no config file of the machine leaks into a test."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(minio, monkeypatch, no_aws_settings):
    """The standard AWS settings pointing at the test MinIO, as a user would set them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", minio.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", minio.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", minio.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", minio.region)


@pytest.fixture(scope="session")
def shared_client(minio):
    """One boto3 client for the contract tests: making one costs 0.1 to 0.5 s here. Tests that
    exercise configuration (open_store of a URI, the error tests) make their own."""
    return S3Store(
        minio.bucket, endpoint_url=minio.endpoint_url, access_key=minio.access_key,
        secret_key=minio.secret_key, region=minio.region,
    ).client


@pytest.fixture
def store(aws_env, minio, shared_client):
    s3 = S3Store(minio.bucket, f"contract-{uuid.uuid4().hex}", client=shared_client)
    yield s3
    for key in s3.list(""):
        s3.delete(key)


def test_keys_live_under_the_uri_prefix_in_the_bucket(store, minio):
    store.put("a/b", b"1")
    listed = store.client.list_objects_v2(Bucket=minio.bucket, Prefix=store.prefix + "/")
    assert [obj["Key"] for obj in listed["Contents"]] == [f"{store.prefix}/a/b"]


def test_the_client_is_created_once_per_store(aws_env, minio):
    s3 = open_store(f"s3://{minio.bucket}/p")
    assert s3.client is s3.client


def test_settings_passed_in_need_no_environment(minio, no_aws_settings):
    s3 = S3Store(
        minio.bucket,
        f"explicit-{uuid.uuid4().hex}",
        endpoint_url=minio.endpoint_url,
        access_key=minio.access_key,
        secret_key=minio.secret_key,
        region=minio.region,
    )
    s3.put("k", b"v")
    assert s3.get("k") == b"v"
    s3.delete("k")


def test_artifacts_commit_and_read_back_through_s3(store):
    ref = artifacts.write_value(store, {"rows": [1, 2, 3]})
    artifacts.commit(store, "ab" * 32, ref, {"step": "s"})
    record = artifacts.lookup(store, "ab" * 32)
    assert record is not None
    assert artifacts.read_value(store, artifacts.ArtifactRef.from_dict(record["artifact"]), allowed={"json"}) == {"rows": [1, 2, 3]}


def test_a_missing_bucket_is_a_store_error_that_names_it(aws_env):
    bucket = f"barque-missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(StoreError, match="NoSuchBucket") as info:
        open_store(f"s3://{bucket}/p").get("k")
    assert f"s3://{bucket}/p/k" in str(info.value)
    assert f"create the bucket '{bucket}'" in str(info.value)


def test_wrong_credentials_are_a_store_error_that_says_to_check_them(aws_env, minio, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StoreError, match="SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied") as info:
        open_store(f"s3://{minio.bucket}/p").put("k", b"v")
    assert "check the credentials" in str(info.value)


def test_an_unreachable_endpoint_is_a_store_error_that_says_to_check_it(aws_env, minio, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("BARQUE_S3_RETRY_SECONDS", "1")  # give up after a second of retries, not the default minute
    with pytest.raises(StoreError, match="S3 get failed") as info:
        open_store(f"s3://{minio.bucket}/p").get("k")
    assert "AWS_ENDPOINT_URL" in str(info.value)


# --- Issue 7 against MinIO: secrets never stored, damaged objects recomputed, forgeries not trusted.
# Real: MinIO, boto3, and the barque CLI in a child process with a store on the bucket.

# Values longer than artifacts.INLINE_BYTES, so that each is a blob object (a smaller value is
# inline in its commit record).
TRUST_PIPELINE = '''
from barque import asset

@asset(env=["API_TOKEN"])
def raw() -> list:
    with open("ran.txt", "a") as f:
        f.write("raw\\n")
    return [3, 1, 2] * 200

@asset(inputs={"raw": raw})
def report(raw: list) -> tuple:
    with open("ran.txt", "a") as f:
        f.write("report\\n")
    return tuple(sorted(raw))
'''
SECRET = "s3-hunter2-token-value"


class _Payload:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


class _Project:
    """A project folder whose store is a fresh prefix of the MinIO bucket; ``run`` is the CLI."""

    def __init__(self, minio, folder: Path) -> None:
        self.minio, self.folder = minio, folder
        self.prefix = f"trust-{uuid.uuid4().hex}"
        self.s3 = S3Store(minio.bucket, self.prefix, endpoint_url=minio.endpoint_url, access_key=minio.access_key,
                          secret_key=minio.secret_key, region=minio.region)
        (folder / "pipeline.py").write_text(TRUST_PIPELINE)

    def __call__(self, *args: str, key: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "BARQUE_STORE_KEY"}
        env.update({**self.minio.env(), "API_TOKEN": SECRET, **({"BARQUE_STORE_KEY": key} if key else {})})
        proc = subprocess.run([sys.executable, "-m", "barque_cli.main", *args, "--store", f"s3://{self.minio.bucket}/{self.prefix}"],
                              cwd=self.folder, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    def ran(self) -> list[str]:
        path = self.folder / "ran.txt"
        names = path.read_text().splitlines() if path.exists() else []
        path.unlink(missing_ok=True)
        return names


@pytest.fixture
def cli_run(minio, tmp_path, no_aws_settings):
    project = _Project(minio, tmp_path)
    yield project
    for key in project.s3.list(""):
        project.s3.delete(key)


def _scope(project: _Project) -> str:
    return artifacts.project_ref_scope(str(project.folder))


def _blob_of(project: _Project, step: str) -> str:
    return artifacts.ArtifactRef.from_dict(artifacts.get_ref(project.s3, _scope(project), step)["artifact"]).key


def _dry(cli_run, key: str | None = None) -> dict[str, str]:
    return {s["step"]: s["reason"] for s in cli_run("run", "pipeline.py", "--dry-run", key=key)["steps"]}


def test_s3_no_object_holds_the_value_of_an_env_variable(cli_run):
    cli_run("run", "pipeline.py")
    cli_run("run", "pipeline.py", "--dry-run")
    keys = list(cli_run.s3.list(""))
    assert any(k.startswith("cache/") for k in keys) and any(k.startswith("runs/") for k in keys)
    assert [k for k in keys if SECRET.encode() in (cli_run.s3.get(k) or b"")] == []


def test_s3_a_deleted_object_is_recomputed_and_rewritten(cli_run):
    cli_run("run", "pipeline.py")
    cli_run.ran()
    blob = _blob_of(cli_run, "pipeline.py:report")
    cli_run.s3.delete(blob)
    assert _dry(cli_run)["pipeline.py:report"] == "artifact missing"
    summary = cli_run("run", "pipeline.py")
    assert cli_run.ran() == ["report"]
    assert summary["steps_executed"] == 1 and cli_run.s3.exists(blob)


def test_s3_a_corrupt_object_is_recomputed_and_rewritten(cli_run):
    cli_run("run", "pipeline.py")
    cli_run.ran()
    blob = _blob_of(cli_run, "pipeline.py:raw")
    good = cli_run.s3.get(blob)
    cli_run.s3.put(blob, bytes([good[0] ^ 1]) + good[1:])
    assert _dry(cli_run)["pipeline.py:raw"] == "artifact corrupt"
    cli_run("run", "pipeline.py")
    assert cli_run.ran() == ["raw"]  # same bytes again: report stays cached
    assert cli_run.s3.get(blob) == good


def test_s3_with_a_store_key_a_forged_record_is_not_trusted(cli_run, tmp_path, monkeypatch):
    key = "integration-store-key"
    cli_run("run", "pipeline.py", key=key)
    cli_run.ran()
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Payload(marker), protocol=5)
    digest = hashlib.sha256(data).hexdigest()
    cli_run.s3.put(artifacts.blob_key(digest), data)
    ref = artifacts.get_ref(cli_run.s3, _scope(cli_run), "pipeline.py:report")
    assert ref is not None and "mac" in ref
    forged = {**ref, "artifact": {"content_hash": digest, "serializer": "pickle", "size": len(data)}, "output_id": digest}
    for record_key in (artifacts.ref_key(_scope(cli_run), "pipeline.py:report"), artifacts.cache_record_key(ref["cache_key"])):
        cli_run.s3.put(record_key, json.dumps(forged).encode())  # the old MAC no longer fits
    assert _dry(cli_run, key)["pipeline.py:report"] == "record not authenticated"
    cli_run("run", "pipeline.py", key=key)
    assert cli_run.ran() == ["report"]
    assert not marker.exists()
    monkeypatch.setenv("BARQUE_STORE_KEY", key)
    healed = artifacts.find(cli_run.s3, ref["cache_key"], {"json", "pickle"})
    assert healed.problem is None and healed.ref is not None and healed.ref.content_hash != digest



def test_s3_why_reads_provenance_from_the_bucket_and_says_stale_after_an_edit(cli_run):
    summary = cli_run("run", "pipeline.py")
    (report,) = cli_run("why", "report", "pipeline.py", "--depth", "1")
    assert report["run_id"] == summary["run_id"] and report["today"] == {"state": "current", "reason": "cached"}
    (producer,) = report["inputs"][0]["producers"]
    assert producer["step"] == "pipeline.py:raw" and producer["env"] == {"API_TOKEN": "<redacted>"}
    assert producer["run"]["state"] == "succeeded" and producer["run"]["attempts"] == 1
    pipeline = cli_run.folder / "pipeline.py"
    pipeline.write_text(pipeline.read_text().replace("[3, 1, 2]", "[3, 1, 2, 4]"))
    (raw,) = cli_run("why", "raw", "pipeline.py")
    assert raw["today"] == {"state": "stale", "reason": "changed: code"}


def test_s3_graph_of_a_run_reads_its_step_records_from_the_bucket(cli_run):
    summary = cli_run("run", "pipeline.py")
    env = {k: v for k, v in os.environ.items() if k != "BARQUE_STORE_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "barque_cli.main", "graph", "pipeline.py", "--run", summary["run_id"], "--format", "dot",
         "--store", f"s3://{cli_run.minio.bucket}/{cli_run.prefix}"],
        cwd=cli_run.folder, env={**env, **cli_run.minio.env()}, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'label="pipeline.py:raw\\nsucceeded' in proc.stdout and 'label="pipeline.py:report\\nsucceeded' in proc.stdout
