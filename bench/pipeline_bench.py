"""Times the default pipeline run, per component from MLMD, for each local
Beam preset side by side (``direct``: FnApiRunner in-process, the default;
``direct-multiprocess``: DirectRunner, one worker process per core), plus a
cached rerun.

Usage: .venv/bin/python bench/pipeline_bench.py [--train-steps N] [--modes direct,direct-multiprocess]

Each mode runs in a fresh workspace in a subprocess (``tfxp run``), so import
time is included in the wall time as a user would see it. Prints a table and
the ratio of each mode's wall time to the fastest; writes
``bench/results/pipeline.json``. Whole pipeline runs take minutes, so this
times one run per mode (no repeats); rerun to see the spread.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import reproduce_command, write_result  # noqa: E402
from tfxp.core import env  # noqa: E402,F401
from tfxp.core.workspace import Workspace  # noqa: E402
from tfxp.observability import mlmd  # noqa: E402

TFXP = os.path.join(os.path.dirname(sys.executable), "tfxp")


def _run(workspace: str, mode: str, extra) -> tuple[float, mlmd.RunSummary]:
    argv = [TFXP, "run", "--workspace", workspace, "--beam-preset", mode, *extra]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    store = mlmd.open_store(Workspace(workspace).metadata_path)
    run_id = mlmd.list_runs(store)[-1][1]
    return wall, mlmd.run_summary(store, run_id, with_metrics=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="direct,direct-multiprocess",
                        help="comma-separated Beam presets (pipeline/beam_presets.py)")
    parser.add_argument("--train-steps", type=int, help="default: the family's")
    args = parser.parse_args()
    extra = ["--train-steps", str(args.train_steps)] if args.train_steps else []
    results = {}
    for mode in args.modes.split(","):
        workspace = tempfile.mkdtemp(prefix=f"bench-{mode}-")
        wall, summary = _run(workspace, mode, extra)
        cached_wall, _ = _run(workspace, mode, extra)
        results[mode] = {"wall_s": wall, "cached_rerun_wall_s": cached_wall,
                         "components_s": {c.component: c.seconds for c in summary.components}}
    fastest = min(r["wall_s"] for r in results.values())
    components = list(next(iter(results.values()))["components_s"])
    print(f"{'component (s)':<32}" + "".join(f"{m:>18}" for m in results))
    for c in components:
        print(f"{c:<32}" + "".join(f"{r['components_s'].get(c, 0):>18.1f}" for r in results.values()))
    for key in ("wall_s", "cached_rerun_wall_s"):
        print(f"{key:<32}" + "".join(f"{r[key]:>18.1f}" for r in results.values()))
    for mode, r in results.items():
        r["ratio_to_fastest"] = r["wall_s"] / fastest
        print(f"{mode}: wall {r['wall_s']:.0f} s = {r['ratio_to_fastest']:.2f}x the fastest mode; "
              f"target < 180 s: {'met' if r['wall_s'] < 180 else 'NOT met'}")
    print("written:", write_result("pipeline", {"command": reproduce_command(), "modes": results}))


if __name__ == "__main__":
    main()
