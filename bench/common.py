"""Shared benchmark harness: warm-up + repeats, medians, machine info, JSON.

Benchmarks print ratios measured side by side in one run; they are never
timed tests. Results go to ``bench/results/<name>.json``.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Callable, Dict, List

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def machine_info() -> Dict[str, object]:
    """CPU count, memory (bytes), load average when written (1/5/15 min, the
    number of runnable processes: other work on the machine skews timings),
    platform and the stack's versions."""
    import importlib.metadata as md
    info = {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "loadavg": list(os.getloadavg())}
    try:
        info["memory_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    for pkg in ("tfx", "tensorflow", "tensorflow-transform", "apache-beam",
                "tensorflow-model-analysis"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return info


def repeat(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> Dict[str, float]:
    """Times ``fn`` (seconds): ``warmup`` untimed calls, then ``repeats`` timed.

    Returns ``{"median", "min", "max", "runs"}`` in seconds.
    """
    for _ in range(warmup):
        fn()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "runs": times}


def write_result(name: str, result: Dict[str, object]) -> str:
    """Writes ``result`` plus machine info to ``bench/results/<name>.json``."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"machine": machine_info(), **result}, f, indent=2)
    return path
