"""The barque images the test bed builds from the project's Dockerfile (testbed/images.sh).

images.sh is the one place that knows how they are built and where they are cached; this
module runs it (a warm run only hashes the inputs) and reads its `image <target> <ref> <archive>`
and `containers-conf <path>` lines, so fixtures never compute a tag or a path themselves.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .paths import TESTBED_DIR

IMAGES_SCRIPT = TESTBED_DIR / "images.sh"
TARGETS = ("runtime", "operator")


class ImageBuildError(RuntimeError):
    """images.sh failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class Image:
    target: str  # the Dockerfile target: runtime or operator
    ref: str  # the local reference, e.g. localhost/barque-runtime:tb-<inputs hash>
    archive: Path  # a docker-archive of it, for `ctr images import`

    @property
    def repository(self) -> str:
        return self.ref.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]


@dataclass(frozen=True)
class TestbedImages:
    __test__ = False  # not a test class, despite its name
    images: dict[str, Image]
    containers_conf: Path  # podman's settings for this machine (runc, cgroupfs, rlimits)

    def __getitem__(self, target: str) -> Image:
        return self.images[target]

    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run podman with the test bed's settings; raise with its stderr when check and it fails."""
        env = {**os.environ, "CONTAINERS_CONF": str(self.containers_conf)}
        proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}\n{proc.stdout}")
        return proc


def parse_output(output: str) -> TestbedImages:
    """The images and podman settings named by the last lines of images.sh."""
    images, conf = {}, None
    for line in output.splitlines():
        words = line.split()
        if len(words) == 4 and words[0] == "image":
            images[words[1]] = Image(target=words[1], ref=words[2], archive=Path(words[3]))
        elif len(words) == 2 and words[0] == "containers-conf":
            conf = Path(words[1])
    if set(images) != set(TARGETS) or conf is None:
        raise ImageBuildError(f"{IMAGES_SCRIPT} printed no complete image list:\n{output}")
    return TestbedImages(images=images, containers_conf=conf)


def ensure_images() -> TestbedImages:
    """Build what is missing (minutes cold, under a second warm) and return what was built."""
    proc = subprocess.run(["bash", str(IMAGES_SCRIPT)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr + proc.stdout).splitlines()[-40:])
        raise ImageBuildError(f"{IMAGES_SCRIPT} failed (exit {proc.returncode}):\n{tail}")
    built = parse_output(proc.stdout)
    missing = [str(i.archive) for i in built.images.values() if not i.archive.exists()]
    if missing:
        raise ImageBuildError(f"{IMAGES_SCRIPT} succeeded but these archives are missing: {missing}")
    return built
