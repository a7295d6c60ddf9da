"""The runtime and operator images, built from the project's Dockerfile, run in real containers.

Real: podman and runc running the images testbed/images.sh builds (on the test bed's
mmdebstrap-made Python base, since no registry is reachable), with the security settings the
chart and the operator's Jobs ask for: uid 10001, read-only root, no capabilities, no new
privileges, a tmpfs at /tmp. Nothing is simulated; the Kubernetes node is not involved here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testbed.images import TestbedImages

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = ROOT / "examples"
LOCKED_DOWN = ["--network", "none", "--read-only", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "--tmpfs", "/tmp"]


def run_sh(images: TestbedImages, target: str, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a shell script in the image, locked down like a pod, instead of its entrypoint."""
    return images.podman("run", "--rm", *LOCKED_DOWN, "--entrypoint", "sh", images[target].ref, "-c", script,
                         check=check)


def normalized(lines: str) -> dict[str, str]:
    """name -> version from `name==version` lines, names normalized as pip does."""
    pins = (line.split("==", 1) for line in lines.splitlines() if "==" in line and not line.startswith("#"))
    return {name.strip().lower().replace("_", "-"): version.strip() for name, version in pins}


def test_runtime_image_runs_as_uid_10001_with_no_capabilities(barque_images: TestbedImages) -> None:
    out = run_sh(barque_images, "runtime", "id -u; id -g; grep ^CapEff /proc/self/status").stdout.split()
    assert out[:2] == ["10001", "10001"]
    assert out[-1] == "0000000000000000"


def test_a_write_outside_tmp_fails_under_the_read_only_root(barque_images: TestbedImages) -> None:
    proc = run_sh(barque_images, "runtime", "echo x > /app/out.txt", check=False)
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr
    assert run_sh(barque_images, "runtime", "echo x > /tmp/out.txt && cat /tmp/out.txt").stdout == "x\n"


def test_runtime_image_runs_a_pipeline_with_its_store_under_tmp(barque_images: TestbedImages) -> None:
    # The project folder is mounted read-only, as a pod's code would be; only /tmp is writable.
    mount = f"{EXAMPLES / 'quickstart'}:/work:ro"
    proc = barque_images.podman("run", "--rm", *LOCKED_DOWN, "-v", mount, "-w", "/tmp", barque_images["runtime"].ref,
                  "plan", "/work/pipeline.py")
    plan = json.loads(proc.stdout)
    assert plan["phases"], plan


def test_runtime_image_has_the_s3_extra_and_not_the_operator(barque_images: TestbedImages) -> None:
    script = "python -c 'import boto3, barque_runtime' && ! python -c 'import kopf' 2>/dev/null && echo ok"
    assert run_sh(barque_images, "runtime", script).stdout.strip() == "ok"


def test_operator_image_has_the_operator_and_its_command(barque_images: TestbedImages) -> None:
    image = barque_images["operator"]
    proc = barque_images.podman("run", "--rm", *LOCKED_DOWN, image.ref, "operator", "--help")
    assert "--namespace" in proc.stdout
    assert run_sh(barque_images, "operator", "id -u").stdout.strip() == "10001"


@pytest.mark.parametrize("target", ["runtime", "operator"])
def test_images_carry_oci_labels_and_pinned_dependencies(barque_images: TestbedImages, target: str) -> None:
    image = barque_images[target]
    labels = json.loads(barque_images.podman("image", "inspect", "--format", "{{json .Labels}}", image.ref).stdout)
    assert labels["org.opencontainers.image.title"] == f"barque-{target}"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.version"]
    pins = normalized((ROOT / "constraints.txt").read_text())
    frozen = normalized(run_sh(barque_images, target, "pip freeze").stdout)
    assert "boto3" in frozen and "boto3" in pins
    assert {name: frozen[name] for name in frozen if name in pins} == {name: pins[name] for name in frozen if name in pins}


def test_the_test_beds_base_acts_like_the_official_python_image(barque_images: TestbedImages) -> None:
    script = "command -v python && command -v pip && ! ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null"
    out = run_sh(barque_images, "runtime", script).stdout.split()
    assert out == ["/usr/local/bin/python", "/usr/local/bin/pip"]
