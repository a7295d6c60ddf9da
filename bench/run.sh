#!/usr/bin/env bash
# barque's benchmark suite: generate the pipelines, time them with hyperfine, measure the
# runner's memory, and write bench/RESULTS.md.  See bench/README.md.
#
#   bash bench/run.sh [--runs N] [--warmup N] [--slow-runs N] [--workers N]
#                     [--mem-reps N] [--only SHAPE[,SHAPE...]] [--no-bytecode-cache]
#                     [--no-report]
#
# Everything it writes, besides bench/RESULTS.md, goes to bench/out/ (git-ignored).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
VENV="$OUT/venv"  # barque as installed from a wheel, made by bench/install_barque.sh

RUNS=5          # timed runs per benchmark
WARMUP=1        # untimed runs before them
SLOW_RUNS=3     # timed runs of the cold fan_out_500_50ms (about 15 s each), no warm-up
WORKERS="$(nproc)"
MEM_REPS=3      # repetitions of the memory measurement
ONLY=""
REPORT=1
BYTECODE=1      # keep compiled bytecode, as an installed package has (see README)

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --slow-runs) SLOW_RUNS="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --mem-reps) MEM_REPS="$2"; shift 2 ;;
        --only) ONLY=",$2,"; shift 2 ;;
        --no-report) REPORT=0; shift ;;
        --no-bytecode-cache) BYTECODE=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
done

install_if_missing() {  # command, Debian package
    if ! command -v "$1" >/dev/null 2>&1; then
        if [[ "$(id -u)" -ne 0 ]]; then
            echo "run.sh: '$1' is missing; install the Debian package '$2' (apt-get install -y $2)" >&2
            exit 1
        fi
        echo "run.sh: installing $2" >&2
        apt-get install -y "$2" >/dev/null || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
    fi
}
install_if_missing hyperfine hyperfine
install_if_missing /usr/bin/time time

mkdir -p "$OUT"
if [[ -z "${BARQUE:-}" ]]; then
    echo "run.sh: building a wheel of the working tree and installing it into $VENV" >&2
    BARQUE="$(PYTHON="$PYTHON" bash "$HERE/install_barque.sh")"
fi
[[ -x "$BARQUE" ]] || { echo "run.sh: no barque at $BARQUE (set BARQUE=...)" >&2; exit 1; }
printf '%s\n' "$BARQUE" >"$OUT/barque-path.txt"

wanted() { [[ -z "$ONLY" || "$ONLY" == *",$1,"* ]]; }
load1() { cut -d' ' -f1 /proc/loadavg; }

SUITE_START=$(date +%s)
if [[ "$BYTECODE" -eq 1 ]]; then
    # A pip-installed barque ships compiled bytecode; a sandbox with PYTHONDONTWRITEBYTECODE=1
    # would instead recompile every barque module on every run (about 70 ms here). Keep the
    # bytecode, but in bench/out/pycache rather than in __pycache__ folders across the tree.
    unset PYTHONDONTWRITEBYTECODE
    export PYTHONPYCACHEPREFIX="$OUT/pycache"
fi
"$PYTHON" "$HERE/generate.py" >/dev/null
# prime the bytecode cache (and the OS file cache) before anything is timed
"$BARQUE" run "$OUT/trivial/pipeline.py" --workers "$WORKERS" >/dev/null
"$BARQUE" plan "$OUT/trivial/pipeline.py" >/dev/null

