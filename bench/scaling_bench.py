"""Scaling curve: pipeline wall time and peak memory at 1x, 2x, 4x the taxi data.

Usage: .venv/bin/python bench/scaling_bench.py [--factors 1,2,4] [--train-steps N]
           [--beam-preset direct|direct-multiprocess]

For each factor k, the taxi CSV (15,002 rows, in the tfx wheel) is written k
times over under one header into a temporary CSV, and the default pipeline
runs on it (``tfxp run --csv``) in a fresh workspace, with a small fixed
train-step count so that the data-dependent components dominate. Measured
per run: process wall time (seconds, imports included), MLMD wall and
per-component times (seconds), and the peak, over psutil samples every
``--sample-s`` seconds, of the summed RSS (bytes) of the ``tfxp`` process
and all its descendants (shared pages are counted once per process, so the
sum overstates a multi-process tree's real use somewhat).

The slope is the least-squares line through (k, value): seconds (or bytes)
per extra 1x of data; the intercept is the data-independent part. Rows:
``ours`` = the value at the largest factor, ``reference`` = at 1x,
ratio = 1x / largest (1/k for cost linear in data, 1 for constant cost,
higher is better). Writes ``bench/results/scaling.json``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Sequence, Tuple

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (latest_run, print_rows, reproduce_command, row,  # noqa: E402
                          tfxp_path, write_result)


def replicate_csv(src: str, dst: str, factor: int) -> int:
    """Writes ``src``'s header once and its data rows ``factor`` times to
    ``dst``. Returns the number of data rows written. Raises ``OSError``."""
    with open(src, newline="") as f:
        header = f.readline()
        body = f.read()
    if body and not body.endswith("\n"):
        body += "\n"
    with open(dst, "w", newline="") as f:
        f.write(header)
        for _ in range(factor):
            f.write(body)
    return body.count("\n") * factor


def tree_rss(proc: psutil.Process) -> int:
    """Summed RSS (bytes) of ``proc`` and its live descendants; 0 once gone."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            pass
    return total


def run_sampled(argv: Sequence[str], interval_s: float) -> Tuple[float, int]:
    """Runs ``argv``, sampling its process tree's RSS every ``interval_s``.

    Returns:
      (wall seconds, peak summed RSS in bytes).
    Raises:
      subprocess.CalledProcessError: non-zero exit.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(ps))
            done.wait(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if code:
        raise subprocess.CalledProcessError(code, list(argv))
    return wall, peak[0]


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Tuple[float, float]:
    """Least-squares ``y = intercept + slope * x``; returns (slope, intercept).
    Raises ``ValueError`` for fewer than two distinct x."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if not sxx:
        raise ValueError("need at least two distinct factors")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    return slope, mean_y - slope * mean_x


def summarize(runs: Dict[int, Dict[str, object]]) -> Tuple[List[Dict[str, object]],
                                                        Dict[str, Dict[str, float]]]:
    """Rows and least-squares fits (slope per 1x, intercept) of the runs done
    so far, keyed by factor; with one run there is no slope (empty fits)."""
    factors = sorted(runs)
    lo, hi = factors[0], factors[-1]
    measures: List[Tuple[str, str, str]] = [("wall_s", "process wall", "s"),
                                            ("mlmd_wall_s", "MLMD wall", "s"),
                                            ("peak_rss_bytes", "peak tree RSS", "bytes")]
    components = list(runs[lo]["components_s"])
    series = {key: [runs[k][key] for k in factors] for key, _, _ in measures}
    for c in components:
        series[c] = [runs[k]["components_s"].get(c, 0.0) for k in factors]
    fits: Dict[str, Dict[str, float]] = {}
    rows = []
    for key, label, unit in measures + [(c, c, "s") for c in components]:
        values = series[key]
        if hi == lo:
            rows.append(row(f"{label} at {lo}x data", values[0], None, unit))
            continue
        slope, intercept = fit_line(factors, values)
        fits[key] = {"slope_per_1x": slope, "intercept": intercept}
        rows.append(row(f"{label}: {hi}x vs {lo}x data (ratio {lo}x/{hi}x; {lo}/{hi} = linear)",
                        values[-1], values[0], unit, higher_is_better=False))
        rows.append(row(f"{label}: slope per extra 1x of data", slope, None, f"{unit} per 1x"))
    return rows, fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", default="1,2,4")
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--beam-preset", default="direct",
                        choices=("direct", "direct-multiprocess"),
                        help="local Beam preset (pipeline/beam_presets.py); direct is the "
                        "pipeline's default, the in-process FnApiRunner")
    parser.add_argument("--sample-s", type=float, default=0.5)
    parser.add_argument("--keep", action="store_true", help="keep workspaces and CSVs")
    args = parser.parse_args()
    from tfxp.core import env  # noqa: F401
    from tfxp.core.workspace import Workspace
    from tfxp.observability import mlmd
    from tfxp.core.datasets import taxi_csv_dir
    src = os.path.join(taxi_csv_dir(), "data.csv")
    factors = [int(f) for f in args.factors.split(",")]
    scratch = tempfile.mkdtemp(prefix="scaling-bench-")
    runs: Dict[int, Dict[str, object]] = {}
    for k in factors:
        csv_path = os.path.join(scratch, f"taxi_x{k}.csv")
        rows_written = replicate_csv(src, csv_path, k)
        workspace = os.path.join(scratch, f"ws_x{k}")
        argv = [tfxp_path(), "run", "--workspace", workspace, "--csv", csv_path,
                "--train-steps", str(args.train_steps), "--eval-steps", str(args.eval_steps),
                "--beam-preset", args.beam_preset]
        print(f"[x{k}] {rows_written} rows:", " ".join(argv), flush=True)
        wall, peak = run_sampled(argv, args.sample_s)
        _, run_id, _ = latest_run(workspace)
        summary = mlmd.run_summary(mlmd.open_store(Workspace(workspace).metadata_path),
                                   run_id, with_metrics=False)
        runs[k] = {"rows": rows_written, "wall_s": wall, "mlmd_wall_s": summary.wall_seconds,
                   "peak_rss_bytes": peak,
                   "components_s": {c.component: c.seconds for c in summary.components}}
        print(f"[x{k}] wall {wall:.1f} s, MLMD wall {summary.wall_seconds:.1f} s, "
              f"peak RSS {peak / 2**30:.2f} GiB", flush=True)
        # Written after every factor, so a cut-short run keeps what it measured.
        rows, fits = summarize(runs)
        path = write_result("scaling", {
            "command": reproduce_command(), "rows": rows,
            "details": {"factors_done": sorted(runs), "factors": factors,
                        "runs": {str(f): v for f, v in runs.items()}, "fits": fits,
                        "settings": vars(args)}})
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    print_rows(rows)
    print("written:", path)


if __name__ == "__main__":
    main()
