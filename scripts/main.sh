#!/usr/bin/env bash
# The main job on a fresh machine: set-up, build every shipped spec for both backends, and a
# short test-training run of the generated ResNet-20 on the embedded synthetic data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/resgen validate specs/
.venv/bin/resgen build specs/ --backend all
.venv/bin/resgen train specs/resnet20_cifar.yaml --backend torch --data synthetic --steps 100 \
    --out runs/main
