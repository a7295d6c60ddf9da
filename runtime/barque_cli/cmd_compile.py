"""``barque compile``: pipeline files in, a ``Pipeline`` manifest out, for ``kubectl apply`` and GitOps.

The manifest is built through the operator's pydantic models (``barque_operator.models``),
the same ones that generate the CRDs, so what compile emits is what the API server accepts.
The output is deterministic - sorted keys, files in path order, the graph root written as
``.``, no timestamps - so recompiling unchanged code leaves a Git diff empty.

Only argparse and the standard library are imported at module level: ``barque run`` loads
this module to build its parser and must stay light. pydantic and PyYAML (the ``operator``
extra) are imported when the command runs.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any, Sequence

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kubernetes' defaults a Pipeline (which carries its code and graph) can outgrow: a client-side
# `kubectl apply` copies the whole object into an annotation, and an object's annotations are
# limited to 256 KiB in all; etcd stores at most 1.5 MiB per object (its --max-request-bytes).
APPLY_ANNOTATION_LIMIT = 256 * 1024
ETCD_OBJECT_LIMIT = 1536 * 1024


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compile",
        help="print a Pipeline manifest (YAML) for kubectl apply",
        description="Parse pipeline files (never importing them) and print a barque.dev/v1alpha1 Pipeline "
        "holding the compiled graph and the code inline. The output is deterministic, for Git.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="pipeline files or folders")
    p.add_argument("--name", required=True, help="the Pipeline's name (a DNS subdomain, e.g. 'quickstart')")
    p.add_argument("--namespace", default=None, help="metadata.namespace (default: left out, kubectl decides)")
    p.add_argument("--image", default=None, help="runtime image for the steps (default: the operator's)")
    p.add_argument("--store", default=None, metavar="URI", help="artifact store, e.g. s3://bucket/prefix (default: the operator's)")
    p.add_argument("--store-secret", default=None, metavar="NAME", help="Secret with the store's AWS_* credentials")
    p.add_argument("--schedule", default=None, metavar="CRON", help="create runs on this cron schedule (UTC)")
    p.add_argument(
        "--concurrency-policy", choices=("Allow", "Forbid", "Replace"), default=None,
        help="with --schedule: what to do when the previous scheduled run is still going",
    )
    p.add_argument(
        "--form", choices=("auto", "plain", "packed"), default="auto",
        help="plain: the graph and the code as text; packed: the code gzip-compressed and no graph (the operator "
        "parses it from the code); auto (default): plain unless that is too large for a client-side kubectl apply",
    )
    p.add_argument("-o", "--output", default=None, metavar="PATH", help="write to PATH instead of stdout")
    p.set_defaults(func=cmd_compile)


def cmd_compile(args: argparse.Namespace) -> int:
    from barque.errors import BarqueError

    if args.store_secret and not args.store:
        raise BarqueError("--store-secret needs --store", hint="name the store too, e.g. --store s3://bucket/prefix")
    manifest = compile_manifest(
        args.files,
        name=args.name,
        namespace=args.namespace,
        image=args.image,
        store=args.store,
        store_secret=args.store_secret,
        schedule=args.schedule,
        concurrency_policy=args.concurrency_policy,
        form=args.form,
    )
    packed = "graph" not in manifest["spec"]
    if packed and args.form == "auto":
        print("barque: note: packed the Pipeline, as it is past the 256 KiB of a client-side `kubectl apply` as text: "
              "the code gzip-compressed in spec.code.inline.filesGzip and no spec.graph (the operator parses it from "
              "the code); --form plain keeps it as text", file=sys.stderr)
    for warning in size_warnings(json_size(manifest), packed):
        print(f"barque: warning: {warning}", file=sys.stderr)
    text = to_yaml(manifest)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def compile_to_yaml(files: Sequence[str], **options: Any) -> str:
    """The manifest for ``files`` as YAML text (see ``build_manifest`` for ``options``)."""
    return to_yaml(compile_manifest(files, **options))


def compile_manifest(files: Sequence[str], **options: Any) -> dict[str, Any]:
    """The Pipeline manifest for ``files`` (see ``build_manifest`` for ``options``)."""
    from barque.parsing import parse_project
    from barque.parsing.files import expand_paths, relative_to_root

    graph = parse_project(list(files))
    root = Path(graph.root)
    sources = read_sources(root, graph.files)
    # The files the parse started from, as parse_project resolved them: the operator parses a
    # packed Pipeline's graph from these, so it must start where this parse did.
    given = [relative_to_root(path, root) for path in expand_paths(list(files))]
    return build_manifest(graph.to_dict(), sources, pipeline_files=given, **options)


def size_warnings(size: int, packed: bool = False) -> list[str]:
    """What a Pipeline of ``size`` bytes (compact JSON, as the API server stores it) meets when
    applied to a cluster with Kubernetes' default limits (``packed``: it is in the packed form)."""
    way_out = "" if packed else "; `--form packed` (or auto, the default) makes it a fraction of that"
    if size > ETCD_OBJECT_LIMIT:
        carried = "every file's code, compressed" if packed else "every file's code and the whole graph"
        return [f"the Pipeline is {size / 2**20:.1f} MiB, over the 1.5 MiB etcd stores per object by default: "
                "the API server will refuse it (RequestEntityTooLarge) unless etcd's --max-request-bytes is "
                f"raised; the Pipeline carries {carried}{way_out}"]
    if size > APPLY_ANNOTATION_LIMIT:
        return [f"the Pipeline is {size // 1024} KiB, over the 256 KiB a client-side `kubectl apply` keeps in its "
                f"last-applied annotation: apply it with `kubectl apply --server-side`{way_out}"]
    return []


