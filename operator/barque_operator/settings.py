"""The operator's settings: read once from flags and the environment, frozen, passed explicitly.

Every value has a flag (for ``barque operator``) and an environment variable (for the Helm
chart); a flag wins over the environment, the environment over the default. Nothing else in
the operator reads ``os.environ`` for its configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (value or "").split(",") if p.strip()))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{name}={raw!r} must be a positive number of seconds")
    return value


@dataclass(frozen=True)
class OperatorSettings:
    """What the operator needs to know about its environment; defaults suit the Helm chart."""

    namespaces: tuple[str, ...] = ()  # empty: every namespace (cluster-wide)
    metrics_port: int = 8080
    health_port: int = 8081
    default_image: str | None = None
    default_store: str | None = None
    default_store_secret: str | None = None
    image_pull_policy: str = "IfNotPresent"
    resync_seconds: float = 60.0  # how often the safety sweep looks for active runs an event missed
    api_qps: float = 100.0  # API requests the operator starts per second, at most
    api_concurrency: int = 16  # API requests in flight, at most
    workers: int = 32  # threads for reconciles, and as many for status writes: most of it waits on the API or the store
    schedule_seconds: float = 10.0  # how often scheduled Pipelines are checked
    status_step_limit: int = 500  # runs with more steps keep counts and failures only
    peering: str | None = None  # kopf peering object name; None: standalone (one replica)
    # Leader election (several replicas, one acting): the Lease's name; None: off (one replica).
    leader_lease: str | None = None
    leader_namespace: str = "default"  # where the Lease lives: the operator's own namespace in the chart
    leader_identity: str = ""  # this replica's name in the Lease; empty: host name and process id
    lease_seconds: float = 15.0  # a standby takes a Lease left unrenewed this long
    renew_deadline_seconds: float = 10.0  # a leader that could not renew for this long stops
    lease_retry_seconds: float = 2.0  # how often the Lease is renewed, or read by a standby
    watch_server_timeout: int = 300
    watch_client_timeout: int = 330
    watch_connect_timeout: int = 30
    finalizer: str = "barque.dev/operator"

    @classmethod
    def from_sources(
        cls,
        *,
        namespaces: Sequence[str] | None = None,
        metrics_port: int | None = None,
        health_port: int | None = None,
        default_image: str | None = None,
        default_store: str | None = None,
        default_store_secret: str | None = None,
        peering: str | None = None,
        leader_lease: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> "OperatorSettings":
        """Flags (the keyword arguments, ``None`` when not given) over ``env`` over defaults."""
        env = os.environ if env is None else env
        return cls(
            namespaces=tuple(namespaces) if namespaces else _split(env.get("BARQUE_WATCH_NAMESPACES")),
            metrics_port=metrics_port if metrics_port is not None else _int(env, "BARQUE_METRICS_PORT", cls.metrics_port),
            health_port=health_port if health_port is not None else _int(env, "BARQUE_HEALTH_PORT", cls.health_port),
            default_image=default_image or env.get("BARQUE_DEFAULT_IMAGE") or None,
            default_store=default_store or env.get("BARQUE_DEFAULT_STORE") or None,
            default_store_secret=default_store_secret or env.get("BARQUE_DEFAULT_STORE_SECRET") or None,
            image_pull_policy=env.get("BARQUE_IMAGE_PULL_POLICY") or cls.image_pull_policy,
            resync_seconds=float(env.get("BARQUE_RESYNC_SECONDS") or cls.resync_seconds),
            api_qps=float(env.get("BARQUE_API_QPS") or cls.api_qps),
            api_concurrency=_int(env, "BARQUE_API_CONCURRENCY", cls.api_concurrency),
            workers=_int(env, "BARQUE_WORKERS", cls.workers),
            schedule_seconds=float(env.get("BARQUE_SCHEDULE_SECONDS") or cls.schedule_seconds),
            status_step_limit=_int(env, "BARQUE_STATUS_STEP_LIMIT", cls.status_step_limit),
            peering=peering or env.get("BARQUE_PEERING") or None,
            leader_lease=leader_lease or env.get("BARQUE_LEADER_ELECTION") or None,
            leader_namespace=env.get("BARQUE_LEADER_NAMESPACE") or env.get("POD_NAMESPACE") or cls.leader_namespace,
            leader_identity=env.get("BARQUE_LEADER_IDENTITY") or "",
            lease_seconds=_float(env, "BARQUE_LEASE_SECONDS", cls.lease_seconds),
            renew_deadline_seconds=_float(env, "BARQUE_RENEW_DEADLINE_SECONDS", cls.renew_deadline_seconds),
            lease_retry_seconds=_float(env, "BARQUE_LEASE_RETRY_SECONDS", cls.lease_retry_seconds),
        )
