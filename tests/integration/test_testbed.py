"""The test bed with its simulated node behaves like a cluster: the behaviours the simulated-node
operator tests (test_operator_runs.py, test_ha.py) and the operator's scale benchmark
(bench/operator) rely on.

Real: etcd, kube-apiserver, kube-controller-manager (the Job controller and garbage collector
act for real), MinIO, kubectl and helm. Simulated: the node (`sim_node`, testbed/testnode),
which runs each container as a local process. The real node's own checks are
tests/integration/realnode/test_pods.py.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from testbed import cluster
from testbed.kubeapi import Api
from testbed.procs import start_and_wait, wait_until

PY = sys.executable
pytestmark = pytest.mark.usefixtures("sim_node")  # every Pod here runs on it


def pod_manifest(name: str, code: str, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "python:3", "command": [PY, "-c", code],
                                     **container}]}}


def job_manifest(name: str, code: str, **job_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "main", "image": "python:3", "command": [PY, "-c", code]}]}}, **job_spec}}


def create(api: Api, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    group = "api/v1" if obj["apiVersion"] == "v1" else f"apis/{obj['apiVersion']}"
    plural = obj["kind"].lower() + "s"
    return api.request("POST", f"/{group}/namespaces/{namespace}/{plural}", body=obj)


def wait_pod_done(api: Api, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"

    def done() -> dict[str, Any] | None:
        pod = api.get_or_none(path)
        return pod if pod and pod.get("status", {}).get("phase") in ("Succeeded", "Failed") else None

    return wait_until(done, timeout, f"pod {namespace}/{name} to finish")


def wait_job_finished(api: Api, namespace: str, name: str, timeout: float = 120) -> dict[str, str]:
    """The Job's Complete or Failed condition once it is True."""
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"

    def finished() -> dict[str, str] | None:
        conditions = api.request("GET", path).get("status", {}).get("conditions") or []
        return next((c for c in conditions if c["type"] in ("Complete", "Failed") and c["status"] == "True"), None)

    return wait_until(finished, timeout, f"job {namespace}/{name} to finish")


def job_pods(api: Api, namespace: str, job: str) -> list[dict[str, Any]]:
    pods = api.request("GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": f"job-name={job}"})
    items: list[dict[str, Any]] = pods["items"]
    return items


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    return state


