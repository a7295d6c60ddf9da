"""``barque status``: on the local store, per node, cached or stale and why and its last run
(barca's ``status``); on a cluster, what a PipelineRun is doing, read from its status - and
the small Kubernetes client the GitOps commands (``submit``, ``status``, ``logs``) share.

Which one: a cluster flag (``-n``, ``--kubeconfig``, ``--context``) asks the cluster; no
argument, a file argument, or a name the current folder's project knows reads the local
store; any other single name is a PipelineRun's, when a Kubernetes configuration is there.

The local document is ``barque_runtime.status``'s. The cluster status is the record the
operator keeps (see ``barque_operator.models.PipelineRunStatus``): phase, progress, one entry
per plan phase with its Job, and the failures. Rendering it is a pure function of the object,
tested without a cluster; only ``Kube`` talks to the API. The Kubernetes client is imported
when a command runs, never at module level.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping

from barque_cli.usage import add_cluster_args

GROUP, VERSION = "barque.dev", "v1alpha1"
TERMINAL = ("Succeeded", "Failed", "Cancelled")
_IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
_IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="per node: cached or stale and why, and its last run; or a PipelineRun's phase, Jobs and failed steps")
    p.add_argument("items", nargs="*", metavar="TARGET_OR_FILE_OR_RUN",
                   help="[TARGET[,TARGET...]] [FILE.py|DIR/ ...] for the local store (no file: the current folder), or a PipelineRun's name")
    add_cluster_args(p)
    p.add_argument("--store", default=None, help="the local store: a folder (default .barque/ in the project) or s3://bucket/prefix")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="run parameter today's keys are made with")
    p.add_argument("--json", action="store_true", help="JSON even on a terminal")
    p.add_argument("--pretty", action="store_true", help="the table even when piped (local status)")
    p.add_argument("-l", "--limit", type=_count, default=None, metavar="N",
                   help="at most N nodes, in topological order (default: every node in JSON, 100 in the table)")
    p.add_argument("--all", action="store_true", help="every node, also in the table")
    p.add_argument("--fields", default=None, metavar="KEYS", help="JSON with only these keys (comma-separated) on each node; implies --json")
    p.add_argument("--sample", type=_count, default=None, metavar="N", help="up to N sample rows of each JSON artifact")
    p.add_argument("--state", default=None, metavar="STATES",
                   help="only nodes in these cache states (comma-separated); the summary still counts every node")
    p.add_argument("--problems", action="store_true",
                   help="only nodes that need attention: not cached, or a task or sensor whose last run failed")
    p.set_defaults(func=cmd_status)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return int(text)


def cmd_status(args: argparse.Namespace) -> int:
    if is_local(args.items, args, os.environ):
        return local_status(args)
    args.run = args.items[0]
    return cluster_status(args)


def is_local(items: list[str], args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    """Whether ``barque status ITEMS`` means the local store (see the module docstring)."""
    if args.namespace or args.kubeconfig or args.context:
        return False
    if len(items) != 1:
        return True
    from barque.errors import BarqueError
    from barque_runtime.positionals import split_positionals

    files, _ = split_positionals(items)
    if files != ["."] or not _kube_configured(environ):
        return True
    try:
        from barque.parsing import parse_project
        from barque.targets import resolve_targets

        resolve_targets(parse_project(["."], hashes=False), items)
        return True
    except BarqueError:  # not a node here (or no project here): a PipelineRun's name
        return False


def _kube_configured(environ: Mapping[str, str]) -> bool:
    kubeconfig = environ.get("KUBECONFIG") or os.path.join(os.path.expanduser("~"), ".kube", "config")
    return any(os.path.exists(p) for p in kubeconfig.split(os.pathsep)) or os.path.exists(_IN_CLUSTER_TOKEN)


def local_status(args: argparse.Namespace) -> int:
    """barca's status document of the local store, as JSON or its table."""
    from barque_cli.cmd_why import _pairs
    from barque_cli.output import JSON_MODE, output_mode
    from barque_runtime.positionals import split_positionals
    from barque_runtime.status import TABLE_LIMIT, Narrowing, format_table, narrow, parse_fields, parse_states, project_status

    from barque.errors import BarqueError, PlanError

    if args.fields is not None and args.pretty:
        raise BarqueError("--fields gives JSON, --pretty the table", hint="drop one of them")
    fields = parse_fields(args.fields) if args.fields is not None else ()
    states = parse_states(args.state) if args.state is not None else ()
    mode = JSON_MODE if fields else output_mode(args.json, args.pretty, None, os.environ, sys.stdout.isatty())
    limit = None if args.all else args.limit if args.limit is not None else None if mode == JSON_MODE else TABLE_LIMIT
    files, targets = split_positionals(list(args.items))
    try:
        doc = project_status(files, targets, store=args.store, params=_pairs("--param", args.param), sample=args.sample)
    except PlanError as err:
        if args.items != targets:
            raise
        # A name no local node has may be a PipelineRun's, asked of a cluster not configured here.
        raise PlanError(err.message, where=err.where,
                        hint=f"{err.hint}; for the PipelineRun {args.items[0]!r} pass -n NAMESPACE or --kubeconfig") from None
    doc = narrow(doc, Narrowing(states, args.problems, limit, fields))
    if mode != JSON_MODE and doc.get("hint"):
        sys.stderr.write(doc["hint"] + "\n")  # stdout stays just the table, as in barca
    sys.stdout.write((json.dumps(doc, default=str) if mode == JSON_MODE else format_table(doc)) + "\n")
    return 0


