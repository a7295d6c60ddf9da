"""Writing a run certificate (``barque.certificate``) after a local run served wholly from cache.

The full path knows every rule, so it is the one that says what the outcome depended on: the
parse's files and probes (as the parse cache recorded them), the walk of every directory
argument, barque's own sources, the variables that key a step or change barque's behaviour,
each step's commit record and blob (checked by content up to ``artifacts.HASH_CHECK_BYTES``, by
size alone beyond, as the cache judges them; always by content when the summary shows its
value or it gives partition keys; a value inline in its commit record has no blob, and the
record's sha256 covers its bytes). Each file is recorded with its status and the sha256 the run
decided by, re-read here on the descriptor it was stat'ed on (a file whose bytes are no longer
those changed during the run: no certificate), so that the slim entry (``barque_cli.fastrun``)
trusts an unchanged status and hashes only a changed or racily clean file
(``barque.certificate``). The output is rendered here once, with slots for the run id and the
elapsed time, and so is the history row (``history.run_rest``): the slim entry needs neither
``json`` nor ``sqlite3``.

A run gets no certificate when anything about its outcome is decided at run time beyond those
checks, or when the shape is not one this module was written for: ``why_not`` names the first
reason (tests specify each).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any, Callable, Mapping, Sequence

from barque import artifacts, certificate
from barque.plans import Plan
from barque.parsing.entry import parse_probes
from barque.parsing.files import walks_into
from barque.serializers import JSON
from barque.stepinputs import key_sources
from barque.store.base import TEMP_MARK
from barque.store.local import LocalStore
from barque_runtime.history import location, run_rest
from barque_runtime.local import LocalRun

# Variables that change what barque does whatever the plan says: every one of these prefixes.
ENV_PREFIXES = ("BARQUE_", "BARCA_")
# Past this many entries the walks to check would cost more than the run they save.
MAX_WALKED = 2_000
# A file system stamps changes with a coarse clock (a few ms behind the wall clock): anything
# stamped this close to the start of the process may have changed after the run read it.
SETTLED_NS = 100_000_000
_PACKAGES = ("barque", "barque_runtime", "barque_cli")


def certify(argv: Sequence[str], cwd: str, render: Callable[[Mapping[str, Any]], str], local: LocalRun, plan: Plan | None, summary: Mapping[str, Any],
            shown: Sequence[str], history_row: Mapping[str, Any]) -> str | None:
    """Write the certificate of this run; ``None`` when written, else why not.

    ``render`` is what the command prints for a summary (``barque_cli.output.render`` in its
    mode); ``shown`` are the nodes whose values the summary prints; ``history_row`` is what the run
    added to the history (``targets``, ``files``, ``steps``), ``{}`` when it could not."""
    reason = why_not(local, plan, summary, shown, history_row)
    if reason is not None:
        return reason
    assert plan is not None and isinstance(local.store, LocalStore)
    found = parse_probes(local.options.files, hashes=True, warnings=True)
    if found is None or found[0] != local.root:
        return "the parse left no probes"
    root, probes = found
    output = _output(summary, render)
    if output is None:
        return "the output cannot be told apart from its run id and time"
    draft = certificate.Draft(certificate.path_in(root, argv, cwd), TEMP_MARK)  # first: its stamp precedes every record
    try:
        reason, lines = _checks(argv, local, plan, root, probes, cwd, shown, draft)
        if reason is not None:
            return reason
        folder = str(location(local.store_uri, local.root))
        rest = run_rest({**summary, "targets": history_row["targets"]}, history_row["files"], history_row["steps"])
        lines += [certificate.line("output", *output), certificate.line("history", folder, rest),
                  certificate.line("steps", str(len(history_row["steps"])))]
        draft.commit(lines)
        return None
    finally:
        draft.abandon()  # nothing once committed


def _checks(argv: Sequence[str], local: LocalRun, plan: Plan, root: str, probes: Sequence[tuple[str, str, bool]], cwd: str,
            shown: Sequence[str], draft: certificate.Draft) -> tuple[str | None, list[str]]:
    """The certificate's check lines, or why there can be none."""
    if draft.written_ns is None:
        return "the certificate folder cannot be written", []
    store = local.store
    assert isinstance(store, LocalStore)  # why_not refused any other
    walked = _walks(local.options.files, cwd)
    if walked is None:
        return "a directory argument is too large to check", []
    dirs, py_files = walked
    src_dirs, src_files = _sources()
    # What is recorded now, after the run, must be what the run saw: nothing changed meanwhile.
    # barque's own folders are left out: any Python process importing a module of theirs for the
    # first time adds a `__pycache__` to them (CI's other tiers did, mid-run), and a module that
    # appears there cannot have decided a run that did not load it (the ones it loaded are files
    # here, checked).
    if any(_changed_since_start(p) for p in [*dirs, *py_files, os.path.join(root, ".env"), *(f[0] for f in src_files)]):
        return "a file it read changed during the run", []
    # Each file with the digest the run decided by and its status now; a file whose bytes are
    # no longer those is refused: it changed during the run.
    expected: list[tuple[str, str | None]] = [(os.path.join(root, rel), digest) for rel, digest in sorted(local.spec.graph.files.items())]
    expected += [(p, None) for p in py_files]
    files: list[str] = []
    absent = [os.path.join(root, ".env")]
    key_env = sorted({n for node in local.spec.graph.nodes.values() for n in node.env})
    if key_env:  # the salt that env values are digested with enters every key that reads one
        absent.append(os.path.join(store.root, artifacts.trust.SALT_KEY))
    for path in absent:
        if os.path.lexists(path):
            expected.append((path, None))
        else:
            files.append(certificate.line("absent", path))
    valued = set(shown) | key_sources(local.spec.graph)
    for sid in sorted(plan.steps):
        rec = local.records[sid]
        ref = artifacts.ArtifactRef.from_dict(rec["artifact"])
        commit = os.path.join(store.root, artifacts.cache_record_key(str(rec["cache_key"])))
        committed = _same_commit(commit, rec)
        if committed is None:  # rewritten since the run read it (another run committed the key)
            return "a commit record changed during the run", []
        files.append(certificate.line("file", commit, *map(str, committed[0]), committed[1]))
        if ref.inline is not None:  # its bytes are in the commit record just checked
            continue
        blob = os.path.join(store.root, ref.key)
        if ref.size <= artifacts.HASH_CHECK_BYTES or rec["node"] in valued:
            expected.append((blob, ref.content_hash))
        else:  # as the cache judges a large blob: by its size
            files.append(certificate.line("size", blob, str(ref.size)))
    for path, digest in expected:
        found = certificate.fingerprint(path)
        if found is None:
            return "a file it read is gone", []
        if digest is not None and found[1] != digest:
            return "a file it read changed during the run", []
        files.append(certificate.line("file", path, *map(str, found[0]), found[1]))
    for path, status in src_files:
        if status is None:
            return "a file it read is gone", []
        files.append(certificate.line("file", path, *map(str, status), ""))  # status only (_sources)
    listings = []
    for d in [*dirs, *src_dirs]:
        entries = certificate.listing(d)
        if entries is None:
            return "a folder it walked cannot be listed", []
        listings.append(certificate.line("dir", d, *entries))
    environ = os.environ
    # A .env expands ${NAME} of any variable into the values it gives: then all of them count.
    prefixes = ("",) if key_env and os.path.lexists(os.path.join(root, ".env")) else ENV_PREFIXES
    names = {n for n in environ if n.startswith(prefixes)} | set(key_env)
    lines = [certificate.request_lines(argv, cwd), certificate.line("written", str(draft.written_ns)),
             certificate.line("until", ""),  # no local cache key reads the clock (Schedule freshness is the cluster's cron)
             certificate.line("prefixes", *prefixes)]
    lines += [certificate.line("env", n, certificate.env_digest(environ.get(n))) for n in sorted(names)]
    lines += [certificate.line("arg", a, *certificate.path_kind(a)) for a in dict.fromkeys(argv)]
    lines += [certificate.line("probe", os.path.join(root, rel), kind, "1" if answer else "0") for kind, rel, answer in probes]
    return None, lines + listings + files


