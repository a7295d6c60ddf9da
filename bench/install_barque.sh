#!/usr/bin/env bash
# Install barque as a user gets it from pip: a wheel of the working tree, installed (not
# editable) into bench/out/venv. The dev venv's editable install adds setuptools' import finder
# to every interpreter start-up (~14 ms here), which no pip-installed barque has.
# Prints the path of the installed `barque`.  Usage: bench/install_barque.sh (PYTHON=... to
# choose the interpreter that builds the wheel and owns the venv).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
VENV="$OUT/venv"
src="$OUT/wheel-src"
mkdir -p "$OUT"
rm -rf "$src" "$OUT/dist"
mkdir -p "$src"
# a copy, so that setuptools' build/ and *.egg-info stay out of the tree and no stale
# build/lib file from an earlier build ends up in the wheel
cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/runtime" "$ROOT/operator" "$src/"
find "$src" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m pip wheel --no-deps --quiet --wheel-dir "$OUT/dist" "$src" >&2
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv --without-pip "$VENV"
"$PYTHON" -m pip --python "$VENV/bin/python" install --no-deps --force-reinstall --quiet "$OUT"/dist/barque-*.whl >&2
rm -rf "$src"
echo "$VENV/bin/barque"
