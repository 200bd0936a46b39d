#!/usr/bin/env bash
# One prepared check of resgen's training path on a CUDA machine, in at most 8 minutes; on a
# machine without CUDA the same script is a CPU smoke run (tiny budgets, same steps).
#
#   bash scripts/gpu_check.sh --prepare   # where there is network: fill build/wheelhouse/
#   bash scripts/gpu_check.sh             # on the GPU machine (no network needed)
#
# The GPU machine is expected to have a Python with torch (a CUDA build), torchvision and timm,
# and no TensorFlow: set PYTHON to it (default python3). The script makes a virtual environment
# that sees its packages, installs resgen's own dependencies, Keras and pytest
# from build/wheelhouse/ without network, and runs resgen from this checkout (PYTHONPATH). Keras runs
# on its PyTorch backend there. Results go to benchmarks/results/gpu/ (or $GPU_CHECK_OUT):
# gpu_check.json (every run's summary figures), README.md (the table) and logs/ (every step).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELHOUSE=${WHEELHOUSE:-build/wheelhouse}
VENV=${GPU_CHECK_VENV:-build/venv-gpu}
OUT=${GPU_CHECK_OUT:-benchmarks/results/gpu}
# What the check imports beyond torch, torchvision, timm and their dependencies.
PACKAGES=(pydantic rich keras matplotlib pytest hypothesis jinja2 pyyaml click)

if [ "${1:-}" = "--prepare" ]; then
    mkdir -p "$WHEELHOUSE"
    "$PYTHON" -m pip download --quiet --only-binary=:all: --dest "$WHEELHOUSE" "${PACKAGES[@]}"
    echo "wheelhouse: $(ls "$WHEELHOUSE" | wc -l) wheels, $(du -sh "$WHEELHOUSE" | cut -f1)"
    exit 0
fi

started=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    # See $PYTHON's packages (torch, torchvision, timm) from the new environment, also when
    # $PYTHON is itself a virtual environment (where --system-site-packages would skip them).
    base=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    here=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$base" > "$here/_gpu_check_base.pth"
fi
if [ -d "$WHEELHOUSE" ]; then
    "$VENV/bin/python" -m pip install --quiet --no-index --find-links "$WHEELHOUSE" \
        "${PACKAGES[@]}"
else
    echo "no $WHEELHOUSE/: installing from the package index" >&2
    "$VENV/bin/python" -m pip install --quiet "${PACKAGES[@]}"
fi
echo "set-up: $(($(date +%s) - started)) s"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONHASHSEED=0 KERAS_BACKEND=torch
"$VENV/bin/python" -m benchmarks.gpu_check --out "$OUT" --budget-s $((480 - ($(date +%s) - started)))
