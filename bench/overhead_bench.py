"""Pipeline overhead: each component's MLMD wall time against the same work done
directly, on the same data, plus a cached rerun.

Usage: .venv/bin/python bench/overhead_bench.py [--workspace PATH] [--repeats N]

The pipeline side is one run of the default pipeline (Dense on the taxi CSV;
``--train-steps 50 --eval-steps 5``, the default in-process FnApiRunner) in a fresh workspace,
or the newest fully executed run in ``--workspace``. Its component times are
MLMD's (execution create -> last update, seconds). The direct side does each
component's own work in this process, ``--repeats`` times after one warm-up:

- ExampleGen: read the CSV with Python's ``csv``, infer int/float/string per
  column (as CsvExampleGen does), one ``tf.train.Example`` per row (empty
  fields left out), split 2:1 train/eval by a hash of the serialized example
  (the pipeline's ``hash_buckets`` 2 and 1), GZIP ``tf.io.TFRecordWriter``.
- Transform: ``tft_beam.AnalyzeAndTransformDataset`` on ExampleGen's train
  split and ``TransformDataset`` on eval with the same ``preprocessing_fn``
  and schema, in one Beam pipeline on the same runner, writing the transform graph
  and GZIP TFRecords of transformed examples (what Transform hands on;
  the component also computes pre/post-transform statistics, which this
  leaves out).
- Trainer: the family's model from the registry builder and plain ``fit`` for
  the run's steps, epochs and validation steps (see ``trainer_bench``), model
  built and compiled inside the timed part; no SavedModel export.

Rows: ``ours`` = the component in the pipeline (seconds), ``reference`` = the
direct median (seconds), ratio = direct / component (1 = no overhead, 0.5 =
the component takes twice as long). The cached rerun row compares the rerun's
wall time to the first run's (ratio = first / cached, the speed-up). Writes
``bench/results/overhead.json``.
"""
from __future__ import annotations

import argparse
import csv
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TF loads)
from tfxp.core.workspace import Workspace  # noqa: E402

import tensorflow as tf  # noqa: E402

from bench.common import (latest_run, print_rows, repeat, reproduce_command, row,  # noqa: E402
                          tfxp_path, write_result)
from tfxp.observability import mlmd  # noqa: E402
from tfxp.pipeline.config import DEFAULT_BEAM_ARGS, RunConfig  # noqa: E402

DEFAULT_RUN = ["--train-steps", "50", "--eval-steps", "5"]  # default Beam runner
SPLITS = (("train", 2), ("eval", 1))  # the pipeline's CsvExampleGen hash buckets


def _column_types(rows: List[List[str]]) -> List[type]:
    """Per column: ``int`` if every non-empty field parses as one, else
    ``float`` if every one parses as a float, else ``bytes``."""
    types = []
    for column in zip(*rows):
        values = [v for v in column if v != ""]
        kind = int
        for v in values:
            try:
                int(v)
                continue
            except ValueError:
                pass
            try:
                float(v)
                kind = float
            except ValueError:
                kind = bytes
                break
        types.append(kind)
    return types


def csv_to_tfrecords(csv_path: str, out_dir: str) -> Dict[str, int]:
    """ExampleGen's work done directly: CSV -> ``tf.Example`` -> GZIP TFRecords
    ``<out_dir>/Split-{train,eval}/data.gz``, split 2:1 by CRC-32 of the
    serialized example.

    Returns:
      examples written per split, e.g. ``{"train": 10001, "eval": 5001}``.
    Raises:
      OSError: unreadable CSV or unwritable ``out_dir``.
    """
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    types = _column_types(rows)
    buckets = [name for name, count in SPLITS for _ in range(count)]
    writers = {}
    for name, _ in SPLITS:
        os.makedirs(os.path.join(out_dir, f"Split-{name}"), exist_ok=True)
        writers[name] = tf.io.TFRecordWriter(
            os.path.join(out_dir, f"Split-{name}", "data.gz"),
            tf.io.TFRecordOptions(compression_type="GZIP"))
    counts = {name: 0 for name, _ in SPLITS}
    for values in rows:
        feature = {}
        for key, kind, value in zip(header, types, values):
            if value == "":
                feature[key] = tf.train.Feature()
            elif kind is int:
                feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
            elif kind is float:
                feature[key] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[float(value)]))
            else:
                feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[value.encode()]))
        serialized = tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString()
        split = buckets[zlib.crc32(serialized) % len(buckets)]
        writers[split].write(serialized)
        counts[split] += 1
    for writer in writers.values():
        writer.close()
    return counts


