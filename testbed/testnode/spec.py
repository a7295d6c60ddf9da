"""Pure parts of the test node: what kubelet would compute from a Pod, without any I/O.

Pods are plain dicts in the API's camelCase JSON form. Secrets and ConfigMaps come in through a
`Lookup` (a callable returning the decoded data dict, or None when the object does not exist),
so everything here can be tested without servers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Pod = dict[str, Any]
Lookup = Callable[[str, str], "dict[str, str] | None"]  # (namespace, name) -> data or None

NODE_IP = "127.0.0.1"
MAX_MESSAGE = 4096  # kubelet's cap on a termination message
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # kubelet's FallbackToLogsOnError tail
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ConfigError(Exception):
    """A container cannot be configured yet (kubelet: CreateContainerConfigError)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: unknown references stay as written, `$$` escapes `$`."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:close]
                out.append(env.get(name, f"$({name})"))
                i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def field_value(pod: Pod, path: str) -> str:
    """The value of a downward-API fieldRef path on the pod."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status") or {}
    keyed = _FIELD_KEY.match(path)
    if keyed:
        return str((meta.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": NODE_IP,
        "status.podIPs": NODE_IP,
        "status.hostIP": NODE_IP,
        "status.hostIPs": NODE_IP,
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ConfigError(f"fieldRef {path!r} is not supported by the test node")


def _lookup(kind: str, ref: Mapping[str, Any], namespace: str, lookup: Lookup) -> dict[str, str] | None:
    data = lookup(namespace, ref["name"])
    if data is None and not ref.get("optional"):
        raise ConfigError(f'{kind} "{ref["name"]}" not found')
    return data


def resolve_env(pod: Pod, container: Mapping[str, Any], secrets: Lookup, config_maps: Lookup,
                base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's environment as kubelet builds it: base, then envFrom, then env in order,
    each `value` expanded against what is defined before it."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = dict(base or {})
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            data = _lookup("secret", source["secretRef"], namespace, secrets)
        else:
            data = _lookup("configmap", source["configMapRef"], namespace, config_maps)
        for key, value in (data or {}).items():
            if _ENV_NAME.match(prefix + key):  # kubelet skips keys that are not valid names
                env[prefix + key] = value
    for var in container.get("env") or []:
        name, source = var["name"], var.get("valueFrom")
        if source is None:
            env[name] = expand(var.get("value", ""), env)
            continue
        if "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
            continue
        if "secretKeyRef" in source:
            ref, data = source["secretKeyRef"], _lookup("secret", source["secretKeyRef"], namespace, secrets)
        elif "configMapKeyRef" in source:
            ref, data = source["configMapKeyRef"], _lookup("configmap", source["configMapKeyRef"],
                                                           namespace, config_maps)
        else:
            raise ConfigError(f"env {name}: only value, fieldRef, secretKeyRef and configMapKeyRef are supported")
        if data is None:
            continue  # optional and missing
        if ref["key"] not in data:
            if ref.get("optional"):
                continue
            raise ConfigError(f'couldn\'t find key {ref["key"]} in {ref["name"]}')
        env[name] = data[ref["key"]]
    return env


def command_line(container: Mapping[str, Any], env: Mapping[str, str],
                 is_runtime_image: Callable[[str], bool], entrypoints: Mapping[str, list[str]]) -> list[str]:
    """command + args, expanded; without a command, the image's entrypoint stands in."""
    command = container.get("command")
    if not command:
        image = container.get("image", "")
        if is_runtime_image(image):
            command = ["barque"]
        elif image in entrypoints:
            command = entrypoints[image]
        else:
            raise ConfigError(f"container {container['name']!r} has no command and the test node does not "
                              f"know the entrypoint of image {image!r} (pass --image-entrypoint)")
    argv = [expand(part, env) for part in [*command, *(container.get("args") or [])]]
    return argv