def cluster_status(args: argparse.Namespace) -> int:
    """A PipelineRun's status, as JSON (``--json``) or as a person reads it."""
    kube = Kube.connect(args)
    run = kube.get("pipelineruns", args.run)
    if args.json:
        meta = run.get("metadata", {})
        out = {"name": meta.get("name"), "namespace": meta.get("namespace"),
               "pipeline": (run.get("spec", {}).get("pipelineRef") or {}).get("name"), "status": run.get("status") or {}}
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        sys.stdout.write(render_status(run))
    return 0


def cli_error(message: str, *, where: str | None = None, hint: str | None = None, exit_code: int = 3) -> Exception:
    """A ``BarqueError`` (imported late: this module must stay light) with its own exit code:
    3 (barca's ``infra``) for a cluster that cannot answer, 2 (``usage``) for a wrong name."""
    from barque.errors import BarqueError

    err = BarqueError(message, where=where, hint=hint)
    err.exit_code = exit_code
    return err


class Kube:
    """barque's custom objects in one namespace, through the official Kubernetes client."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    @classmethod
    def connect(cls, args: argparse.Namespace) -> "Kube":
        try:
            from kubernetes import client, config
        except ImportError:  # pragma: no cover - depends on the installation
            raise cli_error("this command needs the Kubernetes client", hint="pip install 'barque[operator]'", exit_code=2) from None
        try:
            api_client = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
            namespace = args.namespace or _context_namespace(config, args)
        except config.ConfigException as e:
            if args.kubeconfig or args.context:
                raise cli_error(f"cannot load the kubeconfig: {e}", where=args.kubeconfig or "--context") from None
            try:  # inside a Pod, with a service account
                cfg = client.Configuration()
                config.load_incluster_config(client_configuration=cfg)
                api_client = client.ApiClient(cfg)
            except config.ConfigException:
                raise cli_error("no Kubernetes configuration found",
                             hint="pass --kubeconfig, set KUBECONFIG, or run inside a cluster") from None
            namespace = args.namespace or _read(_IN_CLUSTER_NAMESPACE) or "default"
        return cls(client.CustomObjectsApi(api_client), namespace)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        try:
            return dict(self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name))
        except Exception as e:
            raise self._explain(e, plural, name) from None

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body))
        except Exception as e:
            meta = body.get("metadata", {})
            raise self._explain(e, plural, meta.get("name") or meta.get("generateName", "")) from None

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of the object's spec or metadata (``submit`` cancels its batches' runs with it)."""
        try:
            return dict(self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, body))
        except Exception as e:
            raise self._explain(e, plural, name) from None

    def _explain(self, e: Exception, plural: str, name: str) -> Exception:
        kind = {"pipelineruns": "PipelineRun", "pipelines": "Pipeline"}.get(plural, plural)
        status = getattr(e, "status", None)
        if status is None:
            return cli_error(f"cannot reach the Kubernetes API: {e}", hint="check the cluster address in your kubeconfig")
        reason = _api_message(e)
        where = f"{kind} {self.namespace}/{name}"
        if status == 404:
            hint = ("is the barque CRD installed? (helm install barque helm/barque)"
                    if "the server could not find the requested resource" in reason else "check the name and --namespace")
            return cli_error("not found", where=where, hint=hint, exit_code=2)
        if status == 409:
            return cli_error("already exists", where=where, hint="choose another --name, or use --generate-name", exit_code=2)
        if status in (401, 403):
            return cli_error(f"not allowed: {reason}", where=where, hint="ask for RBAC on barque.dev resources in this namespace")
        if status == 422:
            return cli_error(f"rejected by the API server: {reason}", where=where, exit_code=2)
        return cli_error(f"API error {status}: {reason}", where=where)


