"""The test bed's bridge: the one place pods' network namespaces meet the host.

The bridge gets SUBNET_GATEWAY, an address of this machine only. Two iptables rules drop
anything routed into or out of the bridge, so even with IP forwarding switched on by something
else, pod traffic reaches nothing but the host's own addresses and other pods: it cannot leave
the machine. Teardown removes the rules and the bridge (and the veths CNI left on it).
"""

from __future__ import annotations

import subprocess

from .config import BRIDGE, SUBNET

GUARD_RULES = (("FORWARD", "-i", BRIDGE, "-j", "DROP"), ("FORWARD", "-o", BRIDGE, "-j", "DROP"))
PREFIX_LEN = SUBNET.split("/")[1]


class NetworkError(RuntimeError):
    """A command setting up the bridge failed; the message has its stderr."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetworkError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def bridge_exists() -> bool:
    return _run("ip", "link", "show", BRIDGE, check=False).returncode == 0


def set_up(gateway: str) -> None:
    """Create the bridge with the gateway address and the guard rules (replacing leftovers)."""
    tear_down()
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", f"{gateway}/{PREFIX_LEN}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    for rule in GUARD_RULES:
        _run("iptables", "-w", "-I", *rule)


def tear_down() -> None:
    """Remove the guard rules and the bridge; safe when they are already gone."""
    for rule in GUARD_RULES:
        while _run("iptables", "-w", "-D", *rule, check=False).returncode == 0:
            pass
    if bridge_exists():
        _run("ip", "link", "delete", BRIDGE)
