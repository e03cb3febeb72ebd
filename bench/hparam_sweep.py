"""Hyperparameter sweep of a family on the **validation** split.

Usage: .venv/bin/python bench/hparam_sweep.py --workspace WS --family dense|lstm|transformer
           [--pipeline lstm-pipeline]
           [--steps 600] [--every 50] [--grid '{"learning_rate": [1e-3, 2e-3]}']
           [--metric accuracy|auc] [--out sweep_<family>]

Reads the transformed ``train`` and ``validation`` splits of the latest
Transform output of ``<family>-pipeline`` in ``WS`` (a ``tfxp run --model
<family>`` made them), trains the family's builder (``models.registry``, the
same ``resolve_hparams`` as ``run_fn``) for each point of the grid (the
cartesian product of the given values over the family's defaults) with
``model.fit`` at the family's batch, and records the validation accuracy
and AUC every ``--every`` steps, and chooses by ``--metric`` (the
family's quality goal: accuracy for the text families, AUC for Dense). It never opens ``Split-eval``, the held-out
split the quality table reports: the choice of defaults is made here, on
validation (Rotten Tomatoes' validation split holds other movies than
train), and the held-out figure is measured once by the pipeline run with
the chosen defaults.

``--top-k K ...`` also tries smaller vocabularies without rerunning
Transform: the vocabulary is ranked by frequency (id r + 1 for rank r, see
``models.preprocessing``), so mapping every id above K to K + 1 gives the
ids a ``tft.compute_and_apply_vocabulary(top_k=K)`` would (its OOV id is
K + 1). A chosen K becomes ``core.features.TEXT_VOCAB_TOP_K``. A text family
whose hparams name ``pretrained_embeddings`` starts its token embedding from
that set (``--data-dir``), as the Trainer does.

Prints one row per grid point (best validation accuracy, the step it came
at) and writes ``bench/results/<out>.json`` with every curve.
"""
from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import sys
import time
from typing import Any, Dict, NamedTuple, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401
from bench.common import reproduce_command, write_result  # noqa: E402


def _latest(pattern: str) -> str:
    found = sorted(glob.glob(pattern), key=lambda p: int(p.rstrip("/").rsplit("/", 1)[-1]))
    if not found:
        raise SystemExit(f"{os.path.basename(sys.argv[0])}: nothing matches {pattern}; run "
                         f"'tfxp run --model <family> --workspace <ws>' first")
    return found[-1]


def load_split(examples_uri: str, split: str, spec, label: str):
    """All examples of ``Split-<split>``: ``(features dict of arrays, labels)``."""
    import numpy as np
    import tensorflow as tf

    if split == "eval":
        raise ValueError("the sweep never reads the held-out eval split")
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096)
    parts = [tf.io.parse_example(r, spec) for r in records]
    features = {k: np.concatenate([p[k].numpy() for p in parts]) for k in spec if k != label}
    return features, np.concatenate([p[label].numpy() for p in parts])


class Transformed(NamedTuple):
    """A pipeline's latest Transform output, train and validation splits loaded."""
    examples_uri: str
    tft_output: Any            # tft.TFTransformOutput
    train: Tuple[Dict[str, Any], Any]        # (features of arrays, int labels [N])
    validation: Tuple[Dict[str, Any], Any]


def load_transformed(workspace: str, pipeline: str) -> Transformed:
    """The newest ``Transform`` outputs of ``pipeline`` in ``workspace`` (as
    ``tfxp run`` left them), with ``Split-train`` and ``Split-validation``
    parsed into arrays. Never the held-out eval split (``load_split``).

    Raises:
      SystemExit: the pipeline has not run in that workspace.
    """
    import tensorflow_transform as tft

    from tfxp.core import features as F

    root = os.path.join(workspace, "pipeline_root", pipeline, "Transform")
    examples_uri = _latest(os.path.join(root, "transformed_examples", "*"))
    tft_output = tft.TFTransformOutput(_latest(os.path.join(root, "transform_graph", "*")))
    spec = tft_output.transformed_feature_spec()
    return Transformed(examples_uri, tft_output, *(
        load_split(examples_uri, split, spec, F.TRANSFORMED_LABEL)
        for split in ("train", "validation")))


