"""``barque operator``: run the Kubernetes operator (kopf underneath) the way a Deployment does.

Every flag has an environment variable, so the Helm chart can configure it either way; a flag
wins. kopf, the Kubernetes client and the operator are imported only when the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "operator",
        help="run the Kubernetes operator",
        description="Reconcile barque.dev Pipelines and PipelineRuns: plan runs, create one Indexed Job per "
        "phase, keep the status, create scheduled runs. Uses in-cluster credentials, else $KUBECONFIG.",
    )
    p.add_argument("--namespace", "-n", action="append", dest="namespaces", metavar="NS",
                   help="watch this namespace (repeatable; env BARQUE_WATCH_NAMESPACES, comma-separated; default: all)")
    p.add_argument("--metrics-port", type=int, help="Prometheus metrics port (env BARQUE_METRICS_PORT, default 8080)")
    p.add_argument("--health-port", type=int, help="/healthz port (env BARQUE_HEALTH_PORT, default 8081)")
    p.add_argument("--default-image", help="runtime image for Pipelines that set none (env BARQUE_DEFAULT_IMAGE)")
    p.add_argument("--default-store", help="artifact store URI for Pipelines that set none (env BARQUE_DEFAULT_STORE)")
    p.add_argument("--default-store-secret",
                   help="credentials Secret for the default store (env BARQUE_DEFAULT_STORE_SECRET)")
    p.add_argument("--peering", help="kopf peering object for failover between replicas (env BARQUE_PEERING; "
                   "default: standalone)")
    p.add_argument("--leader-election", metavar="LEASE",
                   help="run as one of several replicas: act only while holding this Lease (env BARQUE_LEADER_ELECTION; "
                   "the Lease is in BARQUE_LEADER_NAMESPACE, else POD_NAMESPACE; default: off, one replica)")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from barque_operator.main import run
    from barque_operator.settings import OperatorSettings

    settings = OperatorSettings.from_sources(
        namespaces=args.namespaces,
        metrics_port=args.metrics_port,
        health_port=args.health_port,
        default_image=args.default_image,
        default_store=args.default_store,
        default_store_secret=args.default_store_secret,
        peering=args.peering,
        leader_lease=args.leader_election,
    )
    return run(settings, verbose=args.verbose)
