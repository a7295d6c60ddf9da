"""The ``barque.dev/v1alpha1`` custom resources, defined once as pydantic models.

``crdgen`` turns these models into the CRD YAML under ``crds/`` (and the chart's copy), so
the schema the API server enforces and the objects the operator reads and writes come from
one place. Constraints are written so the API server can check them itself: patterns,
enums, required fields, bounds, and a few CEL rules (``x-kubernetes-validations``).

Two conventions keep the schema honest:

- Spec models forbid unknown fields (``extra="forbid"``): the API server silently prunes
  fields its schema does not know, so a typo caught here is one a user would otherwise
  never see.
- Status models forbid unknown fields too, and tests validate everything ``status.py``
  produces against them: a status field missing from the schema would be dropped by the
  API server without an error (kopf issues #308, #574).

The graph inside ``Pipeline.spec.graph`` is the dict form of ``barque.model.Graph``
(``Graph.to_dict()``), so its keys stay snake_case; a unit test keeps these models' fields
equal to the dataclasses' fields, because a field missing here would be pruned.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "barque.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PARAM_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Five cron fields, or one of the @-macros; schedule.py checks the values themselves.
CRON = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+(\s+\S+){4})$"
STORE_URI = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file://.+|memory://.+|/.+)$"
RFC3339 = {"format": "date-time"}

SubdomainName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
LabelName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
Timestamp = Annotated[str, Field(json_schema_extra=RFC3339)]
Quantity = Annotated[
    int | str,
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]
Count = Annotated[int, Field(ge=0)]


class _Spec(BaseModel):
    """camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class _Snake(BaseModel):
    """The graph's own (snake_case) dict form, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid")


# -- the compiled graph (mirrors barque.model) -------------------------------------------------


class GraphInput(_Snake):
    """Function parameter ``param`` receives node ``source``'s output."""

    param: str = Field(min_length=1)
    source: str = Field(min_length=1)
    collect: bool = False


class GraphPartition(_Snake):
    """One partition dimension: static values, an expression, or keys from another node."""

    dimension: str = Field(min_length=1)
    kind: Literal["static", "expr", "from"]
    values: list[str] | None = None
    expr: str | None = None
    source: str | None = None


class GraphFreshness(_Snake):
    """When the node re-runs."""

    kind: Literal["always", "manual", "schedule"] = "always"
    cron: str | None = None
    max_failures: int | None = Field(default=None, ge=1)
    timeout_seconds: float | None = Field(default=None, gt=0)
    batch: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(default=None, max_length=1000)


class GraphSink(_Snake):
    """An extra copy of the output written to a path or s3:// URI."""

    path: str = Field(min_length=1)
    serializer: str | None = None
    partition_by: list[str] = Field(default_factory=list)
    rows_per_file: int | None = Field(default=None, ge=1)


class GraphBatch(_Snake):
    """``batch=``: how a partitioned node's keys that run share calls (``barque.model.BatchSpec``)."""

    kind: Literal["size", "all", "groups", "groups_expr", "by"]
    size: int | None = Field(default=None, ge=1)
    groups: list[list[str]] | None = None
    strict: bool = False
    expr: str | None = None
    max_size: int | None = Field(default=None, ge=1)


class GraphNode(_Snake):
    """One node as read statically by ``barque compile``."""

    id: str = Field(min_length=1)
    kind: Literal["asset", "task", "sensor"]
    file: str = Field(min_length=1)
    module: str = Field(min_length=1)
    function: str = Field(min_length=1)
    line: int = Field(ge=0)
    inputs: list[GraphInput] = Field(default_factory=list)
    partitions: list[GraphPartition] = Field(default_factory=list)
    serializer: str | None = None
    freshness: GraphFreshness = Field(default_factory=GraphFreshness)
    retries: int = Field(default=1, ge=0, le=100)
    retry_backoff: float = Field(default=0.0, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0)
    env: list[str] = Field(default_factory=list)
    sinks: list[GraphSink] = Field(default_factory=list)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    code_hash: str = ""
    helpers: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(default_factory=list)
    params: list[str] = Field(default_factory=list)
    weight: int = Field(default=1, ge=1)
    cutoff: bool = False
    deterministic: bool = True
    batch: GraphBatch | None = None
    readers: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(default_factory=list)
    run_if: str | None = Field(default=None, description="A condition on the node's inputs (a lambda's source): false ends the step filtered")
    on: Literal["failure", "success", "always"] | None = Field(
        default=None, description="A run hook: run as the run's last Job after a run that failed, succeeded, or either."
    )


