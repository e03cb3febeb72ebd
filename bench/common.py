"""Shared benchmark harness: warm-up + repeats, medians, machine info, JSON.

Benchmarks print ratios measured side by side in one run; they are never
timed tests. Results go to ``bench/results/<name>.json``.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

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


def tfxp_path() -> str:
    """The ``tfxp`` entry point beside the running interpreter (the venv's)."""
    return os.path.join(os.path.dirname(sys.executable), "tfxp")


def reproduce_command() -> str:
    """The shell command that reran this process: ``.venv/bin/python <script> <args>``,
    with the script relative to the repository root (for ``"command"`` in results)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.relpath(os.path.abspath(sys.argv[0]), root)
    return " ".join([".venv/bin/python", script, *(shlex.quote(a) for a in sys.argv[1:])])


def stats(values: List[float]) -> Dict[str, object]:
    """``{"median", "min", "max", "runs"}`` of ``values`` (any unit, kept as given).

    Raises:
      statistics.StatisticsError: ``values`` is empty.
    """
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": list(values)}


def row(measure: str, ours: float, reference: Optional[float], unit: str,
        target: Optional[str] = None, higher_is_better: bool = True) -> Dict[str, object]:
    """One entry of a result's ``"rows"`` (the convention the summary reads).

    ``ratio`` is > 1 when ours is better: ``ours / reference`` for a rate
    (``higher_is_better``, e.g. steps/s), ``reference / ours`` for a cost
    (seconds, bytes). None when there is no reference or it is 0.
    """
    ratio = None
    if reference:
        ratio = ours / reference if higher_is_better else (reference / ours if ours else None)
    return {"measure": measure, "ours": ours, "reference": reference, "ratio": ratio,
            "unit": unit, "target": target}


def print_rows(rows: List[Dict[str, object]]) -> None:
    """Prints ``rows`` as a fixed-width table (measure, ours, reference, ratio, unit)."""
    print(f"{'measure':<58}{'ours':>11}{'reference':>11}{'ratio':>8}  unit")
    for r in rows:
        ref = "-" if r["reference"] is None else f"{r['reference']:.4g}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(f"{r['measure'][:57]:<58}{r['ours']:>11.4g}{ref:>11}{ratio:>8}  {r['unit']}")


def latest_run(workspace: str):
    """The newest pipeline run recorded in ``<workspace>/metadata.sqlite``.

    Returns:
      ``(store, run_id, outputs)``: the MLMD store, the run's id and
      ``observability.mlmd.run_outputs`` (``{component: {artifact type: MLMD artifact}}``).
    Raises:
      FileNotFoundError: no MLMD store in ``workspace``.
      LookupError: the store records no run.
    """
    from tfxp.core.workspace import Workspace
    from tfxp.observability import mlmd
    store = mlmd.open_store(Workspace(workspace).metadata_path)
    run_id = mlmd.latest_run(store, workspace)
    return store, run_id, mlmd.run_outputs(store, run_id)


def tfx_artifact(store, artifact):
    """An MLMD artifact proto as a ``tfx.types.Artifact`` (what executors receive)."""
    from tfx.types import artifact_utils
    artifact_type = store.get_artifact_types_by_id([artifact.type_id])[0]
    return artifact_utils.deserialize_artifact(artifact_type, artifact)
