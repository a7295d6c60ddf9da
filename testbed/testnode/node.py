"""The node itself: register and heartbeat, bind pending Pods, hand bound Pods to runners.

The watch loop is level-based: a relist replays every Pod through `handle`, which is idempotent,
so a dropped watch, a 410 Gone or a server restart only costs a relist.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from . import spec
from ..kubeapi import ApiError
from .runner import MERGE_PATCH, NodeContext, PodRunner

log = logging.getLogger("testnode")
HEARTBEAT_SECONDS = 10
WATCH_SECONDS = 60
LEASE_NAMESPACE = "kube-node-lease"


def node_status(capacity: dict[str, str], version: str, since: str) -> dict[str, Any]:
    """The node's status; `since` is when it became Ready (its conditions never change)."""
    when = spec.now()

    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": when, "lastTransitionTime": since}

    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "test node"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "test node"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "test node"),
            cond("Ready", "True", "KubeletReady", "barque test node is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": spec.NODE_IP},
                      {"type": "Hostname", "address": platform.node() or "localhost"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": str(uuid.uuid4()),
            "kernelVersion": platform.release(), "osImage": "barque test node",
            "containerRuntimeVersion": "testnode://0", "kubeletVersion": version,
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
        },
    }


class Node:
    def __init__(self, ctx: NodeContext, namespaces: Iterable[str], capacity: dict[str, str],
                 version: str) -> None:
        self.ctx, self.api, self.name = ctx, ctx.api, ctx.node_name
        self.namespaces = set(namespaces)
        self.capacity, self.version = capacity, version
        self.runners: dict[str, PodRunner] = {}
        self.done = threading.Event()
        self.since = spec.now()

    # -- registration and heartbeat ------------------------------------------------------
    def register(self) -> None:
        path = f"/api/v1/nodes/{self.name}"
        if self.api.get_or_none(path) is None:
            labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "barque.dev/test-node": "true"}
            self.api.request("POST", "/api/v1/nodes", body={
                "apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": labels},
                "status": node_status(self.capacity, self.version, self.since)})
        # The TaintNodesByCondition admission plugin taints new nodes not-ready; the node lifecycle
        # controller would lift it once Ready. It does not run here, so lift it ourselves.
        self.api.request("PATCH", path, body={"spec": {"taints": None}}, content_type=MERGE_PATCH)
        self.heartbeat()
        log.info("node %s registered", self.name)

    def heartbeat(self) -> None:
        status = node_status(self.capacity, self.version, self.since)
        self.api.request("PATCH", f"/api/v1/nodes/{self.name}/status", body={"status": status},
                         content_type=MERGE_PATCH)
        renew = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
        try:
            self.api.request("PATCH", f"{lease_path}/{self.name}", body={"spec": {"renewTime": renew}},
                             content_type=MERGE_PATCH)
        except ApiError as err:
            if err.status != 404:
                raise
            self.api.request("POST", lease_path, body={
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name},
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": renew}})

    def heartbeat_loop(self) -> None:
        while not self.done.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except Exception as err:
                log.warning("heartbeat failed: %s", err)

    # -- pods -----------------------------------------------------------------------------
    def watch_pods(self) -> None:
        """List, then watch from the last resourceVersion seen; relist only on trouble."""
        while not self.done.is_set():
            try:
                listing = self.api.request("GET", "/api/v1/pods")
                seen = set()
                for pod in listing.get("items") or []:
                    seen.add(pod["metadata"]["uid"])
                    self.handle("ADDED", pod)
                for uid in set(self.runners) - seen:  # deleted while we were not watching
                    self.runners.pop(uid).request_stop(0)
                version = listing["metadata"]["resourceVersion"]
                while not self.done.is_set():
                    for event in self.api.watch("/api/v1/pods", version, WATCH_SECONDS):
                        if event["type"] == "ERROR":  # typically 410 Gone: the version is too old
                            raise ApiError(event["object"].get("code", 500), str(event["object"]))
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self.handle(event["type"], event["object"])
            except Exception as err:
                log.warning("pod watch interrupted (%s); relisting", err)
                self.done.wait(1)

    def handle(self, kind: str, pod: dict[str, Any]) -> None:
        meta, pod_spec = pod["metadata"], pod["spec"]
        if self.namespaces and meta["namespace"] not in self.namespaces:
            return
        uid, node = meta["uid"], pod_spec.get("nodeName")
        if kind == "DELETED":
            runner = self.runners.pop(uid, None)
            if runner:
                runner.gone = True
                runner.request_stop(0)
            return
        if not node:
            if not meta.get("deletionTimestamp") and (pod.get("status") or {}).get("phase", "Pending") == "Pending":
                self.bind(pod)
            return
        if node != self.name:
            return
        runner = self.runners.get(uid)
        if runner is None:
            runner = self.adopt(pod)
            if runner is None:
                return
        if meta.get("deletionTimestamp"):
            runner.request_stop(meta.get("deletionGracePeriodSeconds"))

    def adopt(self, pod: dict[str, Any]) -> PodRunner | None:
        """Start a runner for a pod bound here, unless an earlier incarnation already ran it."""
        status = pod.get("status") or {}
        runner = PodRunner(self.ctx, pod)
        if status.get("phase") in ("Succeeded", "Failed"):
            if not pod["metadata"].get("deletionTimestamp"):
                return None  # finished; nothing to do until it is deleted
            runner.request_stop(0)
            runner.run = runner.delete_now  # type: ignore[method-assign]
        elif status.get("startTime") and status.get("hostIP"):
            # Started by a previous test node process whose children are gone: report it lost.
            runner.report("Failed", "NodeLost", "the test node restarted while this pod was running")
            return None
        self.runners[pod["metadata"]["uid"]] = runner
        runner.start()
        return runner

    def bind(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.name}}
        try:
            self.api.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                             body=body)
            log.info("bound pod %s/%s", meta["namespace"], meta["name"])
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("binding %s/%s failed: %s", meta["namespace"], meta["name"], err)
