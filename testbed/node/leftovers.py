"""Stop what a node leaves behind when its kubelet and containerd stop.

containerd's runc shims run in their own sessions, so stopping containerd's process group does
not stop them: each shim lives until containerd deletes its task. The fixtures therefore kill
and delete every task first (while containerd still runs), and afterwards SIGKILL any shim that
still names this node's containerd socket on its command line, found by PID (never by a
process name, which would also hit other containerd users on the machine).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ..cluster import Tool


def _task_ids(ctr_output: str) -> list[str]:
    return [line.split()[0] for line in ctr_output.splitlines() if line.strip()]


def stop_tasks(ctr: Tool, timeout: float = 20.0) -> None:
    """Kill (SIGKILL) and delete every task of the node's namespace, then delete its containers.

    ctr is bound to the node's socket and the k8s.io namespace. One ctr call for all tasks
    (``tasks delete --force`` kills and waits) and one for all containers: a session leaves
    a hundred containers or more, and a ctr process per container made this tens of seconds."""
    deadline = time.monotonic() + timeout
    tasks = _task_ids(ctr("tasks", "list", "-q", check=False).stdout)
    while tasks:
        ctr("tasks", "delete", "--force", *tasks, check=False)
        tasks = _task_ids(ctr("tasks", "list", "-q", check=False).stdout)
        if not tasks or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    containers = _task_ids(ctr("containers", "list", "-q", check=False).stdout)
    if containers:
        ctr("containers", "delete", *containers, check=False)


def shims_of(socket: Path, proc: Path = Path("/proc")) -> list[int]:
    """PIDs of processes whose command line names this containerd socket."""
    needle = str(socket).encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_shims(socket: Path) -> list[int]:
    """SIGKILL the shims left for this socket; return their PIDs."""
    pids = [pid for pid in shims_of(socket) if pid != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids
