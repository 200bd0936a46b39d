#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, lint, drift checks of generated/ and of the
# generated spec reference (docs/spec-reference.md), pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=3
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/resgen build specs/ --backend all --check
.venv/bin/python -m resgen.reference --check
.venv/bin/python -m pytest -n 2 -q "$@"
