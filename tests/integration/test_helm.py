"""The Helm chart against real tools: helm lint, helm template, and a real API server.

Real: the helm and kubectl binaries and kube-apiserver (with etcd and RBAC) of the test bed.
Nothing is simulated here: rendered objects go through the API server's own validation
(``kubectl apply --dry-run=server``), and the RBAC test applies the Roles for real and asks
the server what the operator's ServiceAccount may do (``kubectl auth can-i``).
The ServiceMonitor is only rendered, never sent: the test bed has no prometheus-operator CRDs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "barque"
NAMESPACED = ["--set", "rbac.scope=namespace"]


@pytest.fixture
def fresh_namespace(kubectl: Any) -> Iterator[Callable[[], str]]:
    """Creates namespaces on demand (through kubectl, as a user would); deletes them after the test."""
    made: list[str] = []

    def make() -> str:
        name = f"helm-{uuid.uuid4().hex[:8]}"
        kubectl("create", "namespace", name)
        made.append(name)
        return name

    yield make
    for name in made:
        kubectl("delete", "namespace", name, "--wait=false", check=False)


def render(helm: Any, *args: str, release: str = "barque", namespace: str = "barque-system") -> list[dict[str, Any]]:
    out = helm("template", release, str(CHART), "--namespace", namespace, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def kinds(docs: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return sorted((d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs)


# -- lint ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("strict", [[], ["--strict"]], ids=["lint", "lint-strict"])
def test_chart_lints_cleanly(helm: Any, strict: list[str]) -> None:
    helm("lint", str(CHART), *strict)
    helm("lint", str(CHART), *strict, *NAMESPACED, "--set", "watchNamespaces={team-a,team-b}")


# -- template -----------------------------------------------------------------------------------


def test_default_values_render_a_cluster_scoped_operator(helm: Any) -> None:
    docs = render(helm)
    assert kinds(docs) == [
        ("ClusterRole", "barque", None),
        ("ClusterRoleBinding", "barque", None),
        ("ConfigMap", "barque-dashboard", "barque-system"),
        ("Deployment", "barque", "barque-system"),
        ("Service", "barque-metrics", "barque-system"),
        ("ServiceAccount", "barque", "barque-system"),
    ]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["operator"]
    assert container["image"] == "barque-operator:0.1.0"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BARQUE_DEFAULT_IMAGE"] == "barque-runtime:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_watched_namespaces_become_arguments_and_roles(helm: Any) -> None:
    docs = render(helm, *NAMESPACED, "--set", "watchNamespaces={team-a,team-b}", "--set", "store.secretName=creds")
    assert [k for k in kinds(docs) if k[0] in ("Role", "RoleBinding")] == [
        ("Role", "barque", "team-a"), ("Role", "barque", "team-b"),
        ("RoleBinding", "barque", "team-a"), ("RoleBinding", "barque", "team-b"),
    ]
    observe = next(d for d in docs if d["kind"] == "ClusterRole")
    assert {r for rule in observe["rules"] for r in rule["resources"]} == {"namespaces", "customresourcedefinitions"}
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["operator", "--namespace", "team-a", "--namespace", "team-b"]
    assert container["envFrom"] == [{"secretRef": {"name": "creds"}}]


def test_namespace_scope_without_namespaces_is_refused_with_a_reason(helm: Any) -> None:
    proc = helm("template", "barque", str(CHART), *NAMESPACED, check=False)
    assert proc.returncode != 0
    assert "needs at least one entry in watchNamespaces" in proc.stderr


def test_more_than_one_replica_elects_a_leader_on_a_lease_in_the_release_namespace(helm: Any) -> None:
    docs = render(helm, "--set", "operator.replicas=2")
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "barque-leader")
    assert role["metadata"]["namespace"] == "barque-system"
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"create", "get", "update"}
    assert all(rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"] for rule in role["rules"])
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") or e.get("valueFrom") for e in container["env"]}
    assert env["BARQUE_LEADER_ELECTION"] == "barque"
    assert env["BARQUE_LEADER_IDENTITY"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    one = render(helm)
    assert not [d for d in one if d["kind"] == "Role"]  # one replica: no election, no Lease access
    alone = next(d for d in one if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "BARQUE_LEADER_ELECTION" not in {e["name"] for e in alone["env"]}


def test_a_renew_deadline_not_under_the_lease_is_refused_with_a_reason(helm: Any) -> None:
    proc = helm("template", "barque", str(CHART), "--set", "operator.replicas=2",
                "--set", "operator.leaderElection.renewDeadlineSeconds=15", check=False)
    assert proc.returncode != 0 and "must be less than leaseSeconds" in proc.stderr


def test_values_schema_is_enforced_by_helm(helm: Any) -> None:
    proc = helm("template", "barque", str(CHART), "--set", "rbac.scope=everywhere", check=False)
    assert proc.returncode != 0
    assert "scope" in proc.stderr


def test_service_monitor_renders_when_enabled(helm: Any) -> None:
    docs = render(helm, "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom")
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


# -- the real API server ------------------------------------------------------------------------


def allowed_to(kubectl: Any, user: str, verb: str, resource: str, ns: str | None) -> bool:
    """Ask the API server's authorizer (a SubjectAccessReview) whether ``user`` may ``verb`` on
    ``[group:]resource[/subresource]``. Unlike ``kubectl auth can-i`` it needs no discovery, so
    it answers for barque's and kopf's resources whether or not their CRDs are installed."""
    group, _, rest = resource.rpartition(":")
    name, _, sub = rest.partition("/")
    namespace = user.split(":")[2]
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]
    attrs = {"verb": verb, "group": group, "resource": name, "subresource": sub, "namespace": ns or ""}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "groups": groups, "resourceAttributes": attrs}}
    out = kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review)).stdout
    return bool(json.loads(out)["status"].get("allowed"))



def test_api_server_accepts_the_default_render_with_crds(helm: Any, kubectl: Any, fresh_namespace: Callable[[], str]) -> None:
    ns = fresh_namespace()
    out = helm("template", f"r{uuid.uuid4().hex[:6]}", str(CHART), "--namespace", ns, "--include-crds").stdout
    applied = kubectl("apply", "--dry-run=server", "-f", "-", input=out).stdout
    assert sorted(line.split("/")[0] for line in applied.splitlines()) == [
        "clusterrole.rbac.authorization.k8s.io", "clusterrolebinding.rbac.authorization.k8s.io", "configmap",
        "customresourcedefinition.apiextensions.k8s.io", "customresourcedefinition.apiextensions.k8s.io",
        "deployment.apps", "service", "serviceaccount",
    ], applied
    assert all(line.endswith("(server dry run)") for line in applied.splitlines())


def test_api_server_accepts_the_namespace_scoped_render(helm: Any, kubectl: Any, fresh_namespace: Callable[[], str]) -> None:
    home, team_a, team_b = fresh_namespace(), fresh_namespace(), fresh_namespace()
    out = helm("template", f"r{uuid.uuid4().hex[:6]}", str(CHART), "--namespace", home, *NAMESPACED,
               "--set", f"watchNamespaces={{{team_a},{team_b}}}").stdout
    # Every object names its namespace (the Roles live in the watched ones), so no -n here.
    applied = kubectl("apply", "--dry-run=server", "-f", "-", input=out).stdout
    kinds_applied = [line.split("/")[0] for line in applied.splitlines()]
    assert kinds_applied.count("role.rbac.authorization.k8s.io") == 2, applied
    assert kinds_applied.count("rolebinding.rbac.authorization.k8s.io") == 2, applied


def test_operator_rbac_is_least_privilege(helm: Any, kubectl: Any, fresh_namespace: Callable[[], str]) -> None:
    """Apply the namespace-scoped RBAC for real, then ask the API server's authorizer what the
    operator's ServiceAccount may do (SubjectAccessReviews: no CRDs or discovery needed)."""
    home, watched, other = fresh_namespace(), fresh_namespace(), fresh_namespace()
    release = f"r{uuid.uuid4().hex[:6]}"
    docs = render(helm, *NAMESPACED, "--set", f"watchNamespaces={{{watched}}}", release=release, namespace=home)
    rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")]
    manifest = yaml.safe_dump_all(rbac)
    kubectl("apply", "-f", "-", input=manifest)
    try:
        user = f"system:serviceaccount:{home}:{release}-barque"

        def can(verb: str, resource: str, ns: str | None) -> bool:
            return allowed_to(kubectl, user, verb, resource, ns)

        allowed = [
            ("patch", "barque.dev:pipelineruns/status", watched), ("create", "barque.dev:pipelineruns", watched),
            ("update", "barque.dev:pipelineruns/finalizers", watched), ("watch", "barque.dev:pipelines", watched),
            ("create", "batch:jobs", watched), ("delete", "batch:jobs", watched), ("list", "pods", watched),
            ("create", "events", watched), ("patch", "kopf.dev:kopfpeerings", watched),
            ("list", "namespaces", None), ("watch", "apiextensions.k8s.io:customresourcedefinitions", None),
        ]
        denied = [
            ("get", "secrets", watched), ("create", "pods", watched), ("delete", "pods", watched),
            ("get", "pods/log", watched), ("patch", "batch:jobs", watched), ("create", "batch:jobs", other),
            ("list", "barque.dev:pipelineruns", other), ("delete", "barque.dev:pipelines/status", watched),
            ("create", "rbac.authorization.k8s.io:clusterroles", None), ("delete", "namespaces", None),
            ("list", "kopf.dev:clusterkopfpeerings", None),
        ]
        assert [a for a in allowed if not can(*a)] == []
        assert [d for d in denied if can(*d)] == []
    finally:
        kubectl("delete", "--wait=false", "--ignore-not-found", "-f", "-", input=manifest, check=False)


def test_cluster_scope_rbac_reaches_every_namespace(helm: Any, kubectl: Any, fresh_namespace: Callable[[], str]) -> None:
    home, anywhere = fresh_namespace(), fresh_namespace()
    release = f"r{uuid.uuid4().hex[:6]}"
    docs = render(helm, release=release, namespace=home)
    rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")]
    manifest = yaml.safe_dump_all(rbac)
    kubectl("apply", "-f", "-", input=manifest)
    try:
        user = f"system:serviceaccount:{home}:{release}-barque"
        assert allowed_to(kubectl, user, "create", "batch:jobs", anywhere)
        assert allowed_to(kubectl, user, "patch", "barque.dev:pipelineruns/status", anywhere)
        assert allowed_to(kubectl, user, "patch", "kopf.dev:clusterkopfpeerings", None)
        assert not allowed_to(kubectl, user, "get", "secrets", anywhere)
        assert not allowed_to(kubectl, user, "create", "pods", anywhere)
    finally:
        kubectl("delete", "--wait=false", "--ignore-not-found", "-f", "-", input=manifest, check=False)
