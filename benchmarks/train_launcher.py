"""``resgen train`` with less work outside the timed steps, for the benchmarks.

The command is resgen's own click command, unchanged, except for two module constants of
``resgen.train.data``: the synthetic task's test split (1,024 images) is cut to
``RESGEN_BENCH_TEST_IMAGES`` images, and the sample that the per-channel mean and std are
estimated from (1,024 images) to ``RESGEN_BENCH_STATS_IMAGES``. ``images_per_second`` in
summary.json counts training steps only (the first excluded), so neither changes a throughput
figure; they save the end-of-run evaluation and the start-up statistics, which on a 2-core CPU
take longer than the timed steps of a ResNet-50 (about 90 s and 30 s at 224 x 224).

Usage: ``python -m benchmarks.train_launcher SPEC --backend torch --steps N ...``
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from resgen.train import data

    for variable, constant in (
        ("RESGEN_BENCH_TEST_IMAGES", "SYNTHETIC_TEST"),
        ("RESGEN_BENCH_STATS_IMAGES", "STATS_SAMPLE"),
    ):
        wanted = os.environ.get(variable)
        if wanted and hasattr(data, constant):
            setattr(data, constant, int(wanted))
        elif wanted:
            print(f"train_launcher: resgen.train.data.{constant} is gone; left as it is")

    from resgen.train.cli import train

    train.main(args=sys.argv[1:], prog_name="resgen train")


if __name__ == "__main__":
    main()