class GraphSpec(_Snake):
    """``barque.model.Graph.to_dict()``: the project root, file hashes and nodes."""

    root: str = "."
    files: dict[str, str] = Field(default_factory=dict)
    nodes: list[GraphNode] = Field(min_length=1)


# -- Pipeline ------------------------------------------------------------------------------------


# The most a ``filesGzip`` may inflate to: the API server stores at most 1.5 MiB per object and
# gzip inflates up to about a thousandfold, so without a bound a small object could take the
# operator's memory (a 10,000-step pipeline's code is 0.5 to 1.2 MiB).
INLINE_FILES_MAX_BYTES = 32 * 2**20


def pack_files(files: Mapping[str, str]) -> str:
    """``files`` as ``filesGzip``: base64 of the gzip of their JSON (sorted keys, no timestamp,
    so the same files always give the same text and a Git diff stays empty)."""
    data = json.dumps(dict(files), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


def unpack_files(text: str, limit: int = INLINE_FILES_MAX_BYTES) -> Any:
    """The JSON that ``pack_files`` packed, inflating at most ``limit`` bytes (``ValueError`` past
    it, and on anything that is not base64 of gzip of JSON). Its shape is left to the model."""
    try:
        raw = base64.b64decode(text, validate=True)
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        data = inflater.decompress(raw, limit)
        if inflater.unconsumed_tail:
            raise ValueError(f"inflates to more than {limit // 2**20} MiB")
        if not inflater.eof:
            raise ValueError("is cut short (the gzip stream does not end)")
        return json.loads(data.decode("utf-8"))
    except (binascii.Error, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"is not base64 of gzip-compressed JSON ({err})") from None


def _safe_path(rel: str) -> bool:
    """A '/'-separated relative path without empty, '.' or '..' parts: the operator writes inline
    files to a folder to parse them, and a Pod writes them to import them."""
    return bool(rel) and "\\" not in rel and all(part not in ("", ".", "..") for part in rel.split("/"))


def _files_or_packed(schema: dict[str, Any]) -> None:
    """The CRD's view of ``InlineCode``: ``files`` is required once read (the model unpacks
    ``filesGzip`` into it), but the object the API server sees holds one of the two."""
    schema["required"] = [k for k in schema.get("required", ()) if k != "files"]
    if not schema["required"]:
        del schema["required"]
    schema["x-kubernetes-validations"] = [
        {"rule": "has(self.files) != has(self.filesGzip)", "message": "set exactly one of files and filesGzip"},
    ]


class InlineCode(_Spec):
    """The project's source files by path relative to the project root: as text, or packed."""

    # ``filesGzip`` (what ``barque compile`` writes for a large pipeline) is unpacked into
    # ``files`` before validation, so both forms meet the same checks, with the same messages,
    # and once read are the same object.

    model_config = ConfigDict(json_schema_extra=lambda schema: _files_or_packed(schema))

    files: dict[str, str] = Field(min_length=1)
    files_gzip: str | None = Field(
        default=None, min_length=1,
        description="The files as base64 of gzip-compressed JSON (path -> text), instead of files: a large "
        "pipeline's code is small enough this way for a client-side kubectl apply. barque compile writes it.",
    )
    pipeline_files: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, min_length=1,
        description="The pipeline files (as barque compile was given them) that the operator parses the graph "
        "from when the Pipeline carries no spec.graph.",
    )

    @model_validator(mode="before")
    @classmethod
    def _unpack(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "filesGzip" not in data and "files_gzip" not in data:
            return data
        rest = {k: v for k, v in data.items() if k not in ("filesGzip", "files_gzip")}
        if "files" in rest:
            raise ValueError("set exactly one of files and filesGzip")
        packed = data.get("filesGzip", data.get("files_gzip"))
        if not isinstance(packed, str):
            raise ValueError("filesGzip must be a string (base64)")
        try:
            return {**rest, "files": unpack_files(packed)}
        except ValueError as err:
            raise ValueError(f"filesGzip {err}") from None

    @model_validator(mode="after")
    def _paths(self) -> "InlineCode":
        unsafe = sorted(rel for rel in self.files if not _safe_path(rel))
        if unsafe:
            raise ValueError(f"file paths must be relative, '/'-separated, without '.' or '..' parts: {unsafe[:5]}")
        missing = sorted(set(self.pipeline_files or ()) - set(self.files))
        if missing:
            raise ValueError(f"pipelineFiles names files that are not inline: {missing[:5]}")
        return self


class CodeSource(_Spec):
    """Where the pipeline's code comes from: inline files, or an image that already holds it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.inline) != has(self.image)", "message": "set exactly one of code.inline and code.image"},
                {"rule": "!has(self.image) || has(self.path)", "message": "code.path is required with code.image"},
            ]
        }
    )

    inline: InlineCode | None = None
    image: str | None = Field(default=None, min_length=1)
    path: str | None = Field(default=None, min_length=1, description="The project root inside code.image.")

    @model_validator(mode="after")
    def _one_source(self) -> "CodeSource":
        if (self.inline is None) == (self.image is None):
            raise ValueError("set exactly one of code.inline and code.image")
        if self.image is not None and not self.path:
            raise ValueError("code.path is required with code.image")
        return self


class Resources(_Spec):
    """Container resource requests and limits (Kubernetes quantities)."""

    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class Toleration(_Spec):
    """A Pod toleration, as in the Pod spec."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


FailurePolicy = Literal["Continue", "FailFast"]


class Defaults(_Spec):
    """What every step Pod of this pipeline gets unless a run overrides it."""

    image: str | None = Field(default=None, min_length=1, description="Runtime image; the operator's --default-image when unset.")
    resources: Resources | None = None
    parallelism: int = Field(default=4, ge=1, le=1000, description="At most this many streams (Pods) of a phase run at once.")
    retries: int = Field(
        default=1, ge=0, le=10,
        description="Pod-level retries per stream for infrastructure failures (backoffLimitPerIndex); "
        "user-code retries are the node's own `retries`.",
    )
    timeout_seconds: int | None = Field(default=None, ge=1, description="Default run timeout; a run's timeoutSeconds wins.")
    failure_policy: FailurePolicy = Field(
        default="Continue", description="Continue: independent streams finish after a failure; FailFast: nothing more starts "
        "and running Jobs are stopped. A run's failurePolicy wins.",
    )
    service_account_name: LabelName | None = None
    env: dict[str, str] | None = Field(
        default=None, max_length=256,
        description="Environment variables for step Pods; the values of variables a node declares (env=) also enter its cache key.",
    )
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None


class StoreSpec(_Spec):
    """The artifact store and the Secret holding its credentials (AWS_* keys, loaded with envFrom)."""

    uri: str = Field(pattern=STORE_URI, max_length=1024)
    secret_name: SubdomainName | None = None


class Schedule(_Spec):
    """Create a PipelineRun on a cron schedule (UTC)."""

    cron: str = Field(pattern=CRON, max_length=256)
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Allow"
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    successful_runs_history_limit: int = Field(default=3, ge=0, le=1000)
    failed_runs_history_limit: int = Field(default=1, ge=0, le=1000)
    suspend: bool = False
    targets: list[Annotated[str, Field(min_length=1)]] | None = None
    params: dict[str, str] | None = None
    max_failures: int | None = Field(
        default=None, ge=1, le=1000,
        description="After this many scheduled runs failed in a row, ticks are skipped until the Pipeline's spec "
        "changes (a new generation). Unset: never skipped.",
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=30 * 24 * 3600, description="Each scheduled run's spec.timeoutSeconds.",
    )
    batch: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        default=None, max_length=1000, description="Each scheduled run's spec.batch (barca's Schedule(batch=)).",
    )