def test_api_server_answers_and_the_node_is_ready(kubectl: Any, sim_node: Any) -> None:
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.")
    node = json.loads(kubectl("get", "node", sim_node.name, "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert not node["spec"].get("taints")


def test_the_official_client_works_with_the_admin_kubeconfig(kube_client: Any, sim_node: Any) -> None:
    from kubernetes import client

    node = client.CoreV1Api(kube_client).read_node(sim_node.name)
    assert node.metadata.name == sim_node.name


def test_plain_pod_runs_to_succeeded_with_exit_code_zero(kube_api: Api, namespace: str, sim_node: Any) -> None:
    create(kube_api, namespace, pod_manifest("hello", "print('hello from a pod')"))
    pod = wait_pod_done(kube_api, namespace, "hello")
    assert pod["status"]["phase"] == "Succeeded"
    assert terminated(pod)["exitCode"] == 0 and terminated(pod)["reason"] == "Completed"
    assert pod["spec"]["nodeName"] == sim_node.name and pod["status"]["podIP"] == "127.0.0.1"
    assert "hello from a pod" in sim_node.container_log(pod, "main")


def test_failing_pod_reaches_failed_with_exit_code_and_termination_message(kube_api: Api, namespace: str) -> None:
    code = "import os, sys; open(os.environ['BARQUE_TERMINATION_LOG'], 'w').write('{\"error\": \"boom\"}'); sys.exit(3)"
    create(kube_api, namespace, pod_manifest("fails", code))
    pod = wait_pod_done(kube_api, namespace, "fails")
    assert pod["status"]["phase"] == "Failed"
    assert terminated(pod)["exitCode"] == 3 and terminated(pod)["reason"] == "Error"
    assert json.loads(terminated(pod)["message"]) == {"error": "boom"}


def test_fallback_to_logs_on_error_puts_the_log_tail_in_the_message(kube_api: Api, namespace: str) -> None:
    code = "import sys; print('first', flush=True); print('last words', file=sys.stderr); sys.exit(1)"
    create(kube_api, namespace, pod_manifest("falls-back", code, terminationMessagePolicy="FallbackToLogsOnError"))
    pod = wait_pod_done(kube_api, namespace, "falls-back")
    assert terminated(pod)["message"].rstrip().endswith("last words")


def test_init_containers_run_in_order_before_the_containers(kube_api: Api, namespace: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    append = "open({!r}, 'a').write('{}\\n')"
    manifest = pod_manifest("ordered", append.format(str(trace), "main"))
    manifest["spec"]["initContainers"] = [
        {"name": name, "image": "python:3", "command": [PY, "-c", append.format(str(trace), name)]}
        for name in ("first", "second")]
    create(kube_api, namespace, manifest)
    pod = wait_pod_done(kube_api, namespace, "ordered")
    assert pod["status"]["phase"] == "Succeeded"
    assert trace.read_text().split() == ["first", "second", "main"]
    assert [s["state"]["terminated"]["exitCode"] for s in pod["status"]["initContainerStatuses"]] == [0, 0]


def test_an_empty_dir_mount_is_a_private_writable_directory_named_by_env(kube_api: Api, namespace: str) -> None:
    code = ("import os, json; d = os.environ['SCRATCH']; os.makedirs(d); open(os.path.join(d, 'f'), 'w').write('x');"
            "open(os.environ['BARQUE_TERMINATION_LOG'], 'w').write(json.dumps([d, os.getcwd()]))")
    manifest = pod_manifest("scratch", code, env=[{"name": "SCRATCH", "value": "/scratch/sub"}],
                            volumeMounts=[{"name": "tmp", "mountPath": "/scratch"}], workingDir="/scratch")
    manifest["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    create(kube_api, namespace, manifest)
    pod = wait_pod_done(kube_api, namespace, "scratch")
    scratch, cwd = json.loads(terminated(pod)["message"])
    assert pod["status"]["phase"] == "Succeeded"
    assert scratch.endswith("/volumes/tmp/sub") and cwd.endswith("/volumes/tmp")


def test_restart_policy_on_failure_restarts_the_container_until_it_succeeds(kube_api: Api, namespace: str,
                                                                           tmp_path: Path) -> None:
    marker = tmp_path / "tried"
    code = (f"import os, sys; m = {str(marker)!r}; first = not os.path.exists(m); open(m, 'w').close();"
            " sys.exit(1 if first else 0)")
    manifest = pod_manifest("retry", code)
    manifest["spec"]["restartPolicy"] = "OnFailure"
    create(kube_api, namespace, manifest)
    pod = wait_pod_done(kube_api, namespace, "retry")
    status = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == "Succeeded"
    assert status["restartCount"] == 1 and status["lastState"]["terminated"]["exitCode"] == 1


def test_indexed_job_completes_and_each_pod_sees_its_own_completion_index(kube_api: Api, namespace: str) -> None:
    code = "import os; open(os.environ['BARQUE_TERMINATION_LOG'], 'w').write(os.environ['JOB_COMPLETION_INDEX'])"
    create(kube_api, namespace, job_manifest("indexed", code, completionMode="Indexed", completions=3,
                                             parallelism=2, backoffLimit=0))
    assert wait_job_finished(kube_api, namespace, "indexed")["type"] == "Complete"
    pods = job_pods(kube_api, namespace, "indexed")
    seen = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: terminated(p)["message"]
            for p in pods}
    assert seen == {"0": "0", "1": "1", "2": "2"}


def test_job_with_backoff_limit_zero_fails_after_its_pod_fails(kube_api: Api, namespace: str) -> None:
    create(kube_api, namespace, job_manifest("no-retry", "raise SystemExit(1)", backoffLimit=0))
    condition = wait_job_finished(kube_api, namespace, "no-retry")
    assert (condition["type"], condition["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert len(job_pods(kube_api, namespace, "no-retry")) == 1


def test_pod_failure_policy_fails_the_job_on_exit_code_3_without_retry(kube_api: Api, namespace: str) -> None:
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3]}}]}
    create(kube_api, namespace, job_manifest("policy", "raise SystemExit(3)", backoffLimit=6,
                                             podFailurePolicy=policy))
    condition = wait_job_finished(kube_api, namespace, "policy")
    assert (condition["type"], condition["reason"]) == ("Failed", "PodFailurePolicy")
    assert len(job_pods(kube_api, namespace, "policy")) == 1


def test_active_deadline_kills_the_pod_with_deadline_exceeded(kube_api: Api, namespace: str) -> None:
    manifest = pod_manifest("slow", "import time; time.sleep(600)")
    manifest["spec"]["activeDeadlineSeconds"] = 2
    create(kube_api, namespace, manifest)
    pod = wait_pod_done(kube_api, namespace, "slow", timeout=30)
    assert (pod["status"]["phase"], pod["status"]["reason"]) == ("Failed", "DeadlineExceeded")


