"""float32, bf16, bf16 + channels_last and ``--compile`` for resnet20_cifar, torch and Keras:
issue 22's check, ``resgen train specs/resnet20_cifar.yaml --steps 40`` (bf16 + channels_last
by default on a CPU with AMX or AVX512-BF16) against the same with ``--no-amp
--no-channels-last``, interleaved. Its own section, so that it can be rerun alone on a quieter
machine (``python -m benchmarks --only precision``); the resnet50 rows are in the training
section, and benchmarks/training.py's report puts both in one table.
"""

from __future__ import annotations

import os

from benchmarks.common import Json, section_main
from benchmarks.training import CIFAR_PRECISION, run_precision


def run(quick: bool) -> Json:
    print("precision: resnet20_cifar, float32, bf16, bf16 + channels_last, --compile")
    threads = os.environ.get("OMP_NUM_THREADS")  # the runs inherit it
    return {"omp_num_threads": threads, "groups": run_precision(CIFAR_PRECISION, quick)}


if __name__ == "__main__":
    section_main("precision", run)