def transform_directly(examples_uri: str, schema_path: str, modality: str,
                       out_dir: str) -> None:
    """Transform's work done directly with ``tft_beam`` in one in-process Beam
    pipeline: analyze + transform ``Split-train``, transform ``Split-eval``
    (GZIP ``tf.Example`` TFRecords under ``examples_uri``); writes the
    transform graph to ``<out_dir>/transform_fn`` and transformed examples to
    ``<out_dir>/{train,eval}-*.gz``.

    Raises:
      ValueError: a split has no files.
    """
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils
    from tfx_bsl.coders import example_coder
    from tfx_bsl.public import tfxio

    from tfxp.models.preprocessing import preprocessing_fn

    schema = io_utils.parse_pbtxt_file(schema_path, schema_pb2.Schema())
    sources = {}
    for split in ("train", "eval"):
        pattern = os.path.join(examples_uri, f"Split-{split}", "*")
        if not glob.glob(pattern):
            raise ValueError(f"no files match {pattern!r}")
        sources[split] = tfxio.TFExampleRecord(pattern, schema=schema)
    fn = functools.partial(preprocessing_fn, custom_config={"modality": modality})

    def encode(batch_and_passthrough):
        return example_coder.RecordBatchToExamplesEncoder().encode(batch_and_passthrough[0])

    options = PipelineOptions(list(DEFAULT_BEAM_ARGS))  # the pipeline's local runner
    with tft_beam.Context(temp_dir=os.path.join(out_dir, "tmp")), \
            beam.Pipeline(options=options) as p:
        train = p | "ReadTrain" >> sources["train"].BeamSource()
        evals = p | "ReadEval" >> sources["eval"].BeamSource()
        (train_xf, _), transform_fn = (
            (train, sources["train"].TensorAdapterConfig())
            | tft_beam.AnalyzeAndTransformDataset(fn, output_record_batches=True))
        eval_xf, _ = (((evals, sources["eval"].TensorAdapterConfig()), transform_fn)
                      | tft_beam.TransformDataset(output_record_batches=True))
        _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(out_dir, "transform_fn"))
        for name, data in (("train", train_xf), ("eval", eval_xf)):
            _ = (data | f"Encode{name}" >> beam.FlatMap(encode)
                 | f"Write{name}" >> beam.io.WriteToTFRecord(
                     os.path.join(out_dir, name), file_name_suffix=".gz"))


def fit_directly(transform_uri: str, examples_uri: str, config: RunConfig) -> float:
    """Trainer's work done directly: build the model, plain ``fit`` for the
    run's steps (split into its epochs as ``run_fn`` does) with its validation
    steps. Returns the final training loss (a check that it trained)."""
    import tensorflow_transform as tft

    from bench.trainer_bench import plain_dataset
    from tfxp.models import training
    family = config.family
    tft_output = tft.TFTransformOutput(transform_uri)
    spec = tft_output.transformed_feature_spec()
    hparams = training.resolve_hparams(family, config.dataset_spec, tft_output, config.hparams)
    model = family.build_model(hparams)
    batch = config.per_replica_batch or family.per_replica_batch
    files = {s: [os.path.join(examples_uri, f"Split-{s}", "*")] for s in ("train", "eval")}
    steps = config.resolved_train_steps
    epochs, per_epoch = training.epoch_plan(steps, config.epochs or family.epochs)
    history = model.fit(plain_dataset(files["train"], spec, batch), epochs=epochs,
                        steps_per_epoch=per_epoch,
                        validation_data=plain_dataset(files["eval"], spec, batch),
                        validation_steps=max(1, config.resolved_eval_steps), verbose=0)
    return float(history.history["loss"][-1])