def test_deleting_a_job_kills_its_running_pod_and_the_pods_go_away(kube_api: Api, namespace: str,
                                                                   tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    create(kube_api, namespace, job_manifest("long", code))
    pid = int(wait_until(lambda: pid_file.read_text() if pid_file.exists() else None, 60,
                         "the pod's process to start"))
    kube_api.request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/long",
                     body={"propagationPolicy": "Background"})
    wait_until(lambda: not job_pods(kube_api, namespace, "long"), 60, "the job's pods to be deleted")
    wait_until(lambda: not process_alive(pid), 10, f"process {pid} to end")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (the test node reaps it right after).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_a_stopped_test_node_leaves_no_process_behind(kube_api: Api, kube_apiserver: Any, namespace: str,
                                                    tmp_path: Path) -> None:
    name = f"extra-{namespace[-6:]}"
    argv = cluster.testnode_argv(kube_apiserver.kubeconfig, name, tmp_path / "logs", tmp_path / "pods", [namespace])
    node = start_and_wait("extra test node", argv, tmp_path / "node.log", lambda: cluster.node_ready(kube_api, name),
                          env=cluster.testnode_env(), timeout=60)
    try:
        pid_file = tmp_path / "pid"
        manifest = pod_manifest("sleeper", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid()));"
                                           " time.sleep(600)")
        manifest["spec"]["nodeName"] = name  # already bound: the session's test node leaves it alone
        create(kube_api, namespace, manifest)
        pid = int(wait_until(lambda: pid_file.read_text() if pid_file.exists() else None, 60, "the pod's process"))
        assert node.stop() == 0
        wait_until(lambda: not process_alive(pid), 10, f"process {pid} to end")
    finally:
        node.stop()
        kube_api.request("DELETE", f"/api/v1/nodes/{name}")


def test_env_from_a_secret_reaches_the_process(kube_api: Api, namespace: str) -> None:
    kube_api.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"TOKEN": "s3cr3t", "USER": "ada"}})
    code = ("import json, os; open(os.environ['BARQUE_TERMINATION_LOG'], 'w')"
            ".write(json.dumps({k: os.environ.get(k) for k in ('ONE', 'C_TOKEN', 'C_USER', 'GREETING')}))")
    create(kube_api, namespace, pod_manifest("env", code, env=[
        {"name": "ONE", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
        {"name": "GREETING", "value": "hi $(C_USER)"}],
        envFrom=[{"prefix": "C_", "secretRef": {"name": "creds"}}]))
    pod = wait_pod_done(kube_api, namespace, "env")
    assert json.loads(terminated(pod)["message"]) == {"ONE": "s3cr3t", "C_TOKEN": "s3cr3t", "C_USER": "ada",
                                                      "GREETING": "hi ada"}


def test_minio_accepts_a_put_and_a_get(minio: Any) -> None:
    s3 = minio.client()
    s3.put_object(Bucket=minio.bucket, Key="hello/world.txt", Body=b"payload")
    assert s3.get_object(Bucket=minio.bucket, Key="hello/world.txt")["Body"].read() == b"payload"


def test_a_pod_with_the_store_secret_writes_to_minio(kube_api: Api, namespace: str, minio: Any,
                                                     store_secret: Any) -> None:
    secret = store_secret(namespace)
    code = "import boto3; boto3.client('s3').put_object(Bucket='%s', Key='from-pod', Body=b'ok')" % minio.bucket
    create(kube_api, namespace, pod_manifest("s3", code, envFrom=[{"secretRef": {"name": secret}}]))
    assert wait_pod_done(kube_api, namespace, "s3")["status"]["phase"] == "Succeeded"
    assert minio.client().get_object(Bucket=minio.bucket, Key="from-pod")["Body"].read() == b"ok"


def test_helm_installs_a_chart_that_kubectl_then_sees(helm: Any, kubectl: Any, namespace: str,
                                                      tmp_path: Path) -> None:
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-cm
        data:
          greeting: {{ .Values.greeting | quote }}
        """))
    helm("lint", str(chart))
    helm("install", "tiny", str(chart), "--namespace", namespace, "--set", "greeting=hi", "--wait")
    data = json.loads(kubectl("get", "configmap", "tiny-cm", "-n", namespace, "-o", "json").stdout)["data"]
    assert data == {"greeting": "hi"}
