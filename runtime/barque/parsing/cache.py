"""The parse cache: an unchanged project is read back, not parsed again.

A parse is a pure function of what it looked at: the root, the pipeline files named or found,
the bytes of every file it read, the answers the module finder got from the file system
("is ``pkg/__init__.py`` a file?", "is ``lib`` a directory?"), whether code hashes were asked
for, the parser's own code and the Python version. An entry is found by a key over the first
four that are known before parsing (root, files, hashes; the parser and Python) and is served
only when the rest still hold: every file it read hashes (sha256 of its bytes, never its mtime)
to what it did, and every probe gets the same answer. Anything else is a miss: the project is
parsed afresh and the entry rewritten.

An entry is plain data in JSON, never pickle, so reading one runs no code. A torn or corrupt
one fails its digest (the sha256 of its body, in its first line) and is ignored; with
``BARQUE_STORE_KEY`` set the first line carries an HMAC-SHA256 under it instead, so whoever
can write the cache folder but lacks the key cannot make a run believe other code hashes
(which would serve another code's stored values). Entries are written atomically (a temp file
renamed over the entry) and never fsynced: a lost or torn entry is only a miss.

Entries live in ``<root>/.barque/parse/``, one per (files, hashes) request, rewritten in place,
and only when ``<root>/.barque`` is already there (the default store makes it on its first
write): the cache never creates a folder in a project, so a run with ``--store`` elsewhere, or
``barque list`` in a fresh checkout, leaves the project as it was. A folder that cannot be
written (a read-only checkout, a pod) just means no cache.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from barque.model import Freshness, Graph, InputSpec, Node, PartitionSpec, SinkSpec, build_frozen
from barque.parsing.files import probes_hold
from barque.store.base import TEMP_MARK

FORMAT = 1
FOLDER = os.path.join(".barque", "parse")
_HERE = os.path.dirname(os.path.abspath(__file__))
_MODEL = os.path.join(os.path.dirname(_HERE), "model.py")
_code_digest: str | None = None


def parser_digest() -> str:
    """The sha256 of the parser's own source (this package and the model it builds), so an
    upgraded or edited barque never reads an entry an older parser wrote."""
    global _code_digest
    if _code_digest is None:
        h = hashlib.sha256(sys.version.encode())
        for path in sorted(os.path.join(_HERE, n) for n in os.listdir(_HERE) if n.endswith(".py")) + [_MODEL]:
            with open(path, "rb") as f:
                h.update(path.rpartition(os.sep)[2].encode() + b"\0" + f.read() + b"\0")
        _code_digest = h.hexdigest()
    return _code_digest


def entry_path(root: Path, rels: Sequence[str], hashes: bool) -> Path:
    """Where the entry for parsing ``rels`` under ``root`` lives."""
    request = "\0".join([str(FORMAT), parser_digest(), str(root), str(hashes), *rels])
    return root / FOLDER / (hashlib.sha256(request.encode(errors="surrogateescape")).hexdigest()[:32] + ".json")


def load(root: Path, rels: Sequence[str], hashes: bool) -> Graph | None:
    """The cached graph for this request when its entry is sound and everything it read is unchanged."""
    if not SHAPES_KNOWN:
        return None
    try:
        with open(entry_path(root, rels, hashes), "rb") as f:
            data = f.read()
    except OSError:
        return None
    body = _authentic_body(data)
    if body is None:
        return None
    try:
        doc = json.loads(body)
        if doc["format"] != FORMAT or doc["root"] != str(root) or doc["rels"] != list(rels) or doc["hashes"] is not hashes:
            return None
        probes = doc["probes"]
        if not all(isinstance(p, list) and len(p) == 3 and p[0] in ("f", "d") and isinstance(p[1], str) and isinstance(p[2], bool) for p in probes):
            return None
        files = doc["files"]
        if not _files_hold(root, files) or not probes_hold(root, probes):
            return None
        return Graph(root=str(root), nodes=_decode_nodes(doc["nodes"]), files=dict(files))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # not what this module writes: a miss, rewritten after the parse


def save(root: Path, rels: Sequence[str], hashes: bool, graph: Graph, probes: list[tuple[str, str, bool]]) -> None:
    """Write the entry for this request (best effort: a folder that cannot be written means no cache)."""
    if not SHAPES_KNOWN or not (root / FOLDER).parent.is_dir():
        return
    doc = {
        "format": FORMAT,
        "root": str(root),
        "rels": list(rels),
        "hashes": hashes,
        "files": dict(graph.files),
        "probes": [list(p) for p in probes],
        "nodes": [_encode_node(n) for n in graph.nodes.values()],
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    path = entry_path(root, rels, hashes)
    # TEMP_MARK: a killed writer's leftover is swept with the default store's own temp files
    tmp = path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(_seal(body) + b"\n" + body)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def _seal(body: bytes) -> bytes:
    key = _key()
    if key is None:
        return b"sha256:" + hashlib.sha256(body).hexdigest().encode()
    return b"hmac-sha256:" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def _authentic_body(data: bytes) -> bytes | None:
    """The body of an entry whose first line seals it as this process would; else ``None``."""
    seal, sep, body = data.partition(b"\n")
    if not sep:
        return None
    return body if hmac.compare_digest(seal, _seal(body)) else None


def _key() -> bytes | None:
    from barque.trust import configured_key

    return configured_key()


def _files_hold(root: Path, files: dict[str, str]) -> bool:
    for rel, digest in files.items():
        try:
            data = (root / rel).read_bytes()
        except OSError:
            return False
        if hashlib.sha256(data).hexdigest() != digest:
            return False
    return True


_NODE_FIELDS: tuple[str, ...] = tuple(Node.__dataclass_fields__)
_FRESHNESS_FIELDS: tuple[str, ...] = tuple(Freshness.__dataclass_fields__)
# Node as a list of its fields, in the model's order; nested records as lists of theirs.
_NESTED: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "inputs": (lambda v: [[i.param, i.source, i.collect] for i in v],
               lambda v: tuple(build_frozen(InputSpec, {"param": p, "source": s, "collect": c}) for p, s, c in v)),
    "partitions": (lambda v: [[p.dimension, p.kind, None if p.values is None else list(p.values), p.expr, p.source] for p in v],
                   lambda v: tuple(build_frozen(PartitionSpec, {"dimension": d, "kind": k, "values": None if vs is None else tuple(vs), "expr": e, "source": s})
                                   for d, k, vs, e, s in v)),
    "freshness": (lambda f: [f.kind, f.cron, f.max_failures, f.timeout_seconds, f.batch],
                  lambda v: build_frozen(Freshness, dict(zip(_FRESHNESS_FIELDS, v, strict=True)))),
    "env": (list, tuple),
    "sinks": (lambda v: [[s.path, s.serializer] for s in v], lambda v: tuple(build_frozen(SinkSpec, {"path": p, "serializer": s}) for p, s in v)),
    "tags": (list, tuple),
    "helpers": (lambda v: [list(h) for h in v], lambda v: tuple((a, b) for a, b in v)),
    "params": (list, tuple),
}
# The encoding spells out the model's records; should one gain or change a field, the cache
# turns itself off (and tests/unit/barque/test_parse_cache.py fails) rather than drop it.
SHAPES_KNOWN = (
    _NODE_FIELDS == ("id", "kind", "file", "module", "function", "line", "inputs", "partitions", "serializer", "freshness", "retries",
                     "retry_backoff", "timeout_seconds", "env", "sinks", "description", "tags", "code_hash", "helpers", "params")
    and _FRESHNESS_FIELDS == ("kind", "cron", "max_failures", "timeout_seconds", "batch")
    and tuple(InputSpec.__dataclass_fields__) == ("param", "source", "collect")
    and tuple(PartitionSpec.__dataclass_fields__) == ("dimension", "kind", "values", "expr", "source")
    and tuple(SinkSpec.__dataclass_fields__) == ("path", "serializer")
)


def _encode_node(node: Node) -> list[Any]:
    return [_NESTED[f][0](getattr(node, f)) if f in _NESTED else getattr(node, f) for f in _NODE_FIELDS]


def _decode_nodes(rows: list[list[Any]]) -> dict[str, Node]:
    # Spelled out rather than driven by _NESTED: this loop is most of a cached 10,000-node plan.
    nodes: dict[str, Node] = {}
    freshness: dict[tuple[Any, ...], Freshness] = {}  # frozen and compared by value: one per distinct value
    new, node_cls = object.__new__, Node
    for (nid, kind, file, module, function, line, inputs, partitions, serializer, fresh, retries, backoff, timeout, env, sinks,
         description, tags, code_hash, helpers, params) in rows:
        fkey = tuple(fresh)
        found = freshness.get(fkey)
        if found is None:
            found = freshness[fkey] = _NESTED["freshness"][1](fresh)
        node = new(node_cls)
        node.__dict__.update({
            "id": nid, "kind": kind, "file": file, "module": module, "function": function, "line": line,
            "inputs": _NESTED["inputs"][1](inputs) if inputs else (),
            "partitions": _NESTED["partitions"][1](partitions) if partitions else (),
            "serializer": serializer, "freshness": found, "retries": retries, "retry_backoff": backoff, "timeout_seconds": timeout,
            "env": tuple(env), "sinks": _NESTED["sinks"][1](sinks) if sinks else (), "description": description, "tags": tuple(tags),
            "code_hash": code_hash, "helpers": tuple((a, b) for a, b in helpers) if helpers else (), "params": tuple(params),
        })
        nodes[nid] = node
    return nodes