class PipelineSpec(_Spec):
    """A compiled pipeline: its graph, its code, and how its runs execute."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "has(self.graph) || (has(self.code.inline) && has(self.code.inline.pipelineFiles))",
                 "message": "spec.graph is required unless spec.code.inline.pipelineFiles names the files to parse it from"},
            ]
        }
    )

    graph: GraphSpec | None = Field(
        default=None,
        description="The compiled graph. Left out by barque compile for a large pipeline: the operator then parses "
        "it from spec.code.inline (pipelineFiles), as barque compile would have.",
    )
    code: CodeSource
    defaults: Defaults = Field(default_factory=Defaults)
    store: StoreSpec | None = Field(default=None, description="The operator's --default-store when unset.")
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _graph_or_its_files(self) -> "PipelineSpec":
        if self.graph is None and (self.code.inline is None or not self.code.inline.pipeline_files):
            raise ValueError("spec.graph is required unless spec.code.inline.pipelineFiles names the files to parse it from")
        return self


class Condition(_Spec):
    """A standard Kubernetes condition."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str | None = Field(default=None, max_length=1024)
    message: str | None = Field(default=None, max_length=32768)
    last_transition_time: Timestamp | None = None
    observed_generation: Count | None = None


class PipelineStatus(_Spec):
    """What the operator observed about a Pipeline: validity and schedule bookkeeping."""

    observed_generation: Count | None = None
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    nodes: Count | None = None
    last_schedule_time: Timestamp | None = None
    next_schedule_time: Timestamp | None = None
    active: list[str] | None = Field(default=None, max_length=1000, description="Scheduled runs still running.")
    consecutive_failures: Count | None = Field(default=None, description="Scheduled runs that failed in a row.")
    failures_generation: Count | None = Field(default=None, description="The spec generation consecutiveFailures counts for.")
    last_counted_run: str | None = Field(default=None, max_length=253, description="The latest finished scheduled run counted.")
    last_counted_time: Timestamp | None = Field(default=None, description="lastCountedRun's creation time.")
    kopf: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="Reserved for kopf's own bookkeeping; its shape belongs to kopf.",
    )