def build_with_pretrained(family, dataset, tft_output, overrides: Dict[str, Any],
                          data_dir: str, extra: Dict[str, Any]):
    """``(model, hparams)`` as the Trainer builds them (``models.training.run_fn``):
    ``resolve_hparams`` with ``overrides``, then ``extra`` (steps, schedule
    length), the family's builder, then the pre-trained encoder's weights or
    word vectors read from ``data_dir`` (where ``scripts/get_data.sh`` put them)."""
    from tfxp.models.embeddings import embeddings_dir
    from tfxp.models.pretrained_encoder import encoder_dir
    from tfxp.models.training import apply_pretrained, resolve_hparams

    merged = family.with_overrides(overrides)
    encoder = merged.get("pretrained_encoder")
    hparams = resolve_hparams(family, dataset, tft_output, overrides,
                              encoder_dir(data_dir, encoder) if encoder else None)
    hparams.update(extra)
    model = family.build_model(hparams)
    vectors = hparams.get("pretrained_embeddings")
    apply_pretrained(model, hparams, tft_output,
                     embeddings_dir(data_dir, vectors) if vectors else None)
    return model, hparams


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--family", required=True, choices=["dense", "lstm", "transformer"])
    parser.add_argument("--metric", choices=["accuracy", "auc"], default=None,
                        help="choose by this validation metric (default: auc for "
                             "dense, accuracy for the text families)")
    parser.add_argument("--pipeline", default=None,
                        help="pipeline whose Transform output to read (default: "
                             "<family>-pipeline; both text families share one "
                             "preprocessing_fn, so either text pipeline's serves)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--grid", default="{}",
                        help="JSON: hparam -> list of values (default: the family's)")
    parser.add_argument("--top-k", type=int, nargs="*", default=[],
                        help="text only: vocabulary sizes to try (default: Transform's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None,
                        help="where scripts/get_data.sh put the data, for a text family's "
                             "pretrained_embeddings (default: the pipeline's, 'data')")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from tfxp.core import features as F
    from tfxp.core.datasets import get_dataset
    from tfxp.models.registry import get_family, validate_hparams
    from tfxp.pipeline.config import DEFAULT_DATA_DIR

    family = get_family(args.family)
    dataset = get_dataset(family.default_dataset)
    data = load_transformed(args.workspace, args.pipeline or f"{family.name}-pipeline")
    examples_uri, tft_output = data.examples_uri, data.tft_output
    (train_raw, train_y), (val_raw, val_y) = data.train, data.validation
    metric = args.metric or ("auc" if family.name == "dense" else "accuracy")
    if args.top_k and dataset.modality != "text":
        parser.error("--top-k applies to the text families only")
    grid = json.loads(args.grid)
    names = sorted(grid)
    batch = family.per_replica_batch
    rows = []
    token_key = F.transformed_name(F.TOKENS_KEY)
    for top_k, values in itertools.product(args.top_k or [None],
                                           itertools.product(*(grid[n] for n in names))):
        overrides = dict(zip(names, values))
        validate_hparams(family, overrides)
        tf.keras.utils.set_random_seed(args.seed)
        hparams = family.with_overrides(overrides)
        if top_k is not None and (hparams.get("pretrained_embeddings")
                                  or hparams.get("pretrained_encoder")):
            parser.error("--top-k cuts the vocabulary that pretrained embedding rows and an "
                         "encoder's word pieces follow; sweep it with pretrained_embeddings "
                         "and pretrained_encoder null")
        train_x, val_x = dict(train_raw), dict(val_raw)
        extra = {"steps_per_execution": args.every, "total_steps": args.steps}
        if top_k is not None:
            for x in (train_x, val_x):
                x[token_key] = np.minimum(x[token_key], top_k + 1)
            extra["vocab_size"] = top_k + 2   # padding, K words, one OOV id
            overrides = {**overrides, "top_k": top_k}
        model, hparams = build_with_pretrained(
            family, dataset, tft_output, {k: v for k, v in overrides.items() if k != "top_k"},
            args.data_dir or DEFAULT_DATA_DIR, extra)
        train = (tf.data.Dataset.from_tensor_slices((train_x, train_y))
                 .shuffle(len(train_y), seed=args.seed).repeat().batch(batch))
        curve, start = [], time.time()
        for step in range(args.every, args.steps + 1, args.every):
            model.fit(train, steps_per_epoch=args.every, epochs=1, verbose=0)
            metrics = model.evaluate(val_x, val_y, batch_size=256, verbose=0,
                                     return_dict=True)
            curve.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
        best = max(curve, key=lambda c: c[metric])
        row = {"overrides": overrides, "best_val": best[metric], "best_step": best["step"],
               "best_val_accuracy": best["accuracy"], "best_val_auc": best.get("auc"),
               "curve": curve, "seconds": round(time.time() - start, 1)}
        rows.append(row)
        print(f"{json.dumps(overrides):60s} best val {metric} {best[metric]:.4f} "
              f"@ {best['step']} (acc {best['accuracy']:.4f}, auc "
              f"{best.get('auc', float('nan')):.4f}) {row['seconds']:.0f}s", flush=True)
    chosen = max(rows, key=lambda r: r["best_val"])
    print(f"chosen: {json.dumps(chosen['overrides'])} at {chosen['best_step']} steps "
          f"(validation {metric} {chosen['best_val']:.4f})")
    write_result(args.out or f"sweep_{family.name}", {
        "family": family.name, "examples_uri": examples_uri,
        "train_examples": int(len(train_y)), "validation_examples": int(len(val_y)),
        "steps": args.steps, "every": args.every, "batch": batch, "seed": args.seed,
        "metric": metric, "grid": grid, "rows": rows, "chosen": {k: chosen[k] for k in (
            "overrides", "best_step", "best_val")},
        "command": reproduce_command()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
