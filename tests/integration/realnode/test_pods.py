"""Pods of the barque runtime image on the real node, with the security context barque's Jobs use.

Real: kube-apiserver, kube-scheduler, a kubelet, containerd 2.x and runc, CNI bridge networking,
the runtime image built from the Dockerfile. Nothing is simulated.
"""

from __future__ import annotations

from typing import Any

from testbed.kubeapi import Api
from testbed.procs import wait_until

from .conftest import RealNode

RESTRICTED = {
    "runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


def pod(name: str, image: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": False,
            "containers": [{"name": "step", "image": image, "imagePullPolicy": "Never",
                            "command": ["sh", "-c", script], "securityContext": RESTRICTED,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def run_pod(kube_api: Api, namespace: str, manifest: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    kube_api.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=manifest)
    path = f"/api/v1/namespaces/{namespace}/pods/{manifest['metadata']['name']}"

    def finished() -> dict[str, Any] | None:
        current = kube_api.request("GET", path)
        return current if current["status"].get("phase") in ("Succeeded", "Failed") else None

    return wait_until(finished, timeout=timeout, what=f"pod {manifest['metadata']['name']} to finish")


def test_a_pod_runs_as_uid_10001_with_no_capabilities_and_its_log_reaches_kubectl(
        real_node: RealNode, real_namespace: str, kube_api: Api, kubectl: Any) -> None:
    image = real_node.containerd.images["runtime"].ref
    script = "id -u; grep ^CapEff /proc/self/status; barque --help | head -1"
    done = run_pod(kube_api, real_namespace, pod("ids", image, script))
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["spec"]["nodeName"] == real_node.name  # placed by the real scheduler
    logs = kubectl("logs", "-n", real_namespace, "ids").stdout.splitlines()
    assert logs[0] == "10001"
    assert logs[1].split() == ["CapEff:", "0000000000000000"]
    assert "barque" in logs[2]


def test_a_write_outside_tmp_fails_under_the_read_only_root(
        real_node: RealNode, real_namespace: str, kube_api: Api, kubectl: Any) -> None:
    image = real_node.containerd.images["runtime"].ref
    done = run_pod(kube_api, real_namespace, pod("rofs", image, "echo ok > /tmp/x && cat /tmp/x && echo no > /app/x"))
    assert done["status"]["phase"] == "Failed"
    logs = kubectl("logs", "-n", real_namespace, "rofs").stdout
    assert "ok" in logs and "Read-only file system" in logs


def test_pods_reach_minio_through_the_bridge_and_nothing_else(
        real_node: RealNode, real_namespace: str, kube_api: Api, kubectl: Any) -> None:
    image = real_node.containerd.images["runtime"].ref
    script = (f"python -c \"import urllib.request as u; print(u.urlopen('{real_node.minio_endpoint}"
              "/minio/health/ready').status)\"; ip route 2>/dev/null || cat /proc/net/route")
    done = run_pod(kube_api, real_namespace, pod("net", image, script))
    assert done["status"]["phase"] == "Succeeded", kubectl("logs", "-n", real_namespace, "net", check=False).stdout
    lines = kubectl("logs", "-n", real_namespace, "net").stdout.splitlines()
    assert lines[0] == "200"
    # /proc/net/route: a header and one line for the bridge's subnet; no default (00000000) route.
    routes = [line.split() for line in lines[1:] if line and not line.startswith("Iface")]
    assert routes and all(r[1] != "00000000" for r in routes), lines
