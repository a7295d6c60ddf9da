"""S3Store against a real MinIO server.

Real here: the MinIO server started by the session fixture ``minio`` (tests/integration/
conftest.py), boto3 and HTTP on loopback. Nothing is faked. The first part is the very
contract suite LocalStore and MemoryStore pass (tests/unit/barque/test_store_contract.py),
loaded from its file and given an S3 ``store``; the rest is what only S3 has: configuration
from the AWS settings and errors that say what to check.
"""

from __future__ import annotations

import importlib.util
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
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StoreError, match="S3 get failed") as info:
        open_store(f"s3://{minio.bucket}/p").get("k")
    assert "AWS_ENDPOINT_URL" in str(info.value)
