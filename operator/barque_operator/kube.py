"""The one module that talks to the Kubernetes API (through the official client, dicts in and out).

Every call has a request timeout (a hung connection must not freeze a handler), reads are
returned as plain dicts (``_preload_content=False`` + JSON), and the outcomes that are normal
for a level-based operator are not errors: a 409 on create means the object already exists
(created by an earlier reconcile or a previous operator process), a 404 on delete means it
is already gone.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from barque_operator import naming
from barque_operator.models import GROUP, VERSION

log = logging.getLogger(__name__)
TIMEOUT = (5, 30)  # connect, read (seconds)


def _load(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


class Kube:
    """Thin wrappers over the calls the operator makes; build with ``Kube.connect()``."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._api_exception = client.exceptions.ApiException

    @classmethod
    def connect(cls) -> "Kube":
        """In-cluster credentials when running in a Pod, else ``$KUBECONFIG`` / ``~/.kube/config``."""
        from kubernetes import client, config

        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            return cls(config.new_client_from_config())  # type: ignore[no-untyped-call]
        return cls(client.ApiClient())

    def _status(self, err: Exception) -> int | None:
        return getattr(err, "status", None) if isinstance(err, self._api_exception) else None

    # -- barque resources ------------------------------------------------------------------

    def get_pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_custom(namespace, "pipelines", name)

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_custom(namespace, "pipelineruns", name)

    def _get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return _load(self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, _preload_content=False, _request_timeout=TIMEOUT))
        except Exception as err:
            if self._status(err) == 404:
                return None
            raise

    def patch_run_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> str | None:
        """Merge-patch a run's status (RFC 7386: a None removes a key); its new resourceVersion, or
        None when the run is gone."""
        try:
            data = _load(self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, "pipelineruns", name, {"status": dict(status)},
                _content_type="application/merge-patch+json", _preload_content=False, _request_timeout=TIMEOUT))
        except Exception as err:
            if self._status(err) == 404:
                return None
            raise
        version: str | None = data["metadata"].get("resourceVersion")
        return version

    def list_runs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        data = _load(self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "pipelineruns", label_selector=label_selector,
            _preload_content=False, _request_timeout=TIMEOUT))
        items: list[dict[str, Any]] = data.get("items") or []
        return items

    def create_run(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """Create a PipelineRun; False when one of that name already exists."""
        try:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineruns", dict(body),
                                                        _request_timeout=TIMEOUT)
            return True
        except Exception as err:
            if self._status(err) == 409:
                return False
            raise

    def cancel_run(self, namespace: str, name: str) -> None:
        try:
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineruns", name,
                                                       {"spec": {"cancel": True}}, _request_timeout=TIMEOUT)
        except Exception as err:
            if self._status(err) != 404:
                raise

    def delete_run(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineruns", name,
                                                        propagation_policy="Background", _request_timeout=TIMEOUT)
        except Exception as err:
            if self._status(err) != 404:
                raise

    # -- Jobs and Pods ---------------------------------------------------------------------

    def list_run_jobs(self, namespace: str, run_name: str, run_uid: str) -> list[dict[str, Any]]:
        """The Jobs this run owns (by label, then by owner uid: a re-created run of the same name owns none)."""
        data = _load(self.batch.list_namespaced_job(
            namespace, label_selector=f"barque.dev/run={naming.label_value(run_name)}",
            _preload_content=False, _request_timeout=TIMEOUT))
        return [j for j in data.get("items") or []
                if any(o.get("uid") == run_uid for o in j["metadata"].get("ownerReferences") or [])]

    def create_job(self, body: Mapping[str, Any]) -> bool:
        """Create a Job; False when it already exists (a 409 is how idempotence shows)."""
        try:
            ns = body["metadata"]["namespace"]
            self.batch.create_namespaced_job(ns, dict(body), _request_timeout=TIMEOUT)  # type: ignore[arg-type]
            return True
        except Exception as err:
            if self._status(err) == 409:
                return False
            raise

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and, in the background, its Pods."""
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background", _request_timeout=TIMEOUT)
        except Exception as err:
            if self._status(err) != 404:
                raise

    def list_job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        data = _load(self.core.list_namespaced_pod(
            namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}",
            _preload_content=False, _request_timeout=TIMEOUT))
        items: list[dict[str, Any]] = data.get("items") or []
        return items

    # -- Events ----------------------------------------------------------------------------

    def post_event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event on ``obj``; failures are logged, never raised (events are advisory)."""
        meta = obj["metadata"]
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name'][:200]}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid")},
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "barque-operator"},
            "reportingComponent": "barque.dev/operator",
            "reportingInstance": "barque-operator",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(meta["namespace"], body, _request_timeout=TIMEOUT)  # type: ignore[arg-type]
        except Exception as err:  # an event lost is not worth failing a reconcile
            log.warning("could not post event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], err)


def termination_messages(pods: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Each Job index's latest Pod's termination message (the runtime's JSON result, or its log tail)."""
    latest: dict[int, tuple[str, str]] = {}
    for pod in pods:
        annotations = pod["metadata"].get("annotations") or {}
        index = annotations.get("batch.kubernetes.io/job-completion-index")
        if index is None:
            continue
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or {}
            if term.get("message") or term.get("exitCode") is not None:
                stamp = term.get("finishedAt") or pod["metadata"].get("creationTimestamp") or ""
                text = term.get("message") or f"exit code {term.get('exitCode')} ({term.get('reason') or 'no reason'})"
                if int(index) not in latest or stamp >= latest[int(index)][0]:
                    latest[int(index)] = (stamp, text)
    return {i: text for i, (_, text) in latest.items()}
