"""`barque run --store s3://...` as a user runs it, against a real MinIO server.

Real: MinIO (built by the test bed) and the barque CLI in a separate process. Nothing mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def barque(args: list[str], cwd: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "barque_cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_run_against_minio_stores_artifacts_there_and_a_rerun_is_fully_cached(minio, tmp_path):
    shutil.copytree(EXAMPLES / "etl", tmp_path / "etl")
    env = {**os.environ, **minio.env()}
    store = f"s3://{minio.bucket}/cli-run"

    first = barque(["run", "etl/pipeline.py", "--store", store], tmp_path, env)
    second = barque(["run", "etl/pipeline.py", "--store", store], tmp_path, env)

    assert first["status"] == "succeeded" and first["steps_executed"] == 7
    assert second["steps_executed"] == 0 and second["steps_cached"] == 7
    assert second["final_output"] == first["final_output"]
    keys = [o["Key"] for o in minio.client().list_objects_v2(Bucket=minio.bucket, Prefix="cli-run/")["Contents"]]
    assert any(k.startswith("cli-run/cache/") for k in keys)  # the example's values are small: inline in them
    assert not (tmp_path / "etl" / ".barque" / "blobs").exists() and not (tmp_path / "etl" / ".barque" / "cache").exists()
