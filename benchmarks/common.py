"""Shared pieces of the benchmarks: paths, statistics, interleaved A/B timing, JSON output.

Nothing here imports torch or tensorflow; each section imports its framework itself, in its own
process, so that one framework's thread pools and memory never disturb the other's timings.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"


def spec_file(name: str) -> Path:
    """The shipped spec named ``name``: ``specs/<name>.yaml``."""
    return SPECS / f"{name}.yaml"


BIN = Path(sys.executable).parent
RESGEN = BIN / "resgen"

Json = dict[str, Any]


def summarize(values: Sequence[float]) -> Json:
    """Median, quartiles, IQR, min and max of a sample (all in the sample's unit)."""
    data = sorted(float(v) for v in values)
    if not data:
        return {"n": 0}
    if len(data) == 1:
        q1 = q3 = data[0]
    else:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    return {
        "n": len(data),
        "median": statistics.median(data),
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": data[0],
        "max": data[-1],
        "values": data,
    }


def time_call(func: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def repeat(func: Callable[[], object], runs: int, warmup: int = 0) -> Json:
    """Time ``func`` ``runs`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        func()
    return summarize([time_call(func) for _ in range(runs)])


def interleaved(
    candidate: Callable[[], object],
    reference: Callable[[], object],
    rounds: int,
    warmup: int = 2,
    budget_s: float | None = None,
    min_rounds: int = 3,
) -> Json:
    """Time two callables side by side: A B, B A, A B, ... (the order alternates each round so
    that neither always runs first), and the per-round ratio candidate / reference.

    Each round's ratio compares two calls made within a second or so of each other, so slow
    drifts of the machine (another process, clock changes) cancel out of the ratio even when
    they move the absolute times. Bursts shorter than a call do not cancel; the ratio of the
    two minima, which such bursts can only raise, is reported beside the median ratio.

    With ``budget_s``, rounds stop once that many seconds have gone by (after ``min_rounds``),
    so that a busy machine makes a run less precise rather than endless.
    """
    started = time.perf_counter()
    for _ in range(warmup):
        candidate()
        reference()
    times_a: list[float] = []
    times_b: list[float] = []
    for index in range(rounds):
        spent = time.perf_counter() - started
        if budget_s is not None and index >= min_rounds and spent > budget_s:
            break
        if index % 2 == 0:
            a = time_call(candidate)
            b = time_call(reference)
        else:
            b = time_call(reference)
            a = time_call(candidate)
        times_a.append(a)
        times_b.append(b)
    ratios = [a / b for a, b in zip(times_a, times_b, strict=True)]
    return {
        "candidate_s": summarize(times_a),
        "reference_s": summarize(times_b),
        "ratio": summarize(ratios),
        # the fastest call of each is the least disturbed by other processes: a second estimate
        "ratio_of_minima": min(times_a) / min(times_b),
        "rounds": len(ratios),
        "rounds_planned": rounds,
        "budget_s": budget_s,
        "warmup": warmup,
        "order": "alternating: A B, B A, ...",
    }


def run_command(args: Sequence[str | os.PathLike[str]], **kwargs: Any) -> tuple[float, int, str]:
    """Run a command to completion; its wall time in seconds, exit code and combined output."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        cwd=kwargs.pop("cwd", ROOT),
        **kwargs,
    )
    elapsed = time.perf_counter() - start
    return elapsed, done.returncode, (done.stdout + done.stderr)


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: framework logging off, reproducible hashing."""
    env = dict(os.environ)
    env.update(
        {
            "PYTHONHASHSEED": "0",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


def write_json(path: Path, data: Json) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Json | None:
    if not path.exists():
        return None
    loaded: Json = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def section_main(name: str, run: Callable[[bool], Json]) -> None:
    """Entry point of a section module: ``python -m benchmarks.<name> [--quick] [--out FILE]``."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}")
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / f"{name}.json")
    options = parser.parse_args()
    started = time.time()
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load = os.getloadavg()
    data = run(options.quick)
    data["date_utc"] = date
    data["load_at_start"] = [round(v, 2) for v in load]
    data["load_at_end"] = [round(v, 2) for v in os.getloadavg()]
    data.setdefault("section", name)
    data["quick"] = options.quick
    data["section_wall_s"] = round(time.time() - started, 2)
    write_json(options.out, data)
    print(f"{name}: wrote {options.out} in {data['section_wall_s']} s")
