"""Scikit-learn baselines for the Dense family on taxi (logistic regression
and gradient-boosted trees), on exactly the split and the features the
pipeline's Dense model used.

Usage: .venv/bin/python bench/taxi_baseline.py --workspace /work/ws-quality [--run RUN_ID]

What it reads, from the workspace's MLMD (``observability/mlmd.py``):
- the latest successful ``dense-pipeline`` run (or ``--run``);
- that run's Transform output ``transformed_examples``, splits ``train`` and
  ``eval``: the exact features the Dense model was trained and evaluated on
  (TFT's z-scored numerics and integer bucket / vocabulary ids), plus the
  label ``label_xf`` (1 = big tipper, ``tips > 0.2 * fare``);
- that run's Evaluator output: the Dense model's TFMA AUC on the eval split.

The baseline sees the same inputs as the Dense model, encoded the same way
(``models.training.resolve_hparams`` gives the feature list and each
categorical cardinality): the float32 numerics as they are, each int64
categorical one-hot over ``[0, cardinality)``, as ``CategoryEncoding`` does
in ``models/dense.py``. It fits ``sklearn.linear_model.LogisticRegression``
(L2, C=1.0, lbfgs, scikit-learn's defaults; ``max_iter`` raised so that it
converges) on train and scores ``sklearn.metrics.roc_auc_score`` on eval
(ROC AUC, trapezoidal, exact over all thresholds; TFMA's AUC uses 10,000
thresholds, so the two agree to about 1e-4 on the same scores).

The second baseline, ``sklearn.ensemble.HistGradientBoostingClassifier``, is
the strongest cheap tabular learner scikit-learn has; it takes the numerics
as they are and each categorical as its integer id with native categorical
splits (``categorical_features``; every id is below its 255-bin limit), 10%
of train held out for its early stopping, ``random_state=0``.

Prints both AUCs side by side and writes ``bench/results/taxi_baseline.json``.
Exits with an error naming the workspace when it holds no finished dense run.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TF loads)
from tfxp.core.workspace import Workspace  # noqa: E402
from bench.common import write_result  # noqa: E402
from tfxp.observability import mlmd  # noqa: E402

PIPELINE = "dense-pipeline"


def latest_dense_run(store, run_id: str | None = None) -> str:
    """Run id of ``run_id`` if given, else the newest ``dense-pipeline`` run
    whose components all finished (COMPLETE or CACHED).

    Raises:
      LookupError: no such run in the store.
    """
    runs = [run for name, run in mlmd.list_runs(store, PIPELINE)]
    if run_id is not None:
        if run_id not in runs:
            raise LookupError(f"no {PIPELINE} run {run_id!r} in MLMD; known: {runs}")
        return run_id
    for run in reversed(runs):
        if mlmd.run_summary(store, run, with_metrics=False).state == "ok":
            return run
    raise LookupError(f"no finished {PIPELINE} run in MLMD (runs: {runs}); "
                      f"run `tfxp run --model dense` first")


def read_split(examples_uri: str, split: str, feature_spec) -> Dict[str, "object"]:
    """All transformed examples of one split as numpy arrays.

    Args:
      examples_uri: the ``transformed_examples`` artefact folder.
      split: ``'train'`` or ``'eval'`` (folder ``Split-<split>``).
      feature_spec: ``tft.TFTransformOutput.transformed_feature_spec()``.
    Returns:
      ``{feature name: np.ndarray [N]}`` (float32 or int64, as in the spec).
    Raises:
      FileNotFoundError: the split folder holds no files.
    """
    import numpy as np
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no transformed examples under {examples_uri}/Split-{split}")
    dataset = (tf.data.TFRecordDataset(files, compression_type="GZIP")
               .batch(4096).map(lambda x: tf.io.parse_example(x, feature_spec)))
    parts: Dict[str, List] = {}
    for batch in dataset:
        for name, value in batch.items():
            parts.setdefault(name, []).append(np.reshape(value.numpy(), (-1,)))
    return {name: np.concatenate(values) for name, values in parts.items()}


def design_matrix(columns, numeric: List[str], categorical: Dict[str, int]):
    """Numerics as they are, categoricals one-hot: float64 CSR ``[N, F]``.

    ``F = len(numeric) + sum(categorical.values())``.

    Raises:
      ValueError: a categorical id outside ``[0, cardinality)``.
    """
    import numpy as np
    from scipy import sparse

    blocks = [sparse.csr_matrix(np.stack([columns[n] for n in numeric], axis=1)
                                .astype(np.float64))]
    for name, cardinality in categorical.items():
        ids = columns[name].astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= cardinality):
            raise ValueError(f"feature {name!r} has ids in [{ids.min()}, {ids.max()}], "
                             f"expected [0, {cardinality})")
        blocks.append(sparse.csr_matrix(
            (np.ones(ids.size), (np.arange(ids.size), ids)), shape=(ids.size, cardinality)))
    return sparse.hstack(blocks, format="csr")


def id_matrix(columns, numeric: List[str], categorical: Dict[str, int]):
    """Numerics, then categorical ids as they are: float64 ``[N, F]`` and the
    boolean mask of categorical columns, for ``HistGradientBoostingClassifier``.

    Raises:
      ValueError: a categorical with more ids than the model's 255 bins.
    """
    import numpy as np

    too_many = {n: c for n, c in categorical.items() if c > 255}
    if too_many:
        raise ValueError(f"categoricals with more than 255 ids: {too_many}")
    x = np.stack([columns[n].astype(np.float64) for n in numeric]
                 + [columns[n].astype(np.float64) for n in categorical], axis=1)
    return x, np.array([False] * len(numeric) + [True] * len(categorical))


def baseline_auc(workspace: str, run_id: str | None = None) -> Dict[str, object]:
    """Fits the baseline on the run's train split, scores both models on eval.

    Returns:
      a JSON-ready dict: run id, example counts, positive share of eval,
      ``sklearn_logreg_auc``, ``dense_tfma_auc``, ``dense_minus_logreg``, and
      the artefact URIs read.
    Raises:
      FileNotFoundError / LookupError: no store or no finished dense run.
      KeyError: the run has no Transform or Evaluator output.
    """
    import numpy as np
    import tensorflow_transform as tft
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from tfxp.core import features as F
    from tfxp.models.registry import get_family
    from tfxp.models.training import resolve_hparams
    from tfxp.core.datasets import get_dataset

    store = mlmd.open_store(Workspace(workspace).metadata_path)
    run = latest_dense_run(store, run_id)
    outputs = mlmd.run_outputs(store, run)
    transform = outputs.get("Transform", {})
    if "Examples" not in transform or "TransformGraph" not in transform:
        raise KeyError(f"run {run!r} has no Transform output (transformed_examples, "
                       f"transform_graph); components: {sorted(outputs)}")
    examples_uri = transform["Examples"].uri
    tft_output = tft.TFTransformOutput(transform["TransformGraph"].uri)
    hparams = resolve_hparams(get_family("dense"), get_dataset("chicago_taxi"), tft_output)
    numeric, categorical = hparams["numeric_features"], hparams["categorical_features"]

    spec = tft_output.transformed_feature_spec()
    start = time.perf_counter()
    train = read_split(examples_uri, "train", spec)
    evaluation = read_split(examples_uri, "eval", spec)
    x_train = design_matrix(train, numeric, categorical)
    x_eval = design_matrix(evaluation, numeric, categorical)
    y_train = train[F.TRANSFORMED_LABEL]
    y_eval = evaluation[F.TRANSFORMED_LABEL]
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    auc = float(roc_auc_score(y_eval, model.predict_proba(x_eval)[:, 1]))
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    ids_train, is_categorical = id_matrix(train, numeric, categorical)
    ids_eval, _ = id_matrix(evaluation, numeric, categorical)
    trees = HistGradientBoostingClassifier(
        categorical_features=is_categorical, early_stopping=True, validation_fraction=0.1,
        random_state=0).fit(ids_train, y_train)
    hgb_auc = float(roc_auc_score(y_eval, trees.predict_proba(ids_eval)[:, 1]))
    hgb_seconds = time.perf_counter() - start

    summary = mlmd.run_summary(store, run)
    dense_auc = summary.metrics.get("Overall", {}).get("auc")
    if dense_auc is None:
        raise KeyError(f"run {run!r} has no Overall TFMA auc; metrics: {summary.metrics}")
    return {
        "run_id": run, "pipeline": PIPELINE,
        "transformed_examples": examples_uri,
        "train_examples": int(y_train.size), "eval_examples": int(y_eval.size),
        "eval_positive_share": float(np.mean(y_eval)),
        "tfma_example_count": summary.metrics["Overall"].get("example_count"),
        "features": {"numeric": list(numeric), "one_hot": dict(categorical),
                     "columns": int(x_train.shape[1])},
        "baseline": "sklearn LogisticRegression(C=1.0, L2, lbfgs, max_iter=2000)",
        "sklearn_logreg_auc": auc, "dense_tfma_auc": float(dense_auc),
        "dense_minus_logreg": float(dense_auc) - auc,
        "dense_beats_logreg": float(dense_auc) >= auc,
        "baseline_seconds": fit_seconds,
        "hgb_baseline": ("sklearn HistGradientBoostingClassifier(native categoricals, "
                         "early_stopping, validation_fraction=0.1, random_state=0)"),
        "hgb_iterations": int(trees.n_iter_),
        "sklearn_hgb_auc": hgb_auc,
        "dense_minus_hgb": float(dense_auc) - hgb_auc,
        "hgb_seconds": hgb_seconds,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default="workspace",
                        help="workspace whose MLMD holds a dense run (default: workspace)")
    parser.add_argument("--run", default=None,
                        help="dense-pipeline run id (default: the latest finished one)")
    args = parser.parse_args(argv)
    try:
        result = baseline_auc(args.workspace, args.run)
    except (FileNotFoundError, LookupError, KeyError, ValueError) as err:
        print(f"taxi_baseline: {err}", file=sys.stderr)
        return 1
    print(f"run {result['run_id']}: train {result['train_examples']} / eval "
          f"{result['eval_examples']} examples (TFMA counted "
          f"{result['tfma_example_count']:.0f}), eval positive share "
          f"{result['eval_positive_share']:.3f}")
    print(f"{'model':<40} {'eval AUC':>8}")
    print(f"{'Dense (TFMA, Evaluator output)':<40} {result['dense_tfma_auc']:8.4f}")
    print(f"{'LogisticRegression (scikit-learn)':<40} {result['sklearn_logreg_auc']:8.4f}")
    print(f"{'HistGradientBoosting (scikit-learn)':<40} {result['sklearn_hgb_auc']:8.4f}")
    print(f"Dense - LogisticRegression: {result['dense_minus_logreg']:+.4f} "
          f"({'met' if result['dense_beats_logreg'] else 'NOT met'}: Dense >= baseline)")
    print(f"Dense - HistGradientBoosting: {result['dense_minus_hgb']:+.4f}")
    print("wrote", write_result("taxi_baseline", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