def _output(summary: Mapping[str, Any], render: Callable[[Mapping[str, Any]], str]) -> list[str] | None:
    """The text the full path prints for this summary, as pieces around the slots where the
    run id and the elapsed seconds go (``certificate.Answer.text``); ``None`` when a marker
    would be ambiguous (the value shown holds one)."""
    run_id = "barque-run-id-slot-" + os.urandom(8).hex()
    elapsed = 8_191.375 + int.from_bytes(os.urandom(2), "big")  # neither of its renderings holds the other: ".375", ".38"
    text = render({**summary, "run_id": run_id, "elapsed_seconds": elapsed})
    markers = {run_id: certificate.RUN_ID_SLOT, repr(elapsed): certificate.ELAPSED_SLOT, format(elapsed, ".2f"): certificate.ELAPSED_SLOT + ".2f"}
    found = sorted((text.find(m), m) for m in markers if m in text)
    if any(text.count(m) > 1 for _, m in found) or len({markers[m].partition(":")[0] for _, m in found}) != len(found):
        return None
    pieces: list[str] = []
    at = 0
    for index, marker in found:
        if index < at:
            return None  # overlapping markers
        pieces += [text[at:index], markers[marker]]
        at = index + len(marker)
    return [*pieces, text[at:]]


def why_not(local: LocalRun, plan: Plan | None, summary: Mapping[str, Any], shown: Sequence[str],
            history_row: Mapping[str, Any]) -> str | None:
    """Why this run gets no certificate, or ``None`` when it may get one."""
    for node in local.spec.graph.nodes.values():  # the shape first: what its outcome depends on
        reason = _node_refusal(node)
        if reason is not None:
            return f"{node.id}: {reason}"
    options = local.options
    if options.store is not None or not isinstance(local.store, LocalStore):
        return "a store other than the project's .barque/"
    if not os.path.isdir(os.path.join(local.root, ".barque")):
        return "no .barque/ in the project"
    if options.no_cache or options.refresh or options.selection or options.resume_from or options.batch:
        return "an option decided at run time (--no-cache, --refresh, --partition, --resume-from, --batch)"
    if local.spec.overrides:
        return "overridden outputs"
    if plan is None or plan.deferred or plan.skipped:
        return "deferred or left-out partitions"
    if not history_row:
        return "the run is not in the history"
    if summary.get("status") != "succeeded" or summary.get("steps_executed") or summary.get("warnings") or summary.get("hooks"):
        return "not a clean run"
    for key in ("failures", "overridden", "cancelled_by"):
        if key in summary:
            return f"the summary has {key}"
    if len(local.records) != len(plan.steps) or any(local.records.get(sid, {}).get("state") != "cached" for sid in plan.steps):
        return "a step was not served from cache"
    for sid in plan.steps:
        artifact = local.records[sid].get("artifact") or {}
        if artifact.get("serializer") == artifacts.STREAM:
            return "a chunked artifact"
    if not _json_values(set(shown), local, plan):
        return "a value shown that is not JSON"
    return None


