"""Seed ensembles of a text family on the **validation** split.

Usage: .venv/bin/python bench/seed_ensemble.py --workspace WS [--family transformer]
           [--seeds 0 1 2] [--steps 1200] [--every 100] [--out seed_ensemble_transformer]

Trains the family's default (``models.registry``, pretrained embeddings
applied as the Trainer applies them) once per seed, from the transformed
TFRecords of a ``tfxp run`` of a text family, and every ``--every`` steps
scores each member and the ensemble, the mean of the members' class
probabilities (Lakshminarayanan et al. 2017, "deep ensembles"), by
validation accuracy. The question it answers: would exporting the average of
several independently trained models lift the Transformer over its goal
(issue 16), and by how much beyond its seed-to-seed spread.

The held-out ``Split-eval`` is never opened (``hparam_sweep.load_split``
refuses it). Prints one line per seed and per evaluation step and writes
``bench/results/<out>.json``: per step the members' accuracies, their mean
and the ensemble's; the summary row compares the ensemble's best step with
the members' mean at their own best steps.

Why this is our own code: no library trains a TFX Trainer's Keras family
several times over TFX's transformed examples; the pieces (builders, data
loading, embedding start) are the project's, shared with the Trainer and
``bench/hparam_sweep.py``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401
from bench.common import reproduce_command, write_result  # noqa: E402
from bench.hparam_sweep import build_with_pretrained, load_transformed  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--family", default="transformer", choices=["lstm", "transformer"])
    parser.add_argument("--pipeline", default=None,
                        help="pipeline whose Transform output to read (default: "
                             "<family>-pipeline; both text families share one "
                             "preprocessing_fn)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--data-dir", default=None,
                        help="where scripts/get_data.sh put the data, for the "
                             "family's pretrained_embeddings (default: 'data')")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.every < 1 or len(set(args.seeds)) < 2:
        parser.error("--steps and --every must be >= 1, and --seeds must name two or more "
                     "different seeds")

    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from tfxp.core.datasets import get_dataset
    from tfxp.models.registry import get_family
    from tfxp.pipeline.config import DEFAULT_DATA_DIR

    family = get_family(args.family)
    dataset = get_dataset(family.default_dataset)
    data = load_transformed(args.workspace, args.pipeline or f"{family.name}-pipeline")
    examples_uri, tft_output = data.examples_uri, data.tft_output
    (train_x, train_y), (val_x, val_y) = data.train, data.validation
    steps = list(range(args.every, args.steps + 1, args.every))
    probabilities = {}   # (seed, step) -> float32 [validation examples], class 1
    start = time.time()
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model, _ = build_with_pretrained(
            family, dataset, tft_output, {}, args.data_dir or DEFAULT_DATA_DIR,
            {"steps_per_execution": args.every, "total_steps": args.steps})
        train = (tf.data.Dataset.from_tensor_slices((dict(train_x), train_y))
                 .shuffle(len(train_y), seed=seed).repeat().batch(family.per_replica_batch))
        for step in steps:
            model.fit(train, steps_per_epoch=args.every, epochs=1, verbose=0)
            probabilities[seed, step] = model.predict(dict(val_x), batch_size=256,
                                                      verbose=0)[:, 1]
        print(f"seed {seed}: validation accuracy by step " + " ".join(
            f"{float(np.mean((probabilities[seed, s] > 0.5) == val_y)):.4f}" for s in steps),
            flush=True)

    def accuracy(p) -> float:
        return float(np.mean((p > 0.5) == val_y))

    curve = []
    for step in steps:
        members = [accuracy(probabilities[s, step]) for s in args.seeds]
        ensemble = accuracy(np.mean([probabilities[s, step] for s in args.seeds], axis=0))
        curve.append({"step": step, "members": members,
                      "members_mean": float(np.mean(members)), "ensemble": ensemble})
        print(f"step {step:5d}: members {' '.join(f'{a:.4f}' for a in members)} "
              f"(mean {np.mean(members):.4f}), ensemble {ensemble:.4f}", flush=True)
    best_members = [max(c["members"][i] for c in curve) for i in range(len(args.seeds))]
    best_ensemble = max(curve, key=lambda c: c["ensemble"])
    row = {"measure": f"best validation accuracy: ensemble of seeds {args.seeds} vs the "
                      f"mean of its members' own best",
           "ours": best_ensemble["ensemble"], "reference": float(np.mean(best_members)),
           "ratio": best_ensemble["ensemble"] / float(np.mean(best_members)),
           "unit": "accuracy", "ensemble_best_step": best_ensemble["step"]}
    print(f"{row['measure']}: {row['ours']:.4f} @ {row['ensemble_best_step']} vs "
          f"{row['reference']:.4f}")
    write_result(args.out or f"seed_ensemble_{family.name}", {
        "rows": [row], "family": family.name, "examples_uri": examples_uri,
        "train_examples": int(len(train_y)), "validation_examples": int(len(val_y)),
        "seeds": args.seeds, "steps": args.steps, "every": args.every, "curve": curve,
        "seconds": round(time.time() - start), "command": reproduce_command()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
