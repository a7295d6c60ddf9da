"""The real node's configuration builders and pause image (testbed.node), without running them.

Pure: the files are parsed back (TOML, JSON, tar) and checked for the settings this machine
needs and for the network promises (no route out of the pods' subnet, no masquerading).
"""

from __future__ import annotations

import json
import tarfile
import tomllib
from pathlib import Path

from testbed.cluster import SERVICE_CIDR
from testbed.node import config, pause

LAYOUT = config.NodeLayout(Path("/state"))


def test_containerd_config_is_version_3_with_the_settings_this_host_needs() -> None:
    doc = tomllib.loads(config.containerd_config(LAYOUT, "localhost/barque-pause:x"))
    assert doc["version"] == 3
    assert doc["grpc"]["address"] == "/state/containerd/containerd.sock"
    runtime = doc["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True  # no CAP_SYS_RESOURCE here
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    assert runc["options"]["BinaryName"] == "/usr/sbin/runc"
    assert runtime["cni"]["conf_dir"] == "/state/cni/net.d"
    images = doc["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "localhost/barque-pause:x"


def test_cni_gives_pods_no_way_off_the_bridge() -> None:
    doc = json.loads(config.cni_conflist(LAYOUT))
    bridge = doc["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == config.BRIDGE
    assert bridge["ipMasq"] is False
    assert bridge["isGateway"] is False  # it would switch on the host's IP forwarding
    # No default route in the pods: their one route is to the service CIDR, through the host.
    assert bridge["ipam"]["routes"] == [{"dst": SERVICE_CIDR, "gw": config.SUBNET_GATEWAY}]
    assert bridge["ipam"]["ranges"][0][0]["subnet"] == config.SUBNET


def test_kubelet_config_allows_cgroup_v1_with_cgroupfs_and_serves_on_the_bridge() -> None:
    doc = json.loads(config.kubelet_config(LAYOUT, Path("/ca.crt"), 10250, 10248))
    assert doc["kind"] == "KubeletConfiguration"
    assert doc["failCgroupV1"] is False and doc["cgroupDriver"] == "cgroupfs"
    assert doc["containerRuntimeEndpoint"] == "unix:///state/containerd/containerd.sock"
    assert doc["address"] == config.SUBNET_GATEWAY
    assert doc["authentication"]["anonymous"]["enabled"] is False
    assert doc["authentication"]["x509"]["clientCAFile"] == "/ca.crt"


def test_pause_archive_is_a_one_layer_docker_archive_named_by_the_binarys_hash(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF not really")
    ref = pause.write_pause_archive(binary, tmp_path / "pause.tar")
    assert ref == pause.pause_ref(binary) and ref.startswith("localhost/barque-pause:")
    with tarfile.open(tmp_path / "pause.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == [ref]
        layer = tar.extractfile(manifest[0]["Layers"][0])
        with tarfile.open(fileobj=layer) as inner:
            member = inner.getmember("pause")
            assert member.mode == 0o755
        image_config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        assert image_config["config"]["Entrypoint"] == ["/pause"]
    again = tmp_path / "again.tar"
    pause.write_pause_archive(binary, again)
    assert again.read_bytes() == (tmp_path / "pause.tar").read_bytes()  # deterministic


def test_image_lines_of_images_sh_are_parsed(tmp_path: Path) -> None:
    from testbed.images import parse_output

    out = (f"containers-conf {tmp_path}/c.conf\n"
           f"image runtime localhost/barque-runtime:tb-1 {tmp_path}/r.tar\n"
           f"image operator localhost/barque-operator:tb-1 {tmp_path}/o.tar\n")
    built = parse_output(out)
    assert built["runtime"].repository == "localhost/barque-runtime" and built["runtime"].tag == "tb-1"
    assert built.containers_conf == tmp_path / "c.conf"
