"""Run every benchmark and write the report: ``.venv/bin/python -m benchmarks [--quick]``.

Each section runs in its own process (``python -m benchmarks.<section>``) and writes
``<results>/<section>.json``; then :mod:`benchmarks.report` writes ``<results>/README.md`` and
the plots. The run's conditions (machine, software, load average before, during and after)
go to ``<results>/run.json``. ``--quick`` is a smoke run: few repetitions, small batches,
results in ``benchmarks/results/quick/`` (not committed) unless ``--results`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import machine
from benchmarks.common import RESULTS, ROOT, Json, quiet_env, write_json

SECTIONS = (
    "generation",
    "structure",
    "torch_models",
    "keras_models",
    "precision",
    "training",
    "data_path",
    "grad_checkpointing",
)


def wait_until_quiet(threshold: float, deadline: str, every: float) -> Json:
    """Poll the 1-minute load average until it is below ``threshold`` or the UTC clock reaches
    ``deadline`` (HH:MM, today); what happened goes into the results."""
    hour, minute = (int(part) for part in deadline.split(":"))
    now = dt.datetime.now(dt.UTC)
    stop = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    started = time.time()
    samples: list[float] = []
    while True:
        load = machine.load_average()[0]
        samples.append(load)
        if load < threshold:
            outcome = "quiet"
            break
        if dt.datetime.now(dt.UTC) >= stop:
            outcome = "deadline reached: ran on a busy machine"
            break
        print(f"waiting for a quiet machine: 1-minute load {load:.2f} >= {threshold}", flush=True)
        time.sleep(every)
    return {
        "threshold": threshold,
        "deadline_utc": deadline,
        "outcome": outcome,
        "waited_s": round(time.time() - started, 1),
        "polls": len(samples),
        "last_load": samples[-1],
    }


class LoadSampler(threading.Thread):
    """The 1-minute load average every ``every`` seconds while the benchmarks run."""

    def __init__(self, every: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop_event = threading.Event()
        self._start = time.time()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((round(time.time() - self._start, 1), machine.load_average()[0]))
            self._stop_event.wait(self.every)

    def stop(self) -> list[tuple[float, float]]:
        self._stop_event.set()
        self.join()
        return self.samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: few repetitions")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--results", type=Path, help="output folder")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="LOAD",
        help="first wait until the 1-minute load average is below LOAD (polled every 30 s)",
    )
    parser.add_argument(
        "--deadline", default="23:59", help="with --wait-quiet: start anyway at HH:MM UTC"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite README.md and plots from the JSON"
    )
    options = parser.parse_args(argv)
    results: Path = options.results or (RESULTS / "quick" if options.quick else RESULTS)
    results.mkdir(parents=True, exist_ok=True)

    from benchmarks import report

    if options.report_only:
        report.write(results)
        return 0
    sections = [s.strip() for s in options.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {SECTIONS}")

    run: Json = {
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": options.quick,
    }
    if options.wait_quiet is not None:
        run["wait"] = wait_until_quiet(options.wait_quiet, options.deadline, every=30.0)
    run["machine"] = machine.describe()
    run["load_at_start"] = machine.load_average()
    sampler = LoadSampler()
    sampler.start()
    started = time.time()
    run["sections"] = {}
    failed = False
    for section in sections:
        print(f"== {section}", flush=True)
        args = [
            sys.executable,
            "-m",
            f"benchmarks.{section}",
            "--out",
            str(results / f"{section}.json"),
        ]
        if options.quick:
            args.append("--quick")
        begin = time.time()
        code = subprocess.call(args, cwd=ROOT, env=quiet_env())
        run["sections"][section] = {"exit_code": code, "wall_s": round(time.time() - begin, 1)}
        failed = failed or code != 0
    run["wall_s"] = round(time.time() - started, 1)
    run["load_at_end"] = machine.load_average()
    samples = sampler.stop()
    loads = [load for _, load in samples]
    run["load_during"] = {
        "every_s": sampler.every,
        "max": max(loads),
        "mean": round(sum(loads) / len(loads), 2),
        "samples": samples,
    }
    write_json(results / "run.json", run)
    report.write(results)
    print(f"wrote {results / 'README.md'} ({run['wall_s']} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
