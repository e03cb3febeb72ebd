"""K-fold cross-validation of the Dense family against scikit-learn's
gradient-boosted trees, on the taxi train + validation splits only.

Usage: .venv/bin/python bench/dense_cv.py --workspace WS [--folds 5]
           [--steps 2100] [--every 300] [--out dense_cv]

Why cross-validation: the validation split holds ~1,650 taxi rows (~380
positives), so one AUC on it has a standard error of about 0.005, larger
than the differences the Dense defaults are chosen on. Folds of train +
validation (~10k rows) average that noise away, and the held-out ``eval``
split stays unread (``bench.hparam_sweep.load_split`` refuses it).

Reads the transformed ``train`` and ``validation`` splits of the latest
Transform output of ``dense-pipeline`` in ``WS`` (``tfxp run --model dense``
made them), joins them, and cuts ``--folds`` stratified folds
(``sklearn.model_selection.StratifiedKFold``, shuffled, seed 0). On each
fold it fits:

- ``HistGradientBoostingClassifier`` as ``bench/taxi_baseline.py`` does (the
  quality goal's anchor): numerics as they are, categorical ids with native
  splits, scikit-learn's defaults, 10 % early-stopping hold-out, seed 0;
- each Dense variant below, built by ``models.registry`` with the same
  ``resolve_hparams`` as ``run_fn``, trained with ``fit`` at the family's
  batch (128) and scored (``sklearn.metrics.roc_auc_score``) every
  ``--every`` steps.

The variants retrace how the defaults were reached (``models/registry.py``):
``one_hot`` (the defaults before: z-scores and one-hot categoricals, dropout
0.3, constant lr), ``+numeric_buckets`` (the same with the quantile buckets
of ``core.features.NUMERIC_BUCKETS``), ``default`` (the family's defaults:
buckets, 8-wide categorical embeddings, dropout 0.5, cosine lr). The
variants without buckets drop the ``*_bucket_xf`` inputs.

Prints the mean AUC per variant and step beside the trees', and writes
``bench/results/<out>.json`` with every fold's curve.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401
from bench.common import reproduce_command, write_result  # noqa: E402

# name -> (hparam overrides on the family's defaults, keep the numeric buckets)
VARIANTS = {
    "one_hot": ({"dropout": 0.3, "lr_schedule": {"name": "constant"},
                 "categorical_embedding_dim": 0}, False),
    "+numeric_buckets": ({"dropout": 0.3, "lr_schedule": {"name": "constant"},
                          "categorical_embedding_dim": 0}, True),
    "default": ({}, True),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2100)
    parser.add_argument("--every", type=int, default=300)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument("--out", default="dense_cv")
    args = parser.parse_args(argv)
    if args.folds < 2 or args.every < 1 or args.steps < args.every:
        parser.error("need --folds >= 2 and --steps >= --every >= 1")

    import numpy as np
    import tensorflow as tf
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from bench.hparam_sweep import load_transformed
    from bench.taxi_baseline import id_matrix
    from tfxp.core import features as F
    from tfxp.core.datasets import get_dataset
    from tfxp.models.registry import get_family
    from tfxp.models.training import resolve_hparams

    family, dataset = get_family("dense"), get_dataset("chicago_taxi")
    data = load_transformed(args.workspace, "dense-pipeline")
    examples_uri, tft_output = data.examples_uri, data.tft_output
    parts = [data.train, data.validation]
    columns = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    labels = np.concatenate([p[1] for p in parts])
    smallest_class = int(np.bincount(labels).min())
    if args.folds > smallest_class:
        parser.error(f"--folds {args.folds} is more than the {smallest_class} examples of the "
                     f"rarer class in train + validation ({len(labels)} examples)")
    base = resolve_hparams(family, dataset, tft_output)
    numeric, categorical = base["numeric_features"], base["categorical_features"]
    bucketed = {F.numeric_bucket_name(k) for k in F.NUMERIC_FEATURES}

    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    steps = list(range(args.every, args.steps + 1, args.every))
    results = {"hgb": [], **{v: [] for v in args.variants}}
    start = time.time()
    for fold, (train_rows, test_rows) in enumerate(folds.split(labels, labels)):
        train = {k: v[train_rows] for k, v in columns.items()}
        test = {k: v[test_rows] for k, v in columns.items()}
        x, is_categorical = id_matrix(train, numeric, categorical)
        trees = HistGradientBoostingClassifier(
            categorical_features=is_categorical, early_stopping=True,
            validation_fraction=0.1, random_state=0).fit(x, labels[train_rows])
        results["hgb"].append(float(roc_auc_score(
            labels[test_rows], trees.predict_proba(id_matrix(test, numeric, categorical)[0])[:, 1])))
        for name in args.variants:
            overrides, keep_buckets = VARIANTS[name]
            tf.keras.utils.set_random_seed(0)
            hparams = resolve_hparams(family, dataset, tft_output, overrides)
            if not keep_buckets:
                hparams["categorical_features"] = {
                    k: v for k, v in categorical.items() if k not in bucketed}
            hparams["steps_per_execution"] = args.every
            hparams["total_steps"] = args.steps
            model = family.build_model(hparams)
            inputs = list(model.input_names)
            data = (tf.data.Dataset.from_tensor_slices(
                ({k: train[k] for k in inputs}, labels[train_rows]))
                .shuffle(len(train_rows), seed=0).repeat().batch(family.per_replica_batch))
            curve = []
            for _ in steps:
                model.fit(data, steps_per_epoch=args.every, epochs=1, verbose=0)
                scores = model.predict({k: test[k] for k in inputs}, batch_size=1024,
                                       verbose=0)[:, 1]
                curve.append(float(roc_auc_score(labels[test_rows], scores)))
            results[name].append(curve)
        print(f"fold {fold}: hgb {results['hgb'][-1]:.4f} " + " ".join(
            f"{n} {max(results[n][-1]):.4f}" for n in args.variants), flush=True)

    summary = {"hgb_mean_auc": float(np.mean(results["hgb"])), "variants": {}}
    print(f"\nmean AUC over {args.folds} folds; hgb {summary['hgb_mean_auc']:.4f}")
    print("variant".ljust(18) + "".join(f"{s:>8d}" for s in steps))
    for name in args.variants:
        mean = np.mean(np.array(results[name]), axis=0)
        summary["variants"][name] = {"mean_auc_by_step": [round(float(a), 5) for a in mean],
                                     "overrides": VARIANTS[name][0],
                                     "numeric_buckets": VARIANTS[name][1]}
        print(name.ljust(18) + "".join(f"{a:8.4f}" for a in mean))
    rows = [{"measure": f"mean {args.folds}-fold AUC of Dense '{name}' at its best step "
                        f"({steps[int(np.argmax(v['mean_auc_by_step']))]}) vs "
                        f"HistGradientBoosting", "ours": max(v["mean_auc_by_step"]),
             "reference": summary["hgb_mean_auc"],
             "ratio": max(v["mean_auc_by_step"]) / summary["hgb_mean_auc"],
             "target": "default >= the trees", "unit": "AUC"}
            for name, v in summary["variants"].items()]
    write_result(args.out, {
        "rows": rows,
        "examples_uri": examples_uri, "examples": int(len(labels)),
        "positive_share": float(labels.mean()), "folds": args.folds, "steps": steps,
        "batch": family.per_replica_batch, "defaults": dict(family.hparams),
        "summary": summary, "per_fold": results, "seconds": round(time.time() - start, 1),
        "command": reproduce_command()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
