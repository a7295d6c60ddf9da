"""Runs the console script's entry (``barque_cli.fastrun.main``) as the ``barque`` script does,
then adds one line on stderr saying which path answered (``fast``: the certificate; ``full``:
``barque_cli.main``) and which of barque's modules (and of a few heavy standard ones) the entry loaded. Tests strip that line."""

import sys

before = set(sys.modules)  # what the interpreter's start-up loaded (a dev install's import finder too)

from barque_cli.fastrun import main  # noqa: E402

code = main()
after = set(sys.modules)
import json  # noqa: E402

loaded = sorted(m for m in after - before if m.split(".")[0] in ("barque", "barque_cli", "barque_runtime", "barque_operator")
                or m in ("typing", "pathlib", "dataclasses", "argparse", "inspect", "contextlib", "json", "re", "hashlib", "sqlite3", "datetime"))
sys.stderr.write("\nFASTRUN-PROBE " + json.dumps({"path": "full" if "barque_cli.main" in sys.modules else "fast", "modules": loaded}) + "\n")
sys.stderr.flush()
sys.exit(code)