def _node_refusal(node: Any) -> str | None:
    """What about a node makes a run's outcome depend on more than the checks (``None``: nothing)."""
    if node.kind == "sensor":
        return "a sensor"
    if node.on:
        return "a run hook"
    if node.run_if:
        return "a run_if condition"
    if node.batch is not None:
        return "batch="
    if node.freshness.kind == "manual":
        return "Manual freshness"
    if any(s.path.endswith("/") for s in node.sinks):
        return "a dataset sink"
    if any(p.kind == "expr" for p in node.partitions):  # a step evaluates them (a deferred source: plan.deferred)
        return "partition keys known at run time"
    return None


def _json_values(shown: set[str], local: LocalRun, plan: Plan) -> bool:
    """Whether every value the summary shows was decoded from a JSON artifact."""
    return all((local.records[sid].get("artifact") or {}).get("serializer") == JSON for sid in plan.steps
               if plan.steps[sid].node in shown and plan.steps[sid].produces)


def _walks(files: Sequence[str], cwd: str) -> tuple[list[str], list[str]] | None:
    """The directories a walk of the directory arguments lists, and the ``.py`` files in them
    (any of which could gain a barque import); ``None`` when there are more than ``MAX_WALKED``."""
    dirs: list[str] = []
    py: list[str] = []
    for raw in files or ["."]:
        top = os.path.join(cwd, raw)
        if not os.path.isdir(top):
            continue
        for dirpath, dirnames, filenames in os.walk(os.path.realpath(top)):
            dirnames[:] = sorted(d for d in dirnames if walks_into(d))
            dirs.append(dirpath)
            py += [os.path.join(dirpath, n) for n in sorted(filenames) if n.endswith(".py")]
            if len(dirs) + len(py) > MAX_WALKED:
                return None
    return dirs, py


def _sources() -> tuple[list[str], list[tuple[str, tuple[int, int, int, int, int] | None]]]:
    """barque's own code behind this outcome: the listing of each of its package folders (a
    module appearing), and the status of every module of them this process ran (the code that
    decided it; one it never imported decided nothing). By status, not sha256: hashing its ~100
    files cost every fast run ~3 ms, a tenth of its budget (bench/FINDINGS.md)."""
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(certificate.__file__)))
    dirs: list[str] = []
    for package in _PACKAGES:
        for dirpath, dirnames, _ in os.walk(os.path.join(source_root, package)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            dirs.append(dirpath)
    ran = sorted({os.path.abspath(path) for name, module in list(sys.modules.items()) if name.split(".")[0] in _PACKAGES
                  and isinstance(path := getattr(module, "__file__", None), str) and path.endswith(".py")})
    return dirs, [(p, certificate.file_status(p)) for p in ran]


def _changed_since_start(path: str) -> bool:
    """Whether ``path`` (when it is there) changed at or after about when this process started."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return max(st.st_mtime_ns, st.st_ctime_ns) > certificate.STARTED_NS - SETTLED_NS


def _same_commit(path: str, rec: Mapping[str, Any]) -> tuple[tuple[int, int, int, int, int], str] | None:
    """The status and sha256 of the commit record file (read once) when it still names what the
    run was served; else ``None``."""
    found = certificate.read_regular(path)
    if found is None:
        return None
    try:
        doc = json.loads(found[1])
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("artifact") != rec.get("artifact") or doc.get("output_id") != rec.get("output_id"):
        return None
    return certificate.status_of(found[0]), hashlib.sha256(found[1]).hexdigest()
