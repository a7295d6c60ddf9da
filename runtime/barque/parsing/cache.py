"""The parse cache: an unchanged project is read back, not parsed again.

A parse is a pure function of what it looked at: the root, the pipeline files named or found,
the bytes of every file it read, the answers the module finder got from the file system
("is ``pkg/__init__.py`` a file?", "is ``lib`` a directory?"), whether code hashes and static
warnings were asked for, the parser's own code and the Python version. An entry is found by a
key over what is known before parsing (root, files, hashes, warnings; the parser and Python)
and is served only when the rest still hold: every file it read hashes (sha256 of its bytes,
never its mtime) to what it did, and every probe gets the same answer. Anything else is a
miss: the project is parsed afresh and the entry rewritten.

An entry is plain data in JSON, never pickle, so reading one runs no code. The graph in it is
written and read by ``barque.parsing.codec``, which follows the model's own fields: a new field
is cached with no edit here, and a value the codec cannot carry exactly means no entry, never
one without it. A torn or corrupt entry fails its digest (the sha256 of its body, in its first
line) and is ignored; with ``BARQUE_STORE_KEY`` set the first line carries an HMAC-SHA256
under it instead, so whoever can write the cache folder but lacks the key cannot make a run
believe other code hashes (which would serve another code's stored values). Entries are
written atomically (a temp file renamed over the entry) and never fsynced: a lost or torn
entry is only a miss.

Entries live in ``<root>/.barque/parse/``, one per (files, hashes, warnings) request,
rewritten in place, and only when ``<root>/.barque`` is already there (the default store
makes it on its first write): the cache never creates a folder in a project, so a run with
``--store`` elsewhere, or ``barque list`` in a fresh checkout, leaves the project as it was.
A folder that cannot be written (a read-only checkout, a pod) just means no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from barque import seal
from barque.model import Graph
from barque.parsing import codec
from barque.parsing.files import probes_hold
from barque.store.base import TEMP_MARK

FORMAT = 2
FOLDER = os.path.join(".barque", "parse")
_HERE = os.path.dirname(os.path.abspath(__file__))
_MODEL = os.path.join(os.path.dirname(_HERE), "model.py")
_code_digest: str | None = None
# The probes behind each graph this process parsed or served, by request: what a run
# certificate (``barque_runtime.certify``) must check besides the files' hashes.
_probes_seen: dict[tuple[str, tuple[str, ...], bool, bool], list[tuple[str, str, bool]]] = {}


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


def entry_path(root: Path, rels: Sequence[str], hashes: bool, warnings: bool) -> Path:
    """Where the entry for parsing ``rels`` under ``root`` lives."""
    request = "\0".join([str(FORMAT), parser_digest(), str(root), str(hashes), str(warnings), *rels])
    return root / FOLDER / (hashlib.sha256(request.encode(errors="surrogateescape")).hexdigest()[:32] + ".json")


def load(root: Path, rels: Sequence[str], hashes: bool, warnings: bool) -> Graph | None:
    """The cached graph for this request when its entry is sound and everything it read is unchanged."""
    if not os.path.isdir(root / FOLDER):  # no entry at all (a first run): spare the parser digest and the codec
        return None
    graph_codec = _graph_codec()
    if graph_codec is None:
        return None
    try:
        with open(entry_path(root, rels, hashes, warnings), "rb") as f:
            data = f.read()
    except OSError:
        return None
    body = _authentic_body(data)
    if body is None:
        return None
    try:
        doc = json.loads(body)
        if (doc["format"] != FORMAT or doc["root"] != str(root) or doc["rels"] != list(rels) or doc["hashes"] is not hashes
                or doc["warnings"] is not warnings):
            return None
        probes = doc["probes"]
        if not all(isinstance(p, list) and len(p) == 3 and p[0] in ("f", "d") and isinstance(p[1], str) and isinstance(p[2], bool) for p in probes):
            return None
        graph: Graph = graph_codec.decode(doc["graph"])
        if graph.root != str(root) or not _files_hold(root, graph.files) or not probes_hold(root, probes):
            return None
        _probes_seen[(str(root), tuple(rels), hashes, warnings)] = [(p[0], p[1], p[2]) for p in probes]
        return graph
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # not what this module writes (codec.Malformed is a ValueError): a miss, rewritten after the parse


def save(root: Path, rels: Sequence[str], hashes: bool, warnings: bool, graph: Graph, probes: list[tuple[str, str, bool]]) -> None:
    """Write the entry for this request (best effort: a folder that cannot be written means no
    cache). A graph holding a value the codec cannot carry exactly is not written at all."""
    _probes_seen[(str(root), tuple(rels), hashes, warnings)] = list(probes)
    if not (root / FOLDER).parent.is_dir():
        return  # no store folder yet (a project's first run): build no codec for nothing
    graph_codec = _graph_codec()
    if graph_codec is None:
        return
    try:
        doc = {
            "format": FORMAT,
            "root": str(root),
            "rels": list(rels),
            "hashes": hashes,
            "warnings": warnings,
            "probes": [list(p) for p in probes],
            "graph": graph_codec.encode(graph),
        }
        body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    except (codec.Unsupported, ValueError):
        return  # refused, never stored with a value dropped or changed
    path = entry_path(root, rels, hashes, warnings)
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


def probes_seen(root: Path, rels: Sequence[str], hashes: bool, warnings: bool) -> list[tuple[str, str, bool]] | None:
    """The module finder's probes behind the graph this process last parsed or served for this
    request (``None`` when it made none): with the files' hashes, everything that parse read."""
    return _probes_seen.get((str(root), tuple(rels), hashes, warnings))


def _seal(body: bytes) -> bytes:
    return seal.seal(body, seal.configured_key())


def _authentic_body(data: bytes) -> bytes | None:
    """The body of an entry whose first line seals it as this process would; else ``None``."""
    return seal.unseal(data, seal.configured_key())


def _files_hold(root: Path, files: Mapping[str, str]) -> bool:
    for rel, digest in files.items():
        try:
            data = (root / rel).read_bytes()
        except OSError:
            return False
        if hashlib.sha256(data).hexdigest() != digest:
            return False
    return True


def _graph_codec() -> codec.Codec | None:
    """The codec of ``Graph``, built from the model's own fields; ``None`` (no cache) if the
    model holds a type the codec cannot carry (tests/unit/barque/test_parse_codec.py fails then)."""
    try:
        return codec.codec_for(Graph)
    except codec.Unsupported:
        return None