def read_sources(root: Path, files: Any) -> dict[str, str]:
    """Every parsed file's text, by its path relative to the project root, in path order."""
    from barque.errors import BarqueError

    out = {}
    for rel in sorted(files):
        try:
            out[rel] = (root / rel).read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise BarqueError(f"not UTF-8 text ({e.reason} at byte {e.start})", where=rel,
                              hint="inline code must be UTF-8; save the file as UTF-8") from None
    return out


def build_manifest(
    graph: dict[str, Any],
    sources: dict[str, str],
    *,
    name: str,
    namespace: str | None = None,
    image: str | None = None,
    store: str | None = None,
    store_secret: str | None = None,
    schedule: str | None = None,
    concurrency_policy: str | None = None,
    pipeline_files: Sequence[str] | None = None,
    form: str = "auto",
) -> dict[str, Any]:
    """The ``Pipeline`` object as a plain dict, validated by the operator's model.

    Pure. Only what was given is written (``exclude_unset``), so the manifest does not
    freeze today's defaults of fields the user never chose; the CRD's defaults apply.
    The graph's root becomes ``.``: the compiling machine's folder means nothing in a pod.

    ``form`` (see ``pack``): ``plain`` carries the graph and the code as text, readable in a
    Git diff; ``packed`` carries the code gzip-compressed, ``pipeline_files`` (the files the
    graph was parsed from, root-relative) and no graph; ``auto`` is plain unless plain is past
    the 256 KiB a client-side ``kubectl apply`` can copy into its annotation (or no
    ``pipeline_files`` were given: only plain can be built then).
    """
    from barque.errors import BarqueError

    try:
        from barque_operator import models as m
        from pydantic import ValidationError
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise BarqueError(f"barque compile needs the operator extra ({e.name} is missing)",
                          hint="pip install 'barque[operator]'") from None

    if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
        raise BarqueError(f"invalid Pipeline name {name!r}", where="--name",
                          hint="use lowercase letters, digits and '-', e.g. 'daily-etl'")
    spec: dict[str, Any] = {
        "graph": {**graph, "root": "."},
        "code": {"inline": {"files": dict(sorted(sources.items()))}},
    }
    if image:
        spec["defaults"] = {"image": image}
    if store:
        spec["store"] = {"uri": store, **({"secretName": store_secret} if store_secret else {})}
    if schedule:
        spec["schedule"] = {"cron": schedule}
    elif (derived := schedule_from_nodes(graph)) is not None:
        spec["schedule"] = derived
    if concurrency_policy:
        if "schedule" not in spec:
            raise BarqueError("--concurrency-policy needs a schedule", where="--concurrency-policy",
                              hint='pass --schedule CRON, or give a node freshness=Schedule("CRON")')
        spec["schedule"]["concurrencyPolicy"] = concurrency_policy
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    try:
        pipeline = m.Pipeline.model_validate({"apiVersion": m.API_VERSION, "kind": "Pipeline", "metadata": meta, "spec": spec})
    except ValidationError as e:
        raise BarqueError(f"the compiled Pipeline is invalid:\n{_errors(e)}",
                          hint="check --image, --store, --schedule and the pipeline's decorator arguments") from None
    plain = pipeline.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
    if form == "plain" or form == "auto" and (not pipeline_files or json_size(plain) <= APPLY_ANNOTATION_LIMIT):
        return plain
    if not pipeline_files:
        raise BarqueError("a packed Pipeline needs the pipeline files its graph was parsed from", where="--form",
                          hint="compile with `barque compile FILE...`, or pass --form plain")
    return pack(plain, pipeline_files)


