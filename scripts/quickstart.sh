#!/usr/bin/env bash
# Set up barque and run the bundled quickstart pipeline locally: no cluster, no server, no config.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[quickstart] first run (computes every step):" >&2
.venv/bin/barque run examples/quickstart/pipeline.py
echo "[quickstart] second run (everything served from cache):" >&2
.venv/bin/barque run examples/quickstart/pipeline.py
