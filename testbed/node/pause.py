"""The pod sandbox image, written as a docker-archive without any container tool.

No registry is reachable, so registry.k8s.io/pause is replaced by the test bed's own static
pause program (testbed/go/pause) in a one-layer image FROM scratch. The archive is what
`ctr images import` reads; its bytes depend only on the binary, so its tag is the binary's hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    return info, data


def pause_ref(binary: Path) -> str:
    return f"localhost/barque-pause:{hashlib.sha256(binary.read_bytes()).hexdigest()[:12]}"


def write_pause_archive(binary: Path, archive: Path) -> str:
    """Write the image to archive (if it is not there yet) and return its reference."""
    ref = pause_ref(binary)
    if archive.exists():
        return ref
    layer = _tar_bytes([_file("pause", binary.read_bytes(), 0o755)])
    layer_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "testbed/node/pause.py"}],
    }, sort_keys=True).encode()
    config_id = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_id}.json", "RepoTags": [ref],
                            "Layers": [f"{layer_id}/layer.tar"]}]).encode()
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".tmp")
    tmp.write_bytes(_tar_bytes([_file(f"{config_id}.json", config), _file(f"{layer_id}/layer.tar", layer),
                                _file("manifest.json", manifest)]))
    tmp.rename(archive)
    return ref
