"""Runs every benchmark, then writes ``bench/results/SUMMARY.md`` from all results.

Usage:
  .venv/bin/python bench/run_all.py [--quick] [--only transform,serving,...]
      [--summary-only] [-- EXTRA]

Each benchmark is a script in ``bench/`` run as its own process (one after
the other, never at the same time: they would skew each other's timings),
with the arguments in ``BENCHES`` (``--quick``: small sizes, minutes
instead of tens of minutes). A benchmark that fails is reported and the others
still run; the exit status is 1 if any failed.

The summary reads every ``bench/results/*.json`` that has the shared
``"rows"`` (``{"measure", "ours", "reference", "ratio", "unit", "target"}``)
and writes one markdown table per benchmark, with the command that reproduces
it and the machine it ran on (CPUs, memory, load average, versions).
``pipeline.json`` (per-component MLMD seconds per Beam mode, no rows) gets a
table of its own. ``--summary-only`` rewrites the summary without running
anything.
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")

DRIFT_WORKSPACE = os.path.join(tempfile.gettempdir(), "tfxp-drift-bench-ws")

# name -> (script, full-size args, --quick args). Scripts missing from this
# checkout (another helper's) are skipped with a note.
BENCHES: Dict[str, tuple] = {
    "pipeline": ("pipeline_bench.py", [], ["--train-steps", "20"]),
    "transform": ("transform_bench.py", [], ["--examples", "7000", "--repeats", "5"]),
    "serving": ("serving_bench.py", [], ["--repeats", "5", "--duration", "1", "--iters", "60"]),
    "score": ("score_bench.py", ["--repeats", "3"],
              ["--rows", "2000", "--images", "200", "--texts", "500"]),
    "trainer": ("trainer_bench.py", [], ["--quick"]),
    "overhead": ("overhead_bench.py", [], ["--quick"]),
    "scaling": ("scaling_bench.py", [], ["--quick"]),
    "gpu": ("gpu_bench.py", [], ["--repeats", "5", "--gpu-epoch-fraction", "0.5"]),
    # --prepare trains a 30-step dense model into the workspace the first time.
    "drift": ("drift_bench.py", ["--workspace", DRIFT_WORKSPACE, "--prepare"],
              ["--workspace", DRIFT_WORKSPACE, "--prepare", "--sizes", "10000"]),
}


def run_benches(names: List[str], quick: bool, python: str) -> Dict[str, Optional[int]]:
    """Runs each named benchmark script; returns ``{name: exit status}`` (None:
    the script is not in this checkout). Output streams to this terminal."""
    status: Dict[str, Optional[int]] = {}
    for name in names:
        script, full, small = BENCHES[name]
        path = os.path.join(BENCH_DIR, script)
        if not os.path.exists(path):
            print(f"== {name}: {script} not in this checkout, skipped", flush=True)
            status[name] = None
            continue
        argv = [python, path, *(small if quick else full)]
        print(f"== {name}: {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        status[name] = subprocess.call(argv, cwd=ROOT)
        print(f"== {name}: exit {status[name]} after {time.perf_counter() - started:.0f} s",
              flush=True)
    return status


def _fmt(value) -> str:
    """A table cell: floats below 1 to 4 significant digits (AUCs and
    accuracies differ in the third decimal), to 2 decimals below 100, else
    whole and thousands separated."""
    if value is None:
        return ""
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _machine(machine: Dict) -> str:
    keys = ("cpus", "memory_bytes", "loadavg", "platform", "python", "tensorflow", "tfx",
            "tensorflow-transform", "apache-beam", "tensorflow-model-analysis")
    parts = []
    for key in keys:
        if key not in machine:
            continue
        value = machine[key]
        if key == "memory_bytes":
            value = f"{value / 2**30:.0f} GiB"
        elif key == "loadavg":
            value = "/".join(f"{v:.2f}" for v in value) + " (1/5/15 min)"
        parts.append(f"{key} {value}")
    return "; ".join(parts)


def _pipeline_section(data: Dict) -> List[str]:
    modes = data.get("modes", {})
    if not modes:
        return []
    components = list(next(iter(modes.values())).get("components_s", {}))
    lines = ["| component (s) | " + " | ".join(modes) + " |",
             "|---|" + "---:|" * len(modes)]
    for c in components:
        lines.append(f"| {c} | " + " | ".join(
            _fmt(float(m["components_s"].get(c, 0.0))) for m in modes.values()) + " |")
    for key in ("wall_s", "cached_rerun_wall_s", "ratio_to_fastest"):
        lines.append(f"| **{key}** | " + " | ".join(
            _fmt(float(m[key])) if key in m else "" for m in modes.values()) + " |")
    return lines


def summary_markdown(results_dir: str = RESULTS_DIR) -> str:
    """The markdown summary of every result JSON in ``results_dir``.

    Returns:
      Markdown text: one section per ``<name>.json`` (sorted by name) with
      its rows as a table (measure, ours, reference, ratio, target, unit),
      the reproducing command, extra notes (``recommendation``, ``skipped``,
      ``notes``) and the machine line. Files without rows or ``modes`` are
      listed as not summarised.
    """
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Benchmark summary", "",
           f"Generated {now} by `.venv/bin/python bench/run_all.py --summary-only` from "
           f"`bench/results/*.json`. Ratios: > 1 is better for ours (the TFX / served "
           f"path) against the reference (the direct path); each measure says its "
           f"direction. Medians over the repeats each command asks for, measured side by "
           f"side in one run per benchmark; the load average (runnable processes, "
           f"against the CPU count) shows how busy the machine was.", ""]
    skipped = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            skipped.append(f"{name} (unreadable: {err})")
            continue
        rows = data.get("rows")
        pipeline_lines = [] if rows else _pipeline_section(data)
        if not rows and not pipeline_lines:
            skipped.append(f"{name} (no rows)")
            continue
        out += [f"## {name}", ""]
        if rows:
            out += ["| measure | ours | reference | ratio | target | unit |",
                    "|---|---:|---:|---:|---|---|"]
            for r in rows:
                if "measure" not in r and "best_val" in r:   # bench/hparam_sweep.py's rows
                    r = {"measure": f"best validation {data.get('metric', 'accuracy')} of "
                                    f"{json.dumps(r.get('overrides', {}))} (step "
                                    f"{r.get('best_step')}, seed {data.get('seed')})",
                         "ours": r["best_val"], "unit": data.get("metric", "accuracy")}
                out.append("| " + " | ".join(_fmt(r.get(k)) for k in (
                    "measure", "ours", "reference", "ratio", "target", "unit")) + " |")
        else:
            out += pipeline_lines
        out.append("")
        command = data.get("command") or (
            ".venv/bin/python bench/pipeline_bench.py" if name == "pipeline" else None)
        if command:
            out += [f"Command: `{command}`", ""]
        for key in ("recommendation", "notes"):
            if data.get(key):
                out += [f"{key.capitalize()}: {data[key]}", ""]
        if data.get("skipped"):
            out += ["Skipped: " + "; ".join(f"{k}: {v}" for k, v in data["skipped"].items()),
                    ""]
        if data.get("machine"):
            out += [f"Machine: {_machine(data['machine'])}", ""]
    if skipped:
        out += ["## Not summarised", "", *[f"- {s}" for s in skipped], ""]
    return "\n".join(out)


def write_summary(results_dir: str = RESULTS_DIR) -> str:
    """Writes ``summary_markdown`` to ``<results_dir>/SUMMARY.md``; returns the path."""
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, "SUMMARY.md")
    with open(path, "w") as f:
        f.write(summary_markdown(results_dir))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHES)}")
    parser.add_argument("--summary-only", action="store_true",
                        help="rewrite SUMMARY.md from the existing results, run nothing")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the scripts (default: this one)")
    args = parser.parse_args(argv)
    names = list(BENCHES)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHES]
        if unknown:
            parser.error(f"--only {','.join(unknown)}: unknown; expected some of "
                         f"{', '.join(BENCHES)}")
    failed = []
    if not args.summary_only:
        status = run_benches(names, args.quick, args.python)
        failed = [n for n, rc in status.items() if rc not in (0, None)]
    path = write_summary()
    print(f"wrote {path}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
