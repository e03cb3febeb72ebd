"""Batch scoring (``tfxp score``) against calling the SavedModel's signature
in a plain Python loop over the same file, per modality, side by side.

Usage:
  .venv/bin/python bench/score_bench.py [--workspace WS]
      [--model tabular=DIR] [--model image=DIR] [--model text=DIR]
      [--images 2000] [--texts 5000] [--rows 0] [--batch 256] [--repeats 1]

Models: ``--model MODALITY=DIR`` names one; otherwise the latest pushed
version of the modality's family in ``--workspace`` (dense, cnn, lstm, as
``bench/serving_bench.py`` finds them; tiny runs are enough: throughput
depends on the architecture and the TFT graph, not on the weights). A
modality with neither is skipped, and said so.

Inputs, files of real data as a user scores them (written to a temporary
folder): tabular: the taxi CSV of the tfx wheel (15,002 rows; ``--rows N``
keeps the first N); image: the first ``--images`` Fashion-MNIST t10k images
as one PNG file each; text: the first ``--texts`` Rotten Tomatoes snippets,
one a line.

Paths, on the same file and the same signature (``serving_default``):

- ``score``: ``runner.score.score`` (what ``tfxp score`` runs: Beam's
  in-process FnApiRunner, tfx_bsl's RunInference in a TF1 Session, CSV
  written). examples/s = examples / the Beam pipeline's wall seconds; the
  set-up before it (model load and the first input, libraries already
  imported by a warm-up) is reported beside it, and ``score_total`` counts
  both.
- ``loop_1``: the file read with the same readers (``runner.bulk_inference.
  read_records``), then ``tf.saved_model.load(dir).signatures[signature]``
  called once per example (batch 1); outputs kept in memory, nothing
  written. Model load not timed.
- ``loop_batched``: the same with ``--batch`` examples per call.

Each path runs ``--repeats`` times in turn, after one untimed warm-up each
on a file of the first 10 inputs (imports, tracing, graph optimisation);
medians. Rows (ratio > 1: batch scoring is faster): ``score`` examples/s
against each loop. Writes ``bench/results/score.json`` with the load average
before and after. Not a timed test: numbers depend on the machine and its
load.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import print_rows, reproduce_command, row, write_result  # noqa: E402
from bench.serving_bench import FAMILY_OF, ROOT, find_models, text_snippets  # noqa: E402
from tfxp.core import env  # noqa: E402,F401

SIGNATURE = "serving_default"


def write_inputs(modality: str, folder: str, data_dir: str, count: int) -> str:
    """Writes the modality's first ``count`` inputs (0: every taxi row) as
    file(s) into ``folder``; returns the ``--input`` (a file or a glob)."""
    import tensorflow as tf

    os.makedirs(folder)
    if modality == "tabular":
        from tfxp.core.datasets import taxi_csv_dir
        path = os.path.join(folder, "taxi.csv")
        with open(os.path.join(taxi_csv_dir(), "data.csv")) as src, open(path, "w") as dst:
            lines = src.readlines()
            dst.writelines(lines[:count + 1] if count else lines)
        return path
    if modality == "image":
        from tfxp.components.tfds_builders.fashion_mnist import read_idx
        images = read_idx(os.path.join(data_dir, "fashion_mnist",
                                       "t10k-images-idx3-ubyte.gz"))[:count]
        for i, image in enumerate(images):
            tf.io.write_file(os.path.join(folder, f"{i:05d}.png"),
                             tf.io.encode_png(image[..., None]))
        return os.path.join(folder, "*.png")
    path = os.path.join(folder, "reviews.txt")
    with open(path, "w", encoding="utf-8") as f:
        # One snippet a line: a snippet's own line breaks become spaces.
        f.writelines(" ".join(text.split()) + "\n" for text in text_snippets(data_dir, count))
    return path


def score_once(model_dir: str, pattern: str, output: str) -> Dict[str, float]:
    """One ``runner.score.score`` run: examples, pipeline and set-up seconds."""
    from tfxp.runner.score import ScoreConfig, score

    shutil.rmtree(output, ignore_errors=True)
    start = time.perf_counter()
    result = score(ScoreConfig(model="bench", inputs=pattern, output=output,
                               model_dir=model_dir))
    return {"examples": result.examples, "seconds": result.seconds,
            "setup_seconds": result.setup_seconds,
            "total_seconds": time.perf_counter() - start}


def read_examples(pattern: str, model_dir: str) -> List[bytes]:
    """The serialized examples ``tfxp score`` makes of ``pattern``'s files."""
    from tfxp.runner import bulk_inference as bulk
    from tfxp.runner.score import ScoreConfig, find_inputs, resolve_model

    model = resolve_model(ScoreConfig(model="bench", inputs=pattern, output="-",
                                      model_dir=model_dir))
    kind, files = find_inputs(pattern)
    return [example for path in files
            for _, example in bulk.read_records(kind, path, model.raw_dtypes)]