# -- PipelineRun ---------------------------------------------------------------------------------


class PipelineRef(_Spec):
    name: SubdomainName


class PipelineRunSpec(_Spec):
    """One execution of a Pipeline."""

    pipeline_ref: PipelineRef
    targets: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, max_length=1000, description="Node names or ids; their upstream closure runs. Default: every asset and sensor."
    )
    params: dict[str, str] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-validations": [
            {"rule": "self.all(k, k.matches('" + PARAM_NAME + "'))", "message": "parameter names must be identifiers"}
        ]},
    )
    no_cache: bool = False
    resume_from: SubdomainName | None = Field(default=None, description="An earlier PipelineRun whose succeeded steps are reused.")
    overrides: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="For tests: asset name -> a JSON value stubbed in for its output; the asset is not run, and what "
                    "reads the stub is cached under keys no real run makes.",
    )
    timeout_seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    batch: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        default=None, max_length=1000,
        description="barca's --batch for this run: none, all or N replaces batch= of every node that declares one, "
                    "NODE=V of the node named (V none, all or N); the operator fails the run on a value it cannot apply.",
    )
    failure_policy: FailurePolicy | None = Field(default=None, description="Continue or FailFast; default: the Pipeline's.")
    cancel: bool = False


RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
StepState = Literal["pending", "running", "succeeded", "cached", "failed", "crashed", "skipped", "filtered", "cancelled"]
PhaseState = Literal["Pending", "Running", "Succeeded", "Failed", "Cached", "Skipped", "Cancelled"]