# One line per measurement: name, mode, 1-min load average before and after.
LOADS="$OUT/loads.tsv"
if [[ -z "$ONLY" ]]; then
    rm -f "$OUT"/*.json "$LOADS" "$OUT/failures.tsv"
fi
touch "$LOADS"
record_load() {  # name mode before
    local tmp
    tmp="$(mktemp)"
    grep -v -P "^$1\t$2\t" "$LOADS" >"$tmp" || true
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(load1)" >>"$tmp"
    mv "$tmp" "$LOADS"
}

# hyperfine NAME MODE [hyperfine options...] COMMAND
bench() {
    local name="$1" mode="$2"
    shift 2
    local before
    before="$(load1)"
    echo "== $name ($mode), load $before" >&2
    if ! hyperfine -N --style basic --export-json "$OUT/$name.$mode.json" "$@" >&2; then
        # a failing run (e.g. barque mid-edit in a shared tree) must not stop the suite
        echo "run.sh: $name ($mode) FAILED; see the command with --show-output" >&2
        rm -f "$OUT/$name.$mode.json"
        printf '%s\t%s\n' "$name" "$mode" >>"$OUT/failures.tsv"
    fi
    record_load "$name" "$mode" "$before"
}

while read -r name entry; do
    wanted "$name" || continue
    dir="$OUT/$name"
    target="$dir/$entry"
    if [[ "$name" == plan_10k ]]; then
        # Planning only: `barque plan` parses the 10,000-asset file and prints the plan. The
        # folder has a .barque/, as a project that has run has: the parse cache lives there, so
        # the warm-up parses and the timed runs read the parse back (bench/FINDINGS.md, issue 11).
        mkdir -p "$dir/.barque"
        bench "$name" plan --warmup "$WARMUP" --runs "$RUNS" -n "barque plan $name" "$BARQUE plan $target --workers $WORKERS"
        continue
    fi
    cmd="$BARQUE run $target --workers $WORKERS"
    # cold: an empty store before every run, so every step executes
    if [[ "$name" == fan_out_500_50ms ]]; then
        bench "$name" cold --warmup 0 --runs "$SLOW_RUNS" --prepare "rm -rf $dir/.barque" -n "$name cold" "$cmd"
    else
        bench "$name" cold --warmup "$WARMUP" --runs "$RUNS" --prepare "rm -rf $dir/.barque" -n "$name cold" "$cmd"
    fi
    # warm: one run fills the store, then every timed run finds every step cached
    bench "$name" warm --setup "$cmd" --warmup "$WARMUP" --runs "$RUNS" -n "$name warm" "$cmd"
done < <("$PYTHON" "$HERE/generate.py" --list)

if wanted memory; then
    # Peak memory of a cold fan_out_500 run: the runner process and its forked workers.
    # /usr/bin/time -v reports the kernel's peak RSS of the largest single process of the tree;
    # memwatch.py samples /proc for the sums (see the docstring there for each figure).
    before="$(load1)"
    echo "== memory: fan_out_500 cold x $MEM_REPS, load $before" >&2
    for i in $(seq 1 "$MEM_REPS"); do
        rm -rf "$OUT/fan_out_500/.barque"
        if ! "$PYTHON" "$HERE/memwatch.py" --json "$OUT/memory.fan_out_500.$i.json" --exclude-comm time -- \
            /usr/bin/time -v -o "$OUT/memory.fan_out_500.$i.time.txt" \
            "$BARQUE" run "$OUT/fan_out_500/pipeline.py" --workers "$WORKERS"; then
            echo "run.sh: memory repetition $i FAILED" >&2
            rm -f "$OUT/memory.fan_out_500.$i.json"
            printf 'memory\tfan_out_500 #%s\n' "$i" >>"$OUT/failures.tsv"
        fi
    done
    record_load memory fan_out_500 "$before"
fi

SUITE_END=$(date +%s)
if [[ -z "$ONLY" || ! -f "$OUT/meta.json" ]]; then
    printf '{"workers": %s, "runs": %s, "warmup": %s, "slow_runs": %s, "mem_reps": %s, "bytecode_cache": %s, "suite_seconds": %s, "only": "%s"}\n' \
        "$WORKERS" "$RUNS" "$WARMUP" "$SLOW_RUNS" "$MEM_REPS" "$BYTECODE" "$((SUITE_END - SUITE_START))" "${ONLY//,/ }" >"$OUT/meta.json"
else
    # a partial re-run keeps the full run's settings and duration, and notes what it redid
    "$PYTHON" - "$OUT/meta.json" "${ONLY//,/ }" "$((SUITE_END - SUITE_START))" <<'PY'
import json, sys
path, only, seconds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
meta = json.load(open(path))
meta.setdefault("reruns", []).append({"only": only, "seconds": seconds})
json.dump(meta, open(path, "w"))
PY
fi
echo "== suite took $((SUITE_END - SUITE_START)) s" >&2

if [[ "$REPORT" -eq 1 ]]; then
    "$PYTHON" "$HERE/report.py"
fi
