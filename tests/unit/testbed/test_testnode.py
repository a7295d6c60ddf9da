"""The test node's pure parts: env resolution, $(VAR) expansion, commands, messages, status.

No servers: Secrets and ConfigMaps come from dicts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from testbed.testnode import spec  # noqa: E402
from testbed.testnode.spec import ConfigError, ContainerRun  # noqa: E402

POD: dict[str, Any] = {
    "metadata": {"name": "job-0-abc", "namespace": "ns1", "uid": "u-1",
                 "labels": {"app": "demo"},
                 "annotations": {"batch.kubernetes.io/job-completion-index": "2"}},
    "spec": {"nodeName": "testnode", "serviceAccountName": "runner"},
}
SECRETS = {"creds": {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "bad key": "x"}}
CONFIG_MAPS = {"settings": {"LEVEL": "debug"}}


def secrets(ns: str, name: str) -> dict[str, str] | None:
    return SECRETS.get(name)


def config_maps(ns: str, name: str) -> dict[str, str] | None:
    return CONFIG_MAPS.get(name)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return spec.resolve_env(POD, {"name": "c", **container}, secrets, config_maps)


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)-$(B)", "1-2"),
    ("$(MISSING)", "$(MISSING)"),
    ("$$(A)", "$(A)"),
    ("$$", "$"),
    ("cost $5", "cost $5"),
    ("tail $", "tail $"),
    ("$(A", "$(A"),
    ("$(A)$(A)", "11"),
])
def test_expand_follows_kubelet_rules(text: str, expected: str) -> None:
    assert spec.expand(text, {"A": "1", "B": "2"}) == expected


def test_env_values_expand_against_earlier_variables_only() -> None:
    env = env_of({"env": [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)/$(C)"},
                          {"name": "C", "value": "c"}]})
    assert env == {"A": "x", "B": "x/$(C)", "C": "c"}


def test_job_completion_index_comes_from_the_annotation_field_ref() -> None:
    ref = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    env = env_of({"env": [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": ref}}}]})
    assert env == {"JOB_COMPLETION_INDEX": "2"}


@pytest.mark.parametrize(("path", "expected"), [
    ("metadata.name", "job-0-abc"), ("metadata.namespace", "ns1"), ("metadata.uid", "u-1"),
    ("metadata.labels['app']", "demo"), ("spec.nodeName", "testnode"),
    ("spec.serviceAccountName", "runner"), ("status.podIP", "127.0.0.1"),
])
def test_field_refs(path: str, expected: str) -> None:
    assert spec.field_value(POD, path) == expected


def test_secret_and_config_map_key_refs() -> None:
    env = env_of({"env": [
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
        {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
    ]})
    assert env == {"KEY": "ak", "LEVEL": "debug"}


def test_env_from_with_prefix_skips_invalid_names_and_env_overrides_it() -> None:
    env = env_of({"envFrom": [{"secretRef": {"name": "creds"}},
                              {"prefix": "CFG_", "configMapRef": {"name": "settings"}}],
                  "env": [{"name": "AWS_ACCESS_KEY_ID", "value": "override"}]})
    assert env == {"AWS_ACCESS_KEY_ID": "override", "AWS_SECRET_ACCESS_KEY": "sk", "CFG_LEVEL": "debug"}


def test_missing_required_secret_or_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match='secret "nope" not found'):
        env_of({"envFrom": [{"secretRef": {"name": "nope"}}]})
    with pytest.raises(ConfigError, match="couldn't find key"):
        env_of({"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "other"}}}]})


def test_command_and_args_expand_against_the_container_env() -> None:
    argv = spec.command_line({"name": "c", "command": ["python3", "-c"], "args": ["print('$(X)')"]},
                             {"X": "hi"}, lambda image: False, {})
    assert argv == ["python3", "-c", "print('hi')"]


def test_runtime_image_without_command_runs_barque_and_others_need_an_entrypoint() -> None:
    runtime = spec.command_line({"name": "c", "image": "ghcr.io/x/barque-runtime:1", "args": ["exec"]}, {},
                                lambda image: "barque" in image, {})
    assert runtime == ["barque", "exec"]
    mapped = spec.command_line({"name": "c", "image": "busybox"}, {}, lambda image: False, {"busybox": ["sh"]})
    assert mapped == ["sh"]
    with pytest.raises(ConfigError, match="entrypoint"):
        spec.command_line({"name": "c", "image": "busybox"}, {}, lambda image: False, {})


def test_paths_under_an_empty_dir_mount_are_remapped_and_others_are_not() -> None:
    mounts = {"/tmp": "/sandbox/tmp", "/data/": "/sandbox/data"}
    assert spec.remap("/tmp", mounts) == "/sandbox/tmp"
    assert spec.remap("/tmp/x/y", mounts) == "/sandbox/tmp/x/y"
    assert spec.remap("/data/f", mounts) == "/sandbox/data/f"
    assert spec.remap("/tmpfoo", mounts) == "/tmpfoo"
    assert spec.remap("plain", mounts) == "plain"


def test_the_nodes_own_env_values_are_not_remapped_even_under_a_tmp_checkout() -> None:
    # A checkout cloned under /tmp: the node's PATH points into it, and a pod mounts /tmp.
    base = {"PATH": "/tmp/clone/.venv/bin:/usr/bin", "HOME": "/tmp/node/home"}
    env = {**base, "BARQUE_DIR": "/tmp/work", "PLAIN": "x"}
    remapped = spec.remap_env(env, base, {"/tmp": "/sandbox/tmp"})
    assert remapped == {**base, "BARQUE_DIR": "/sandbox/tmp/work", "PLAIN": "x"}
    # A pod that sets PATH itself gets its value remapped like any other.
    assert spec.remap_env({"PATH": "/tmp/bin"}, base, {"/tmp": "/s"}) == {"PATH": "/s/bin"}


def test_termination_message_prefers_the_file_and_falls_back_to_the_log_tail_on_error() -> None:
    log = b"".join(b"line %d\n" % i for i in range(200))
    assert spec.termination_message(b'{"ok": true}', log, "FallbackToLogsOnError", 1) == '{"ok": true}'
    assert spec.termination_message(b"x" * 5000, b"", None, 0) == "x" * 4096
    fallback = spec.termination_message(b"", log, "FallbackToLogsOnError", 1)
    assert fallback.endswith("line 199") and "line 119" not in fallback
    assert spec.termination_message(b"", log, "FallbackToLogsOnError", 0) == ""
    assert spec.termination_message(b"", log, "File", 1) == ""


def test_fallback_is_capped_at_2048_bytes() -> None:
    log = b"".join(b"%s\n" % (b"y" * 100) for _ in range(80))
    assert len(spec.termination_message(b"", log, "FallbackToLogsOnError", 2)) == 2048


def test_status_of_a_finished_pod() -> None:
    done = ContainerRun("main", "python", state="terminated", reason="Error", message="boom", exit_code=3,
                        started_at="t0", finished_at="t1", container_id="testnode://1")
    status = spec.pod_status("Failed", "t0", [], [done])
    assert status["phase"] == "Failed"
    assert status["podIP"] == status["hostIP"] == "127.0.0.1"
    (cs,) = status["containerStatuses"]
    assert cs["state"] == {"terminated": {"exitCode": 3, "reason": "Error", "message": "boom", "startedAt": "t0",
                                          "finishedAt": "t1", "containerID": "testnode://1"}}
    assert cs["ready"] is False
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "False",
                          "Ready": "False"}


def test_status_of_a_running_pod_waiting_on_init_containers() -> None:
    init = ContainerRun("setup", "python", state="running", started_at="t0")
    main = ContainerRun("main", "python", reason="PodInitializing")
    status = spec.pod_status("Pending", "t0", [init], [main])
    assert status["initContainerStatuses"][0]["state"] == {"running": {"startedAt": "t0"}}
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Initialized"] == "False" and conditions["Ready"] == "False"


def test_terminal_phase_needs_every_container_to_succeed() -> None:
    ok = ContainerRun("a", "i", state="terminated", exit_code=0)
    bad = ContainerRun("b", "i", state="terminated", exit_code=1)
    assert spec.terminal_phase([ok]) == "Succeeded"
    assert spec.terminal_phase([ok, bad]) == "Failed"


def test_condition_transition_times_move_only_on_a_transition() -> None:
    running = ContainerRun("main", "python", state="running", started_at="t0")
    first = spec.pod_status("Running", "t0", [], [running])
    aged = [{**c, "lastTransitionTime": "long ago"} for c in first["conditions"]]
    running.state, running.exit_code = "terminated", 0
    second = spec.pod_status("Succeeded", "t0", [], [running], previous=aged)
    times = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert times["Initialized"] == "long ago"
    assert times["Ready"] != "long ago"