def _api_message(e: Exception) -> str:
    body = getattr(e, "body", None)
    try:
        return str(json.loads(str(body)).get("message") or body)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(e, "reason", "") or e)


def _context_namespace(config: Any, args: argparse.Namespace) -> str:
    contexts, active = config.list_kube_config_contexts(config_file=args.kubeconfig)
    chosen = next((c for c in contexts if c.get("name") == args.context), None) if args.context else active
    return ((chosen or {}).get("context") or {}).get("namespace") or "default"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


# -- rendering (pure) ---------------------------------------------------------------------------


def render_status(run: Mapping[str, Any]) -> str:
    """A PipelineRun as a person reads it: phase, progress, phases with their Jobs, failed steps."""
    meta, spec, status = run.get("metadata") or {}, run.get("spec") or {}, run.get("status") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}".lstrip("/")
    lines = [f"PipelineRun {name}  (pipeline {(spec.get('pipelineRef') or {}).get('name', '?')})"]
    phase = status.get("phase") or "Pending"
    lines.append(f"Phase:     {phase}" + (f"  ({status['duration']})" if status.get("duration") else ""))
    lines.append(f"Progress:  {status.get('progress') or '-'}" + _counts(status.get("counts") or {}))
    if status.get("message"):
        lines.append(f"Message:   {status['message']}")
    if status.get("running"):
        lines.append(f"Running:   {', '.join(status['running'])}")
    phases = status.get("phases") or []
    if phases:
        lines.append("")
        lines.extend(_table(
            ["PHASE", "STATE", "JOB", "STREAMS", "STEPS", "DONE", "CACHED", "FAILED", "SKIPPED"],
            [[str(p.get("index", "")), p.get("state", ""), p.get("job") or "-", str(p.get("streams", 0)),
              str((p.get("counts") or {}).get("total", 0)), str((p.get("counts") or {}).get("succeeded", 0)),
              str((p.get("counts") or {}).get("cached", 0)), str((p.get("counts") or {}).get("failed", 0)),
              str((p.get("counts") or {}).get("skipped", 0))] for p in phases],
        ))
    failures = failed_steps(status)
    if failures:
        lines.append("")
        lines.append("Failed steps:")
        for step, message in failures:
            lines.append(f"  {step}: {message}")
        lines.append(f"  (full output: barque logs {meta.get('name', 'RUN')} STEP)")
    return "\n".join(lines) + "\n"


def failed_steps(status: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(step, message) for each failed step: the status's failures, else failed entries of its steps."""
    out = [(f.get("step", "?"), f.get("message", "")) for f in status.get("failures") or []]
    if not out:
        out = [(s.get("id", "?"), s.get("message") or s["state"]) for s in status.get("steps") or [] if s.get("state") in ("failed", "crashed")]
    return out


def _counts(counts: Mapping[str, Any]) -> str:
    shown = [f"{counts[k]} {k}" for k in ("succeeded", "cached", "running", "failed", "crashed", "skipped", "filtered", "cancelled") if counts.get(k)]
    return f"  ({', '.join(shown)})" if shown else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