def run_pipeline(workspace: str, extra: List[str]) -> float:
    """``tfxp run`` in a subprocess; returns its wall time (seconds).
    Raises ``subprocess.CalledProcessError`` if the run fails."""
    argv = [tfxp_path(), "run", "--workspace", workspace, *extra]
    print("running:", " ".join(argv), flush=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def executed_run(store) -> Optional[mlmd.RunSummary]:
    """The newest run in which every component executed (none CACHED)."""
    for _, run_id in reversed(mlmd.list_runs(store)):
        summary = mlmd.run_summary(store, run_id, with_metrics=False)
        if summary.components and all(c.state == "COMPLETE" for c in summary.components):
            return summary
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", help="workspace of an executed default run "
                        "(default: run one in a temporary folder)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--transform-repeats", type=int,
                        help="repeats of the direct Transform (default: --repeats)")
    args = parser.parse_args()
    first_wall = None
    workspace = args.workspace
    if not workspace:
        workspace = tempfile.mkdtemp(prefix="overhead-bench-")
        first_wall = run_pipeline(workspace, DEFAULT_RUN)
    store, _, _ = latest_run(workspace)
    first = executed_run(store)
    if first is None:
        raise SystemExit(f"{workspace}: no run in which every component executed")
    outputs = mlmd.run_outputs(store, first.run_id)
    config_path = Workspace(workspace).run_config_path(first.run_id)
    with open(config_path) as f:
        config = RunConfig.from_json(f.read())
    seconds = {c.component: c.seconds for c in first.components}
    example_gen = next(c for c in seconds if c.endswith("ExampleGen"))
    examples_uri = outputs[example_gen]["Examples"].uri
    schema_uri = next(a["Schema"].uri for a in outputs.values() if "Schema" in a)
    transform_uri = outputs["Transform"]["TransformGraph"].uri
    transformed_uri = outputs["Transform"]["Examples"].uri
    scratch = tempfile.mkdtemp(prefix="overhead-direct-")
    # The cached rerun first: it only hits the cache while the code is unchanged.
    cached_wall = run_pipeline(workspace, ["--config", config_path])
    _, cached_id, _ = latest_run(workspace)
    cached = mlmd.run_summary(store, cached_id, with_metrics=False)
    print(f"cached rerun: {cached_wall:.1f} s", flush=True)
    # Every run after the executed one: the first rerun may execute the
    # Evaluator again (its baseline, the latest blessed model, is new then).
    later = [r for _, r in mlmd.list_runs(store) if r > first.run_id]
    reruns = {r: {"mlmd_wall_s": s.wall_seconds,
                  "components": {c.component: [c.state, c.seconds] for c in s.components}}
              for r in later for s in [mlmd.run_summary(store, r, with_metrics=False)]}

    def fresh(name):
        path = os.path.join(scratch, name)
        shutil.rmtree(path, ignore_errors=True)
        return path

    direct = {}
    if config.csv is None and config.dataset_spec.source == "csv":
        from tfxp.core.datasets import taxi_csv_dir
        csv_path = os.path.join(taxi_csv_dir(), "data.csv")
    else:
        csv_path = config.csv
    if csv_path and os.path.isfile(csv_path):
        direct[example_gen] = repeat(lambda: csv_to_tfrecords(csv_path, fresh("examples")),
                                     args.repeats)
        print(f"direct ExampleGen: {direct[example_gen]['median']:.1f} s", flush=True)
    direct["Transform"] = repeat(lambda: transform_directly(
        examples_uri, os.path.join(schema_uri, "schema.pbtxt"),
        config.dataset_spec.modality, fresh("transform")),
        args.transform_repeats or args.repeats)
    print(f"direct Transform: {direct['Transform']['median']:.1f} s", flush=True)
    direct["Trainer"] = repeat(lambda: fit_directly(transform_uri, transformed_uri, config),
                               args.repeats)
    print(f"direct Trainer: {direct['Trainer']['median']:.1f} s", flush=True)

    rows = [row(f"{name}: component vs direct work (s; ratio direct/component)",
                seconds[name], d["median"], "s", higher_is_better=False)
            for name, d in direct.items()]
    rows.append(row("cached rerun: MLMD wall (s; ratio first run / rerun)",
                    cached.wall_seconds, first.wall_seconds, "s", higher_is_better=False))
    if first_wall:
        rows.append(row("cached rerun: process wall incl. imports (s; first / rerun)",
                        cached_wall, first_wall, "s", higher_is_better=False))
    print_rows(rows)
    print("written:", write_result("overhead", {
        "command": reproduce_command(), "rows": rows,
        "details": {"workspace": workspace, "run_id": first.run_id,
                    "config": config.to_json(), "components_s": seconds,
                    "run_wall_s": first.wall_seconds, "process_wall_s": first_wall,
                    "direct_s": direct,
                    "reruns": reruns,
                    "cached_rerun": {"run_id": cached_id, "process_wall_s": cached_wall,
                                     "mlmd_wall_s": cached.wall_seconds,
                                     "components": {c.component: [c.state, c.seconds]
                                                    for c in cached.components}}}}))


if __name__ == "__main__":
    main()