def pack(plain: dict[str, Any], pipeline_files: Sequence[str]) -> dict[str, Any]:
    """The packed form of a plain manifest: no ``spec.graph``, the inline code as ``filesGzip``.

    Why not the graph gzip-compressed instead: about 64 of a node's 340 bytes are its code hash,
    which does not compress, so a 10,000-node graph stays over 256 KiB however it is packed,
    while the code it was parsed from packs into a tenth of that; the operator parses the graph
    from the code (``barque_operator.inlinegraph``), statically, as this command did.
    """
    from barque_operator.models import pack_files

    spec = {k: v for k, v in plain["spec"].items() if k != "graph"}
    files = spec["code"]["inline"]["files"]
    spec["code"] = {**spec["code"], "inline": {"filesGzip": pack_files(files), "pipelineFiles": sorted(pipeline_files)}}
    return {**plain, "spec": spec}


def json_size(obj: Any) -> int:
    """Bytes of ``obj`` as compact JSON: what the API server stores and kubectl's annotation copies."""
    import json

    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def schedule_from_nodes(graph: dict[str, Any]) -> dict[str, Any] | None:
    """The ``spec.schedule`` that nodes with ``freshness=Schedule(cron, ...)`` ask for, if any.

    A Pipeline carries one schedule, so the scheduled nodes must agree on their cron and
    options. ``maxFailures`` is barca's default (5) when no node writes it; ``timeoutSeconds``
    is rounded up to whole seconds (a PipelineRun's unit); ``batch`` is each tick's
    ``spec.batch``, checked against the graph now so that no tick fails on it.
    """
    from barque.batchflag import apply_batch_flags, parse_batch_flags
    from barque.errors import BarqueError
    from barque.model import Graph

    by_schedule: dict[tuple[str, int, Any, tuple[str, ...]], list[str]] = {}
    for node in graph.get("nodes", ()):
        fresh = node.get("freshness") or {}
        if fresh.get("kind") != "schedule" or not fresh.get("cron"):
            continue
        timeout = fresh.get("timeout_seconds")
        key = (fresh["cron"], fresh.get("max_failures") or 5, math.ceil(timeout) if timeout else None, tuple(fresh.get("batch") or ()))
        by_schedule.setdefault(key, []).append(node["id"])
    if not by_schedule:
        return None
    if len(by_schedule) > 1:
        listed = "; ".join(f"{_shown(key)}: {', '.join(ids)}" for key, ids in sorted(by_schedule.items(), key=str))
        raise BarqueError(
            f"nodes ask for {len(by_schedule)} different schedules ({listed}), and a Pipeline has one",
            hint="compile one Pipeline per schedule (pass the files or targets of each), or set one with --schedule CRON",
        )
    (cron, max_failures, timeout, batch), ids = next(iter(by_schedule.items()))
    if batch:
        try:
            apply_batch_flags(Graph.from_dict(graph), parse_batch_flags(batch, "Schedule(batch=)"), "Schedule(batch=)")
        except BarqueError as err:
            raise BarqueError(err.message, where=", ".join(sorted(ids)), hint=err.hint) from None
    return {"cron": cron, "targets": sorted(ids), "maxFailures": max_failures,
            **({"timeoutSeconds": timeout} if timeout else {}), **({"batch": list(batch)} if batch else {})}


def _shown(key: tuple[str, int, Any, tuple[str, ...]]) -> str:
    cron, max_failures, timeout, batch = key
    return (f"Schedule({cron!r}, max_failures={max_failures}" + (f", timeout_seconds={timeout}" if timeout else "")
            + (f", batch={list(batch)}" if batch else "") + ")")


def _errors(e: Any) -> str:
    """One line per problem, named by the flag a person typed where there is one."""
    flags = {"schedule": "--schedule", "store": "--store/--store-secret", "defaults": "--image"}
    lines = []
    for err in e.errors():
        loc = [str(p) for p in err["loc"]]
        where = flags.get(loc[1], "") if len(loc) > 1 and loc[0] == "spec" else ""
        lines.append(f"  {'.'.join(loc)}{f' ({where})' if where else ''}: {err['msg']}")
    return "\n".join(lines)


def to_yaml(obj: Any) -> str:
    """Block YAML with sorted keys; multi-line strings (the code) as literal blocks, so diffs read well."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)
