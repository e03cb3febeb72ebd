"""Held-out quality of each family's latest run, read back from MLMD, against
the goals of issue 3 ("Quality").

Usage: .venv/bin/python bench/quality_table.py --workspace WS [--workspace WS ...]
           [--baseline bench/results/taxi_baseline.json] [--out quality]

For every ``<family>-pipeline`` found in the given workspaces, the latest run
whose Evaluator finished is summarised: the TFMA metrics on the whole eval
split (``example_count`` is its size), the Trainer's ``train_args.num_steps``,
the hparam overrides in the Trainer's ``custom_config``, blessing, the wall
time (first component start to last component update, seconds, from MLMD)
and ``trainer_s``, the Trainer component's seconds (MLMD).

Goals (issue 16): accuracy on the held-out eval split (``binary_accuracy``
for the binary text tasks, ``sparse_categorical_accuracy`` for
Fashion-MNIST); ResNet's Trainer also within ``RESNET_TRAINER_BUDGET_S``; for
Dense on taxi, TFMA AUC >= the better of scikit-learn's LogisticRegression
and HistGradientBoostingClassifier AUCs in ``--baseline``
(``bench/taxi_baseline.py``; only compared when the baseline was computed on
that same run). Writes ``bench/results/<out>.json``; prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401
from tfxp.core.workspace import Workspace  # noqa: E402
from bench.common import write_result  # noqa: E402
from tfxp.observability import mlmd  # noqa: E402

# family -> (dataset, eval split, metric, goal); goal None = compared to baseline.
GOALS = {
    "cnn": ("fashion_mnist", "Fashion-MNIST test (10,000)", "sparse_categorical_accuracy", 0.925),
    "resnet": ("fashion_mnist", "Fashion-MNIST test (10,000)", "sparse_categorical_accuracy", 0.93),
    "lstm": ("rotten_tomatoes", "Rotten Tomatoes held-out movies", "binary_accuracy", 0.76),
    "transformer": ("rotten_tomatoes", "Rotten Tomatoes held-out movies", "binary_accuracy", 0.76),
    "dense": ("chicago_taxi", "taxi eval hash split (3/9)", "auc", None),
}
RESNET_TRAINER_BUDGET_S = 45 * 60


def family_row(store, pipeline: str, workspace: str,
               baseline: Optional[Dict[str, object]]) -> Optional[Dict[str, object]]:
    """The row for ``pipeline``'s latest run with Evaluator metrics, or None."""
    family = pipeline.rsplit("-pipeline", 1)[0]
    if family not in GOALS:
        return None
    dataset, split, metric, goal = GOALS[family]
    for _, run in reversed(mlmd.list_runs(store, pipeline)):
        summary = mlmd.run_summary(store, run)
        overall = summary.metrics.get("Overall", {})
        if metric not in overall:
            continue
        trainer = mlmd.run_exec_properties(store, run, "Trainer")
        steps = json.loads(trainer.get("train_args") or "{}").get("num_steps")
        custom = json.loads(trainer.get("custom_config") or "{}")
        row = {"family": family, "dataset": dataset, "eval_split": split,
               "eval_examples": overall.get("example_count"), "metric": metric,
               "value": overall[metric],
               "accuracy": overall.get("binary_accuracy",
                                       overall.get("sparse_categorical_accuracy")),
               "auc": overall.get("auc"), "goal": goal, "train_steps": steps,
               "hparam_overrides": custom.get("hparams") or {},
               "epochs_override": custom.get("epochs"),
               "blessed": summary.blessed, "wall_s": round(summary.wall_seconds, 1),
               "trainer_s": next((round(c.seconds, 1) for c in summary.components
                                  if c.component == "Trainer"), None),
               "workspace": workspace, "run_id": run}
        if goal is None:
            same_run = baseline and baseline.get("run_id") == run
            row["goal"] = (max(baseline["sklearn_logreg_auc"], baseline["sklearn_hgb_auc"])
                           if same_run else None)
            row["goal_text"] = "AUC >= max(sklearn LogisticRegression, HistGradientBoosting)" + (
                f" ({row['goal']:.4f})" if same_run else " (not computed)")
        else:
            row["goal_text"] = f"{metric} >= {goal}"
        row["met"] = None if row["goal"] is None else bool(row["value"] >= row["goal"])
        if family == "resnet" and row["met"] and row["trainer_s"] is not None:
            row["met"] = row["trainer_s"] <= RESNET_TRAINER_BUDGET_S
            row["goal_text"] += f", Trainer <= {RESNET_TRAINER_BUDGET_S // 60} min"
        return row
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", action="append", required=True)
    parser.add_argument("--baseline", default=None,
                        help="taxi_baseline.json (default: none)")
    parser.add_argument("--out", default="quality")
    args = parser.parse_args(argv)
    baseline = None
    if args.baseline:
        with open(args.baseline) as f:
            baseline = json.load(f)
    rows: List[Dict[str, object]] = []
    for workspace in args.workspace:
        store = mlmd.open_store(Workspace(workspace).metadata_path)
        for pipeline in sorted({name for name, _ in mlmd.list_runs(store)}):
            row = family_row(store, pipeline, workspace, baseline)
            if row:
                rows.append(row)
    order = list(GOALS)
    rows.sort(key=lambda r: order.index(r["family"]))
    print("| family | eval split (examples) | accuracy | AUC | goal | met | train steps "
          "| Trainer | wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        auc = "-" if r["auc"] is None else f"{r['auc']:.4f}"
        met = {None: "?", True: "yes", False: "no"}[r["met"]]
        print(f"| {r['family']} | {r['eval_split']} ({r['eval_examples']:.0f}) | "
              f"{r['accuracy']:.4f} | {auc} | {r['goal_text']} | {met} | "
              f"{r['train_steps']} | {mlmd.format_duration(r['trainer_s'] or 0)} | "
              f"{mlmd.format_duration(r['wall_s'])} |")
    print("wrote", write_result(args.out, {"families": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
