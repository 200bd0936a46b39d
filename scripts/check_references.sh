#!/usr/bin/env bash
# The reference checks: every generated PyTorch model that reproduces a torchvision or timm model
# loads that library's state_dict with strict=True and gives its outputs (eval mode, within 1e-5),
# and tests/data/timm_resnet_zoo.json is what timm 1.0.31 says. Runs the tests marked `reference`.
#
#   bash scripts/check_references.sh              # all of them
#   bash scripts/check_references.sh -k timm -s   # extra arguments go to pytest (-s prints gaps)
#
# It keeps its own environment, .venv-ref (about 5 GB; RESGEN_REF_VENV=DIR puts it elsewhere),
# apart from .venv: the CUDA build of torch (it runs on CPU) is the one torchvision and timm load
# their compiled ops with; the project's CPU wheel cannot. Idempotent: reinstalls only when
# pyproject.toml or this script is newer than the environment's stamp.
# Refresh the committed listing after a timm upgrade: .venv-ref/bin/python scripts/write_timm_listing.py
#
# It first (re)writes tests/data/reference_outputs.json with scripts/write_reference_outputs.py:
# timm's and torchvision's logits for one spec per layout, with weights from a deterministic rule
# (tests/reference_weights.py), which tests/test_reference_outputs.py compares the generated
# models with in the default suite. The file is left alone when the numbers have not changed;
# when they have, it names the commit of the writer that wrote it (commit the writer first).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${RESGEN_REF_VENV:-.venv-ref}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
stamp=$VENV/.resgen-reference
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # '===' matches the version string exactly, so a local '2.13.0+cpu' wheel offered through
    # find-links is never taken; an empty PIP_FIND_LINKS drops those links altogether.
    PIP_FIND_LINKS='' "$VENV/bin/python" -m pip install --quiet \
        "torch===2.13.0" "torchvision==0.28.0" "timm==1.0.31"
    # resgen with its core dependencies only (no TensorFlow), and the test runner.
    "$VENV/bin/python" -m pip install --quiet -e . "pytest>=8"
    touch "$stamp"
fi
export PYTHONHASHSEED=0
PYTHONPATH=$PWD "$VENV/bin/python" scripts/write_reference_outputs.py
"$VENV/bin/python" -m pytest -m reference -p no:cacheprovider \
    tests/test_references.py tests/test_timm_reference.py tests/test_backbone_reference.py \
    tests/test_attention_reference.py tests/test_dilation_reference.py \
    tests/test_families_reference.py tests/test_sk_reference.py tests/test_res2net_reference.py \
    tests/test_resnest_reference.py \
    tests/test_resnetv2_reference.py tests/test_norm_kinds_reference.py tests/test_conv_reference.py \
    "$@"
