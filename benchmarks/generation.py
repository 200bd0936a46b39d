"""Generation speed: ``resgen build`` (cache warm, ``--no-cache``, into an empty folder), per-spec
render time, CLI latency, import time.

Commands run as subprocesses (what a user waits for, interpreter start included); the per-spec
figures come from this process, timing ``load_spec``, ``build_plan`` and ``render`` directly.
Every round runs each command once, in an order rotated from round to round, so a burst of
load on the machine spreads over all commands instead of landing on one.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    RESGEN,
    ROOT,
    SPECS,
    Json,
    run_command,
    section_main,
    spec_file,
    summarize,
)

PYTHON = sys.executable
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s+)(\S+)\s*$")


VERSION, BARE = "resgen --version", "python -c pass"
BUILD_WARM = "resgen build specs/ --backend all (files current, cache warm)"
CHECK_WARM = "resgen build specs/ --backend all --check (files current, cache warm)"
BUILD_NO_CACHE = "resgen build specs/ --backend all --no-cache (files current)"
BUILD_EMPTY = "resgen build specs/ --backend all --no-cache (empty --out)"
BUILDS = (BUILD_WARM, CHECK_WARM, BUILD_NO_CACHE, BUILD_EMPTY)
"""The builds timed against ``resgen --version``; issue 22's goal (at most 3x) is the first's:
what the pre-commit check and a rebuild after a pull cost when the specs did not change."""


def _commands(scratch: Path, current: Path) -> dict[str, Callable[[], list[str]]]:
    """Each timed command, as a function returning argv. ``current`` holds every file a build
    of specs/ writes, current (the builds into it change nothing); the other build writes into
    a fresh folder each time."""

    def fresh(label: str) -> str:
        folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch))
        return str(folder / "generated")

    resnet152 = spec_file("resnet152")
    build_all = [str(RESGEN), "build", str(SPECS), "--backend", "all", "--out"]
    return {
        BARE: lambda: [PYTHON, "-c", "pass"],
        "python -c 'import resgen'": lambda: [PYTHON, "-c", "import resgen"],
        VERSION: lambda: [str(RESGEN), "--version"],
        "resgen validate specs/": lambda: [str(RESGEN), "validate", str(SPECS)],
        f"resgen summary {resnet152.relative_to(ROOT)}": lambda: [
            str(RESGEN),
            "summary",
            str(resnet152),
        ],
        BUILD_WARM: lambda: [*build_all, str(current)],
        CHECK_WARM: lambda: [*build_all, str(current), "--check"],
        BUILD_NO_CACHE: lambda: [*build_all, str(current), "--no-cache"],
        BUILD_EMPTY: lambda: [*build_all, fresh("all"), "--no-cache"],
    }


def command_latency(rounds: int) -> Json:
    """Wall time of each command over ``rounds`` rotated rounds; failures are recorded. The
    commands share a build cache of their own (``RESGEN_CACHE_DIR`` in a scratch folder),
    warmed by the untimed pass."""
    scratch = Path(tempfile.mkdtemp(prefix="resgen-bench-"))
    env = {**os.environ, "RESGEN_CACHE_DIR": str(scratch / "cache")}
    try:
        current = scratch / "current" / "generated"
        run_command([RESGEN, "build", SPECS, "--backend", "all", "--out", current], env=env)
        commands = _commands(scratch, current)
        names = list(commands)
        times: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        loads: list[float] = []
        failures: dict[str, str] = {}
        # one untimed pass: page cache, .pyc files and the build cache warm, as on any second
        # invocation
        for name in names:
            run_command(commands[name](), env=env)
        for index in range(rounds):
            shift = index % len(names)
            loads.append(os.getloadavg()[0])
            for name in names[shift:] + names[:shift]:
                before = _children_cpu_s()
                elapsed, code, output = run_command(commands[name](), env=env)
                if code != 0:
                    failures[name] = f"exit {code}: " + output.strip()[-400:]
                    continue
                times[name].append(elapsed)
                cpu[name].append(_children_cpu_s() - before)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    bare = times[BARE]
    imported = times["python -c 'import resgen'"]
    paired = [a - b for a, b in zip(imported, bare, strict=False)]
    loads.append(os.getloadavg()[0])
    return {
        "rounds": rounds,
        "machine": _machine(),
        "commands_s": {name: summarize(values) for name, values in times.items() if values},
        "commands_cpu_s": {name: summarize(values) for name, values in cpu.items() if values},
        "failures": failures,
        "import_resgen_minus_bare_python_s": summarize(paired),
        "cli_targets": cli_targets(times, cpu),
        "load_1min": {"min": round(min(loads), 2), "max": round(max(loads), 2)},
    }


def _machine() -> Json:
    """The CPU these commands ran on (the page's machine table may come from another run)."""
    from benchmarks import machine

    found = machine.describe()
    return {key: found.get(key) for key in ("cpu_model", "logical_cores", "usable_cores")}


def _children_cpu_s() -> float:
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_targets(times: dict[str, list[float]], cpu: dict[str, list[float]]) -> Json:
    """Issue 22's goals, per round (the commands of a round ran within seconds of each other):
    ``resgen --version`` within 150 ms of a bare interpreter start, and a build of every
    shipped spec for both backends in at most three times ``resgen --version`` (the build with
    its files current and the cache warm; the other builds are given as ratios too). In wall
    time and in CPU time (what the machine's other work does not inflate)."""
    found: Json = {
        "version_minus_bare_goal_s": 0.15,
        "build_over_version_goal": 3.0,
        "goal_build": BUILD_WARM,
        "over_version": {},
    }
    for unit, values in (("wall", times), ("cpu", cpu)):
        version, bare = values[VERSION], values[BARE]
        found[f"version_minus_bare_{unit}_s"] = summarize(
            [v - b for v, b in zip(version, bare, strict=False)]
        )
        for build in BUILDS:
            ratios = [b / v for b, v in zip(values[build], version, strict=False) if v > 0]
            found["over_version"].setdefault(build, {})[unit] = summarize(ratios)
        found[f"build_over_version_{unit}"] = found["over_version"][BUILD_WARM][unit]
    return found


def import_profile() -> Json:
    """``python -X importtime -c 'import resgen'``: total and the heaviest top-level imports,
    and whether importing resgen loaded a framework (it must not)."""
    code = (
        "import sys, resgen; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    _, status, output = run_command([PYTHON, "-X", "importtime", "-c", code])
    rows: list[tuple[str, int, int]] = []
    by_package: dict[str, int] = {}
    frameworks = "unknown"
    for line in output.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            own, cumulative, indent, module = match.groups()
            package = module.split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(own)
            if len(indent) == 1:  # a top-level import (nested ones are indented further)
                rows.append((module, int(own), int(cumulative)))
        elif line.startswith("["):
            frameworks = line.strip()
    total_us = sum(cumulative for _, _, cumulative in rows)
    resgen_us = sum(c for m, _, c in rows if m == "resgen" or m.startswith("resgen."))
    heaviest = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:10]
    return {
        "exit_code": status,
        "frameworks_in_sys_modules_after_import": frameworks,
        "all_imports_ms": round(total_us / 1000, 1),
        "resgen_cumulative_ms": round(resgen_us / 1000, 1),
        "self_time_by_package_ms": {package: round(us / 1000, 1) for package, us in heaviest},
        "note": "one -X importtime run; self-reported by the interpreter, not wall time",
    }


def per_spec_render(reps: int) -> Json:
    """For every shipped spec: load (YAML + validation), plan and render times per backend, the
    size of each generated file, and the spec's depth, parameters and MACs."""
    from resgen.check.validate import find_specs, load_spec
    from resgen.plan.planner import build_plan
    from resgen.rendering.build import source_name
    from resgen.rendering.render import BACKENDS, render

    paths = find_specs([SPECS])
    # first render in this process compiles the templates: timed on its own
    first: dict[str, float | str] = {}
    for backend in BACKENDS:
        spec = load_spec(paths[0])
        start = time.perf_counter()
        try:
            render(spec, backend, source_name(paths[0]))
            first[backend] = time.perf_counter() - start
        except Exception as exc:  # a backend still being written
            first[backend] = f"failed: {type(exc).__name__}: {exc}"
    backends = [b for b in BACKENDS if isinstance(first[b], float)]

    samples: dict[str, dict[str, list[float]]] = {}
    info: dict[str, Json] = {}
    for _ in range(reps):
        for path in paths:
            source = source_name(path)
            row = samples.setdefault(path.stem, {})
            start = time.perf_counter()
            spec = load_spec(path)
            loaded = time.perf_counter()
            plan = build_plan(spec)
            planned = time.perf_counter()
            row.setdefault("load_s", []).append(loaded - start)
            row.setdefault("plan_s", []).append(planned - loaded)
            sizes: dict[str, int] = {}
            for backend in backends:
                begin = time.perf_counter()
                text = render(spec, backend, source, plan)
                row.setdefault(f"render_{backend}_s", []).append(time.perf_counter() - begin)
                sizes[backend] = len(text.encode())
            info[path.stem] = {
                "depth": plan.depth,
                "params": plan.params,
                "macs": plan.macs,
                "blocks": len(plan.blocks),
                "file_bytes": sizes,
            }
    specs: dict[str, Json] = {}
    for name, row in samples.items():
        total = [
            sum(values[i] for values in row.values()) for i in range(len(next(iter(row.values()))))
        ]
        specs[name] = {
            **info[name],
            **{key: summarize(values) for key, values in row.items()},
            "total_s": summarize(total),
        }
    return {
        "reps": reps,
        "backends": backends,
        "first_render_in_process_s": first,
        "sum_of_medians_s": sum(spec["total_s"]["median"] for spec in specs.values()),
        "specs": specs,
    }


def run(quick: bool) -> Json:
    return {
        "command_latency": command_latency(rounds=2 if quick else 7),
        "import_profile": import_profile(),
        "per_spec": per_spec_render(reps=3 if quick else 15),
        "working_directory": str(ROOT.name),
    }


if __name__ == "__main__":
    section_main("generation", run)
