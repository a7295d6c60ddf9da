#!/usr/bin/env bash
# barque against barca on the same barca-syntax files: install both, time them alternately,
# write bench/vs/results.json and re-render bench/RESULTS.md.  See bench/vs_barca.py.
#
#   bash bench/vs_barca.sh [--runs N] [--warmup N] [--slow-runs N] [--workers N]
#                          [--only SHAPE[,SHAPE...]] [--modes cold,warm]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BARCA_VERSION=0.33.0
BARCA_VENV="$OUT/barca-venv"

mkdir -p "$OUT"
if [[ ! -x "$BARCA_VENV/bin/barca" ]] || ! "$BARCA_VENV/bin/barca" --version | grep -q "$BARCA_VERSION"; then
    echo "vs_barca.sh: installing barca $BARCA_VERSION into $BARCA_VENV" >&2
    "$PYTHON" -m venv "$BARCA_VENV"
    # barca declares a newer Python than this machine's; its wheel runs on 3.11 all the same
    "$BARCA_VENV/bin/python" -m pip install --quiet --ignore-requires-python "barca==$BARCA_VERSION" >&2
fi
BARQUE="${BARQUE:-$(PYTHON="$PYTHON" bash "$HERE/install_barque.sh")}"
# as in run.sh: keep compiled bytecode, as an installed package has, outside the tree
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$OUT/pycache"
"$BARQUE" --help >/dev/null
status=0
"$PYTHON" "$HERE/vs_barca.py" --barque "$BARQUE" --barca "$BARCA_VENV/bin/barca" "$@" || status=$?
"$PYTHON" "$HERE/report.py" --vs-only >/dev/null
exit "$status"