def remap(value: str, mounts: Mapping[str, str]) -> str:
    """Rewrite a path inside an emptyDir mount to the sandbox directory that stands in for it."""
    for mount_path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
        base = mount_path.rstrip("/") or "/"
        if value == base or value.startswith(base.rstrip("/") + "/"):
            return local + value[len(base.rstrip("/")):]
    return value


def remap_env(env: Mapping[str, str], base: Mapping[str, str], mounts: Mapping[str, str]) -> dict[str, str]:
    """Remap the values the pod declared; leave alone what the node itself set (PATH, HOME, ...).

    The node's own values are paths on this machine already: remapping them would break a
    checkout under /tmp when a pod mounts an emptyDir at /tmp (PATH would point into the sandbox).
    """
    return {k: v if base.get(k) == v else remap(v, mounts) for k, v in env.items()}


def termination_message(written: bytes, log: bytes, policy: str | None, exit_code: int) -> str:
    """What kubelet puts in state.terminated.message."""
    message = written[:MAX_MESSAGE]
    if not message.strip() and policy == "FallbackToLogsOnError" and exit_code != 0:
        message = b"\n".join(log.splitlines()[-FALLBACK_LINES:])[-FALLBACK_BYTES:]
    return message.decode("utf-8", errors="replace")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRun:
    """What the node knows about one container of a pod (one per spec container)."""

    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    restart_count: int = 0
    container_id: str = ""
    last: dict[str, Any] | None = field(default=None)  # lastState.terminated after a restart

    def as_status(self, init: bool = False) -> dict[str, Any]:
        if self.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            term: dict[str, Any] = {
                "exitCode": self.exit_code, "reason": self.reason, "startedAt": self.started_at,
                "finishedAt": self.finished_at, "containerID": self.container_id,
            }
            if self.message:
                term["message"] = self.message
            state = {"terminated": term}
        else:
            waiting: dict[str, Any] = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        status: dict[str, Any] = {
            "name": self.name, "image": self.image, "imageID": "", "state": state,
            "lastState": {"terminated": self.last} if self.last else {},
            "ready": (self.exit_code == 0) if init else self.state == "running",
            "started": self.state == "running",
            "restartCount": self.restart_count,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


def terminal_phase(runs: list[ContainerRun]) -> str:
    """Succeeded when every container exited 0, Failed otherwise (restartPolicy Never)."""
    return "Succeeded" if all(r.exit_code == 0 for r in runs) else "Failed"


def _condition(kind: str, ok: bool, when: str, reason: str | None,
               previous: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = previous.get(kind)
    if before and before.get("status") == status:
        when = before.get("lastTransitionTime") or when  # a transition time only moves on a transition
    cond: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": when}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def pod_status(phase: str, start_time: str, init_runs: list[ContainerRun], runs: list[ContainerRun],
               reason: str | None = None, message: str | None = None,
               previous: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A full pod status (sent with a JSON merge patch, so lists replace what was there).
    `previous` is the last conditions sent, whose transition times are kept where unchanged."""
    when = now()
    before = {c["type"]: c for c in previous or []}
    initialized = all(r.state == "terminated" and r.exit_code == 0 for r in init_runs)
    ready = bool(runs) and all(r.state == "running" for r in runs)
    terminal = phase in ("Succeeded", "Failed")
    not_ready = "PodCompleted" if terminal else "ContainersNotReady"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            _condition("PodScheduled", True, start_time, None, before),
            _condition("Initialized", initialized, when, "ContainersNotInitialized", before),
            _condition("ContainersReady", ready, when, not_ready, before),
            _condition("Ready", ready, when, not_ready, before),
        ],
        "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}],
        "podIP": NODE_IP, "podIPs": [{"ip": NODE_IP}],
        "startTime": start_time,
        "containerStatuses": [r.as_status() for r in runs],
        "initContainerStatuses": [r.as_status(init=True) for r in init_runs],
        "reason": reason,
        "message": message,
    }
    return status
