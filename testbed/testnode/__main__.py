"""Command line of the test node: `python -m testbed.testnode --kubeconfig K --node-name N`."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a file: python testbed/testnode/__main__.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "testbed.testnode"  # noqa: A001

from testbed.kubeapi import Api  # noqa: E402
from testbed.testnode.node import Node  # noqa: E402
from testbed.testnode.runner import NodeContext  # noqa: E402

log = logging.getLogger("testnode")


class Shutdown(BaseException):
    pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="testnode", description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-name", required=True)
    p.add_argument("--namespace", action="append", default=[],
                   help="only bind and run pods in this namespace (repeatable; default: all)")
    p.add_argument("--log-dir", type=Path, required=True, help="container logs: <ns>_<pod>_<uid>/<container>.log")
    p.add_argument("--work-dir", type=Path, required=True, help="per-pod sandboxes (emptyDirs, working dirs)")
    p.add_argument("--runtime-image-pattern", default="barque",
                   help="regex; images it matches run `barque` when the container has no command")
    p.add_argument("--image-entrypoint", action="append", default=[], metavar="IMAGE=COMMAND",
                   help="entrypoint for another image without a command (repeatable)")
    p.add_argument("--cpu", default="8")
    p.add_argument("--memory", default="16Gi")
    p.add_argument("--pods", default="110")
    p.add_argument("--kubelet-version", default="v0.0.0-testnode")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    entrypoints = {}
    for item in args.image_entrypoint:
        image, _, command = item.partition("=")
        entrypoints[image] = shlex.split(command)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    # `barque` and `python3` resolve to this interpreter's environment: the project's own install.
    base_path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)])
    ctx = NodeContext(api=Api(args.kubeconfig), node_name=args.node_name, log_dir=args.log_dir.resolve(),
                      work_dir=args.work_dir.resolve(), runtime_image=re.compile(args.runtime_image_pattern),
                      entrypoints=entrypoints, base_path=base_path, all_procs=set(), procs_lock=threading.Lock())
    node = Node(ctx, args.namespace, {"cpu": args.cpu, "memory": args.memory, "pods": args.pods},
                args.kubelet_version)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        node.register()
        threading.Thread(target=node.heartbeat_loop, name="heartbeat", daemon=True).start()
        node.watch_pods()
    except Shutdown as why:
        log.info("%s: stopping", why)
    finally:
        node.done.set()
        kill_children(ctx)
    return 0


def kill_children(ctx: NodeContext) -> None:
    with ctx.procs_lock:
        procs = list(ctx.all_procs)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in procs:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


if __name__ == "__main__":
    sys.exit(main())
