"""How fast the command line answers: cold starts of ``tfxp`` beside ``python -c pass``.

Each command runs in a fresh interpreter (a cold start, as a user types it),
``--repeats`` times after one untimed warm-up (the page cache), interleaved
with the reference so that load on the machine hits both alike. Prints and
writes ``bench/results/cli.json``: median seconds of each command, the
reference's, and the difference (the issue's targets: ``--help`` within 1 s of
``python -c pass``, ``status`` within 2 s).

``status`` reads a small MLMD store made by ``tests/mlmd_fixtures.py``
(three runs of three families), so the figure is the CLI's cost, not MLMD's.

    .venv/bin/python bench/cli_bench.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (print_rows, reproduce_command, row, stats,  # noqa: E402
                          tfxp_path, write_result)

HELP_COMMANDS = ([], ["run"], ["status"], ["report"], ["serve"], ["predict"],
                 ["compile"], ["submit"])
TARGET_HELP_S = 1.0
TARGET_STATUS_S = 2.0


def _time(argv: Sequence[str]) -> float:
    """Wall seconds of one cold start of ``argv``; raises if it fails."""
    start = time.perf_counter()
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(commands: Dict[str, List[str]], repeats: int) -> Dict[str, List[float]]:
    """Seconds per run of each command and of the reference, interleaved."""
    reference = [sys.executable, "-c", "pass"]
    runs: Dict[str, List[float]] = {name: [] for name in ["python -c pass", *commands]}
    for argv in [reference, *commands.values()]:
        _time(argv)  # warm-up: page cache, .pyc files
    for _ in range(repeats):
        runs["python -c pass"].append(_time(reference))
        for name, argv in commands.items():
            runs[name].append(_time(argv))
    return runs


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    from tests.mlmd_fixtures import build_store, several_families
    with tempfile.TemporaryDirectory() as workspace:
        build_store(os.path.join(workspace, "metadata.sqlite"), several_families())
        tfxp = tfxp_path()
        commands = {("tfxp " + " ".join(c + ["--help"])): [tfxp, *c, "--help"]
                    for c in HELP_COMMANDS}
        commands["tfxp status"] = [tfxp, "status", "--workspace", workspace]
        runs = measure(commands, args.repeats)

    reference = statistics.median(runs["python -c pass"])
    rows = []
    for name, times in runs.items():
        if name == "python -c pass":
            continue
        limit = TARGET_STATUS_S if name == "tfxp status" else TARGET_HELP_S
        rows.append(row(f"{name} (median s; reference python -c pass)",
                        statistics.median(times), reference, "s",
                        target=f"<= reference + {limit:g} s", higher_is_better=False))
    print_rows(rows)
    for r in rows:
        print(f"{r['measure'].split(' (')[0]:<28} +{r['ours'] - reference:6.3f} s over python -c pass")
    path = write_result("cli", {"command": reproduce_command(), "repeats": args.repeats,
                                "reference_s": stats(runs["python -c pass"]),
                                "commands": {k: stats(v) for k, v in runs.items()},
                                "rows": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
