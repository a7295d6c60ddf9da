"""``barque doctor [FILES...]``: check the project, the interpreter and the store; run nothing.

JSON (``{"ok": ..., "checks": [...]}``) when stdout is not a terminal or with ``--json``; one
line per check on a terminal or with ``--pretty``. Exit 0 when every check passed, 3 when one
failed, as barca's doctor does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check the project, Python and the store without running anything")
    p.add_argument("files", nargs="*", metavar="FILE_OR_DIR", help="pipeline files or directories (default: .)")
    p.add_argument("--store", help="the store to check (default: .barque/ in the project root)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON on stdout, even on a terminal")
    out.add_argument("--pretty", action="store_true", help="one line per check, even when piped")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from barque_runtime.doctor import run_checks

    checks = run_checks(args.files, args.store)
    ok = all(c.ok for c in checks)
    if args.json or (not args.pretty and not sys.stdout.isatty()):
        print(json.dumps({"ok": ok, "checks": [c.to_dict() for c in checks]}, sort_keys=True))
    else:
        for c in checks:
            print(f"[{'ok' if c.ok else 'error'}] {c.name}: {c.detail}")
    return 0 if ok else 3
