#!/usr/bin/env bash
# One-run peer comparison: fibstack kernels and the tools users would otherwise pick, on identical
# inputs, in the same run, with agreement checks and a markdown table (issue 7).
#
#   benches/compare/run.sh [--quick] [--with-tortuosity] [--reps N] [--only label26,edt,...]
#
# Environment:
#   VENV        Python venv to create/use (default benches/compare/.venv). An existing venv that
#               already has the peers is used as is (e.g. VENV=/work/venv).
#   PYTHON      interpreter used to create the venv (default python3).
#   WORKDIR     inputs/outputs (default benches/compare/.work); inputs are cached by size.
#   NO_INSTALL=1  skip pip (offline machines with a ready venv).
#   TORCH_FROM_PYPI=1  if the CPU torch index is unreachable, install PyPI's torch (~3 GB) for TauFactor.
#   CARGO_TARGET_DIR  as usual.
# Run it under `nice` on a shared machine; the table prints the load average before and after.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-$HERE/.venv}"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating venv $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

if [ "${NO_INSTALL:-0}" != "1" ]; then
    # the peers (CPU only); already-satisfied requirements cost nothing
    if ! "$PY" -c "import numpy, scipy, skimage, porespy, openpnm, edt, cc3d, tifffile" 2>/dev/null; then
        echo "== pip install peers" >&2
        "$PY" -m pip install --quiet numpy scipy scikit-image porespy openpnm edt connected-components-3d tifffile
    fi
    # TauFactor needs torch. The CPU wheel index is preferred: the default PyPI torch pulls several
    # GB of CUDA libraries. If that index is unreachable, TauFactor is reported 'not run' unless
    # TORCH_FROM_PYPI=1 (then PyPI's torch is installed; it runs on CPU).
    # A failed attempt leaves $VENV/.no-cpu-torch so later runs do not wait for the retries again
    # (delete it, or set RETRY_TORCH=1, to try again).
    [ "${RETRY_TORCH:-0}" = "1" ] && rm -f "$VENV/.no-cpu-torch"
    if ! "$PY" -c "import taufactor" 2>/dev/null && [ -e "$VENV/.no-cpu-torch" ]; then
        echo "== TauFactor not installed (earlier CPU-torch attempt failed; RETRY_TORCH=1 to retry)" >&2
    elif ! "$PY" -c "import taufactor" 2>/dev/null; then
        if "$PY" -c "import torch" 2>/dev/null ||
            timeout 600 "$PY" -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu; then
            "$PY" -m pip install --quiet taufactor ||
                echo "== taufactor install failed; TauFactor rows will say 'not run'" >&2
        elif [ "${TORCH_FROM_PYPI:-0}" = "1" ] && "$PY" -m pip install --quiet torch; then
            # PyPI's torch works on CPU; its CUDA libraries (~3 GB) are installed but unused
            "$PY" -m pip install --quiet taufactor ||
                echo "== taufactor install failed; TauFactor rows will say 'not run'" >&2
        else
            echo "== CPU torch wheel index (download.pytorch.org/whl/cpu) unreachable; TauFactor rows will say 'not run' (TORCH_FROM_PYPI=1 installs PyPI's torch, ~3 GB)" >&2
            touch "$VENV/.no-cpu-torch"
        fi
    fi
fi

echo "== building fibstack (release) and the peer_kernels example" >&2
cargo build --release --quiet --example peer_kernels
TGT="${CARGO_TARGET_DIR:-$ROOT/target}"
exec "$PY" "$HERE/run.py" --bin "$TGT/release/examples/peer_kernels" "$@"