class StepCounts(_Spec):
    total: Count = 0
    pending: Count = 0
    running: Count = 0
    succeeded: Count = 0
    cached: Count = 0
    failed: Count = 0
    crashed: Count = Field(default=0, description="Steps whose process died (killed by a signal, OOMKilled, a lost Pod).")
    skipped: Count = 0
    filtered: Count = 0
    cancelled: Count = 0


class PlanStream(_Spec):
    id: str
    steps: list[str]


class PlanPhase(_Spec):
    index: Count
    reason: str = Field(max_length=1024)
    stream_count: Count
    step_count: Count
    streams: list[PlanStream] | None = Field(default=None, description="Left out when the plan is large.")


class PlanDeferred(_Spec):
    node: str
    waits_for: str


class PlanSummary(_Spec):
    """The plan pinned when the run started; a large plan keeps counts here and its steps in the store."""

    total_steps: Count
    phase_count: Count
    truncated: bool = False
    store_key: str | None = None
    phases: list[PlanPhase] = Field(default_factory=list)
    deferred: list[PlanDeferred] | None = None


class PhaseStatus(_Spec):
    """One plan phase: its Job (none when nothing needed to run) and its step counts."""

    index: Count
    state: PhaseState
    job: str | None = None
    streams: Count = Field(default=0, description="Streams (Job indexes) that run; fully cached streams do not.")
    counts: StepCounts = Field(default_factory=StepCounts)
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    message: str | None = Field(default=None, max_length=4096)


class StepStatus(_Spec):
    """One step's outcome; the full record (error, logs) stays in the store."""

    id: str
    state: StepState
    phase: Count
    attempts: Count | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    duration_seconds: float | None = Field(default=None, ge=0)
    artifact: str | None = None
    message: str | None = Field(default=None, max_length=1024)


class Failure(_Spec):
    step: str
    message: str = Field(max_length=1024)


class HookStatus(_Spec):
    """How one run hook (``@task(on=...)``) went; it never changes the run's phase."""

    hook: str
    on: str | None = None
    state: Literal["succeeded", "failed", "crashed"]
    attempts: Count | None = None
    duration_seconds: float | None = None
    error: str | None = Field(default=None, max_length=1024)


class PipelineRunStatus(_Spec):
    """The record of a run, small whatever the pipeline size."""

    phase: RunPhase | None = None
    message: str | None = Field(default=None, max_length=4096)
    conditions: list[Condition] | None = Field(default=None, max_length=16)
    observed_generation: Count | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    duration: str | None = None
    progress: str | None = Field(default=None, description="Finished steps / total steps.")
    run_id: str | None = None
    store_uri: str | None = None
    image: str | None = Field(default=None, description="The runtime image of every Job of the run, pinned when it started.")
    store_secret_name: str | None = Field(
        default=None, description="The store's credentials Secret for every Job of the run, pinned when it started."
    )
    source_digest: str | None = None
    plan: PlanSummary | None = None
    phases: list[PhaseStatus] | None = Field(default=None, max_length=10000)
    counts: StepCounts | None = None
    steps: list[StepStatus] | None = Field(default=None, max_length=500)
    steps_truncated: bool | None = None
    failures: list[Failure] | None = Field(default=None, max_length=50)
    running: list[str] | None = Field(default=None, max_length=100)
    hooks: list[HookStatus] | None = Field(default=None, max_length=100, description="The run hooks its outcome called, once they ended.")
    kopf: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
        description="Reserved for kopf's own bookkeeping; its shape belongs to kopf.",
    )


# -- whole objects -------------------------------------------------------------------------------


class ObjectMeta(BaseModel):
    """The parts of metadata these models read; the rest passes through."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Pipeline(_Spec):
    api_version: Literal["barque.dev/v1alpha1"] = "barque.dev/v1alpha1"
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec
    status: PipelineStatus | None = None


class PipelineRun(_Spec):
    api_version: Literal["barque.dev/v1alpha1"] = "barque.dev/v1alpha1"
    kind: Literal["PipelineRun"] = "PipelineRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineRunSpec
    status: PipelineRunStatus | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase keys, unset optional fields left out."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")
