"""``barque version`` (and ``barque --version``): print the installed version, as barca does."""

from __future__ import annotations

import argparse
from typing import Any


def version_line() -> str:
    """``barque <version>``, the line both spellings print."""
    import barque

    return f"barque {barque.__version__}"


def register(sub: Any) -> None:
    p = sub.add_parser("version", help="print the installed version (also: barque --version)")
    p.set_defaults(func=_version)


def _version(args: argparse.Namespace) -> int:
    print(version_line())
    return 0
