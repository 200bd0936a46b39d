#!/usr/bin/env bash
# Set up .venv with resgen and everything its tests and training need. Idempotent.
# torch is pinned and installed first, as the CPU build: an unpinned torch pulls several GB of
# CUDA packages. Keras gets all three backends (TensorFlow CPU, JAX CPU via dev, PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.resgen-setup
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    .venv/bin/python -m pip install --quiet -e ".[torch,tensorflow-cpu,dev]"
    touch "$stamp"
fi