def loop_once(function: Callable, pattern: str, model_dir: str, batch: int) -> Dict[str, float]:
    """Reads ``pattern`` and calls ``function`` on ``batch`` examples at a
    time; examples and wall seconds (reading included)."""
    import tensorflow as tf

    start = time.perf_counter()
    examples = read_examples(pattern, model_dir)
    outputs = [function(inputs=tf.constant(examples[i:i + batch]))
               for i in range(0, len(examples), batch)]
    assert sum(int(next(iter(o.values())).shape[0]) for o in outputs) == len(examples)
    return {"examples": len(examples), "seconds": time.perf_counter() - start}


def bench_modality(model_dir: str, pattern: str, warm: str, folder: str, args
                   ) -> Dict[str, object]:
    """Every path on one modality's file ``pattern``, ``--repeats`` rounds,
    after one untimed round on the small file ``warm`` (imports, tracing,
    graph optimisation)."""
    import tensorflow as tf

    function = tf.saved_model.load(model_dir).signatures[SIGNATURE]
    output = os.path.join(folder, "out")
    paths: Dict[str, Callable[[str], Dict[str, float]]] = {
        "score": lambda p: score_once(model_dir, p, output),
        "loop_1": lambda p: loop_once(function, p, model_dir, 1),
        "loop_batched": lambda p: loop_once(function, p, model_dir, args.batch)}
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in paths}
    for run in paths.values():
        run(warm)
    for _ in range(args.repeats):
        for name, run in paths.items():
            runs[name].append(run(pattern))
            done = runs[name][-1]
            print(f"  {name:<13} {done['examples']:>6} examples  {done['seconds']:7.2f} s  "
                  f"{done['examples'] / done['seconds']:9.1f} examples/s", flush=True)
    result: Dict[str, object] = {"model_dir": model_dir, "input": pattern}
    for name, measured in runs.items():
        seconds = statistics.median(m["seconds"] for m in measured)
        examples = measured[0]["examples"]
        result[name] = {"examples": examples, "seconds": seconds,
                        "examples_per_s": examples / seconds, "runs": measured}
    totals = statistics.median(m["total_seconds"] for m in runs["score"])
    result["score_total"] = {"seconds": totals,
                             "examples_per_s": result["score"]["examples"] / totals}
    return result


def modality_rows(modality: str, result: Dict[str, object], batch: int
                  ) -> List[Dict[str, object]]:
    score = result["score"]["examples_per_s"]
    total = result["score_total"]["examples_per_s"]
    return [row(f"{modality}: tfxp score vs loop batch 1", score,
                result["loop_1"]["examples_per_s"], "examples/s"),
            row(f"{modality}: tfxp score vs loop batch {batch}", score,
                result["loop_batched"]["examples_per_s"], "examples/s"),
            row(f"{modality}: tfxp score incl. set-up vs loop batch 1", total,
                result["loop_1"]["examples_per_s"], "examples/s")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="MODALITY=DIR",
                        help="a SavedModel per modality (tabular, image, text)")
    parser.add_argument("--workspace", default=os.path.join(ROOT, "workspace"),
                        help="where to find pushed models not named by --model")
    parser.add_argument("--modalities", default=",".join(FAMILY_OF))
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "data"))
    parser.add_argument("--rows", type=int, default=0, help="taxi rows (0: all 15,002)")
    parser.add_argument("--images", type=int, default=2000, help="PNG files")
    parser.add_argument("--texts", type=int, default=5000, help="text lines")
    parser.add_argument("--batch", type=int, default=256, help="loop_batched batch size")
    parser.add_argument("--repeats", type=int, default=1, help="timed rounds per path")
    args = parser.parse_args(argv)
    named = dict(m.split("=", 1) for m in args.model)
    models, skipped = find_models(named, args.workspace, args.modalities.split(","))
    if not models:
        print("no models to benchmark")
        return 1
    load_before = list(os.getloadavg())
    results, rows = {}, []
    folder = tempfile.mkdtemp(prefix="score-bench-")
    try:
        for modality, model_dir in models.items():
            count = {"tabular": args.rows, "image": args.images, "text": args.texts}[modality]
            where = os.path.join(folder, modality)
            pattern = write_inputs(modality, os.path.join(where, "inputs"), args.data_dir,
                                   count)
            warm = write_inputs(modality, os.path.join(where, "warm"), args.data_dir, 10)
            print(f"{modality}: {model_dir} on {pattern}", flush=True)
            results[modality] = bench_modality(model_dir, pattern, warm, where, args)
            rows += modality_rows(modality, results[modality], args.batch)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print_rows(rows)
    load_after = list(os.getloadavg())
    print(f"load average before {load_before}, after {load_after}")
    path = write_result("score", {
        "command": reproduce_command(), "signature": SIGNATURE, "batch": args.batch,
        "repeats": args.repeats, "results": results, "rows": rows, "skipped": skipped,
        "load_before": load_before, "load_after": load_after})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
