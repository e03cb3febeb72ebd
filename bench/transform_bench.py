"""Transform throughput on Fashion-MNIST: the TFX Transform component, in both
Beam DirectRunner modes, against the same ``preprocessing_fn`` run with
``tf.data`` in this process. One run, side by side.

Usage:
  .venv/bin/python bench/transform_bench.py [--examples 70000] [--repeats 5]
      [--warmup 1] [--workers 2] [--small-examples 7000] [--with-statistics]
      [--workspace DIR] [--result-name transform]

What runs:
- a small TFX pipeline in this process (``LocalDagRunner``, MLMD in SQLite):
  the project's ``TfdsExampleGen`` (offline ``tfxp_fashion_mnist`` builder,
  ``data/``; ``--examples N`` takes the first 6/7 of N from TFDS ``train`` and
  the rest from ``test``, all 70,000 by default) -> ``ImportSchemaGen`` (the
  curated ``schemas/fashion_mnist``) -> ``Transform`` with the pipeline's
  module file and ``custom_config`` (modality ``image``), configured as in
  ``pipeline.pipeline.create_components``;
- each round (``--warmup`` untimed, default 1, then ``--repeats``) runs
  one Transform per Beam mode,
  ``in_memory`` (1 worker) and ``multi_processing`` (``--workers``
  processes), in alternating order; ExampleGen and the schema come from
  MLMD's cache after the first round, Transform is re-executed because each
  round gets its own ``custom_config['bench_round']``; Transform computes
  TFDV statistics only with ``--with-statistics`` (the pipeline's Transform
  has them off, ``pipeline.pipeline.TRANSFORM_DISABLE_STATISTICS``);
- unless ``--small-examples 0``, each round also runs an ``in_memory``
  Transform on the first ``--small-examples`` images (same 6:1 split, its
  own ExampleGen). The line through the two sizes splits Transform's time
  into a fixed part (seconds at 0 examples: driver, module wheel install,
  Beam start-up) and a marginal rate (examples/s of each added example);
- after each round, the reference: the ExampleGen TFRecords read with
  ``tf.data`` (``TFRecordDataset`` GZIP -> batch 1,000 -> ``parse_example``
  with the schema's feature spec -> ``models.preprocessing.preprocessing_fn``
  as a ``tf.function`` -> iterate every batch), traced once untimed.

Throughput = examples of both splits (train + eval, the splits Transform
reads and writes) / seconds; the marginal rate is compared with tf.data's
too, as the ratio Transform would approach on much more data. Transform's
seconds are its MLMD execution time (driver, user-module wheel install, Beam
analyze + transform + write, TFDV statistics with ``--with-statistics``), as
``tfxp status`` shows it;
the reference writes nothing. Ratios: Transform / tf.data (target >= 0.3),
and multi_processing / in_memory, which decides the recommended default
runner. Writes ``bench/results/<--result-name>.json`` (``transform``) after
every timed round.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import write_result  # noqa: E402
from tfxp.core import env  # noqa: E402,F401
from tfxp.core.workspace import Workspace  # noqa: E402

import tensorflow as tf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_RATIO = 0.3
FULL_TRAIN, FULL_TEST = 60000, 10000
REFERENCE_BATCH = 1000
MODES = ("in_memory", "multi_processing")
PIPELINE = "transform-bench"


def split_sizes(examples: int) -> tuple[int, int]:
    """``examples`` (1..70,000) -> (train, test) counts in Fashion-MNIST's 6:1 ratio.

    Raises:
      ValueError: ``examples`` out of range.
    """
    if not 2 <= examples <= FULL_TRAIN + FULL_TEST:
        raise ValueError(f"--examples {examples}: expected 2..{FULL_TRAIN + FULL_TEST}")
    train = min(FULL_TRAIN, max(1, round(examples * FULL_TRAIN / (FULL_TRAIN + FULL_TEST))))
    return train, examples - train


def beam_args(mode: str, workers: int) -> List[str]:
    """DirectRunner flags for ``mode``; in_memory runs in one process."""
    return [f"--direct_running_mode={mode}",
            f"--direct_num_workers={1 if mode == 'in_memory' else workers}"]


SMALL = "_small"  # id suffix of the --small-examples nodes


def _components(args, train: int, test: int, round_no: int, order: List[str]):
    from tfx import v1 as tfx

    from tfxp.components import tfds_builders
    from tfxp.components.tfds_example_gen import TfdsExampleGen
    from tfxp.pipeline import schemas
    from tfxp.pipeline.pipeline import MODULE_FILE

    data_dir = os.path.abspath(args.data_dir)

    def example_gen(train: int, test: int, suffix: str = ""):
        return TfdsExampleGen(
            dataset_name=tfds_builders.tfds_name("fashion_mnist"),
            data_dir=os.path.join(data_dir, "tfds"),
            manual_dir=tfds_builders.default_manual_dir(data_dir, "fashion_mnist"),
            train_split="train" if train == FULL_TRAIN else f"train[:{train}]",
            eval_split="test" if test == FULL_TEST else f"test[:{test}]",
        ).with_id(f"TfdsExampleGen{suffix}")

    def transform(examples, mode: str, suffix: str = ""):
        return tfx.components.Transform(
            examples=examples.outputs["examples"], schema=schema.outputs["schema"],
            module_file=MODULE_FILE, disable_statistics=not args.with_statistics,
            custom_config={"modality": "image", "bench_round": round_no, "bench_mode": mode},
        ).with_id(f"Transform_{mode}{suffix}").with_beam_pipeline_args(
            beam_args(mode, args.workers))

    schema = tfx.components.ImportSchemaGen(schema_file=schemas.schema_file("fashion_mnist"))
    full = example_gen(train, test)
    nodes = [full, schema, *(transform(full, mode) for mode in order)]
    if args.small_examples:
        small = example_gen(*split_sizes(args.small_examples), SMALL)
        nodes += [small, transform(small, "in_memory", SMALL)]
    return nodes


def run_round(args, metadata_path: str, pipeline_root: str, train: int, test: int,
              round_no: int, order: List[str]) -> Dict[str, float]:
    """Runs ExampleGen (cached after round 0), the schema and one Transform per mode.

    Returns ``{mode: Transform seconds (MLMD)}`` (``in_memory_small`` for the
    ``--small-examples`` one) plus ``"examples_uri"`` (the full ExampleGen's
    output folder).
    Raises:
      RuntimeError: a Transform did not complete.
    """
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from tfxp.observability import mlmd

    store = mlmd.open_store(metadata_path) if os.path.exists(metadata_path) else None
    known = {r for _, r in mlmd.list_runs(store)} if store else set()
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=PIPELINE, pipeline_root=pipeline_root,
        components=_components(args, train, test, round_no, order), enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(metadata_path))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    store = mlmd.open_store(metadata_path)
    [run_id] = [r for _, r in mlmd.list_runs(store) if r not in known]
    summary = mlmd.run_summary(store, run_id, with_metrics=False)
    out: Dict[str, float] = {}
    for c in summary.components:
        if c.component.startswith("Transform_"):
            if c.state != "COMPLETE":
                raise RuntimeError(f"{c.component} ended {c.state} in round {round_no}")
            out[c.component[len("Transform_"):]] = c.seconds
    out["examples_uri"] = mlmd.run_outputs(store, run_id)["TfdsExampleGen"]["Examples"].uri
    return out


def reference_fn(examples_uri: str):
    """Returns ``fn() -> examples seen``: tf.data parse + preprocessing_fn over
    both splits of the ExampleGen output at ``examples_uri``."""
    from tensorflow_transform.tf_metadata import schema_utils
    from tfx.utils import io_utils
    from tensorflow_metadata.proto.v0 import schema_pb2

    from tfxp.models.preprocessing import preprocessing_fn
    from tfxp.pipeline import schemas

    schema = io_utils.parse_pbtxt_file(schemas.schema_file("fashion_mnist"), schema_pb2.Schema())
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, "Split-*", "*.gz")))
    if not files:
        raise FileNotFoundError(f"no TFRecords under {examples_uri}/Split-*")

    @tf.function
    def transform(serialized):
        out = preprocessing_fn(tf.io.parse_example(serialized, spec), {"modality": "image"})
        return tf.shape(out["label_xf"])[0]

    def run() -> int:
        ds = (tf.data.TFRecordDataset(files, compression_type="GZIP",
                                      num_parallel_reads=tf.data.AUTOTUNE)
              .batch(REFERENCE_BATCH).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
              .prefetch(tf.data.AUTOTUNE))
        return int(sum(int(n) for n in ds))
    return run


def _stats(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=FULL_TRAIN + FULL_TEST,
                        help="images to use, train:test 6:1 (default all 70,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--workers", type=int, default=2,
                        help="multi_processing worker processes")
    parser.add_argument("--with-statistics", action="store_true",
                        help="Transform also computes TFDV statistics (off in the pipeline)")
    parser.add_argument("--small-examples", type=int, default=7000,
                        help="also time an in_memory Transform on this many images, to split "
                        "its time into fixed seconds and a marginal rate (0: off)")
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "data"),
                        help="offline datasets (scripts/get_data.sh)")
    parser.add_argument("--workspace", help="MLMD + artefacts (default: a temporary folder); "
                        "reusing one reuses its cached ExampleGen output")
    parser.add_argument("--result-name", default="transform",
                        help="writes bench/results/<name>.json")
    args = parser.parse_args(argv)
    train, test = split_sizes(args.examples)
    if args.small_examples:
        split_sizes(args.small_examples)
        if args.small_examples >= args.examples:
            parser.error(f"--small-examples {args.small_examples} must be below --examples "
                         f"{args.examples}")
    workspace = args.workspace or tempfile.mkdtemp(prefix="transform-bench-")
    metadata_path = Workspace(workspace).metadata_path
    pipeline_root = os.path.join(workspace, "pipeline_root")
    print(f"Fashion-MNIST {train} train + {test} eval examples; workspace {workspace}",
          flush=True)

    command = " ".join([".venv/bin/python", "bench/transform_bench.py",
                        *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    modes = [*MODES, *(["in_memory" + SMALL] if args.small_examples else [])]
    transform_s: Dict[str, List[float]] = {m: [] for m in modes}
    reference_s: List[float] = []
    reference = None
    result: Dict = {}
    for round_no in range(args.warmup + args.repeats):
        order = list(MODES) if round_no % 2 == 0 else list(reversed(MODES))
        started = time.perf_counter()
        seconds = run_round(args, metadata_path, pipeline_root, train, test, round_no, order)
        if reference is None:
            reference = reference_fn(seconds["examples_uri"])
            reference()  # untimed: traces the tf.function
        start = time.perf_counter()
        seen = reference()
        ref = time.perf_counter() - start
        if seen != train + test:
            raise RuntimeError(f"tf.data reference saw {seen} examples, expected {train + test}")
        label = "warm-up" if round_no < args.warmup else f"round {round_no - args.warmup + 1}"
        print(f"{label}: " + ", ".join(f"Transform {m} {seconds[m]:.1f} s" for m in modes) +
              f", tf.data {ref:.2f} s (round wall {time.perf_counter() - started:.0f} s)",
              flush=True)
        if round_no < args.warmup:
            continue
        for m in modes:
            transform_s[m].append(seconds[m])
        reference_s.append(ref)
        # Written after every timed round, so a run cut short keeps what it measured.
        result = summarize(args, train, test, transform_s, reference_s, command)
        path = write_result(args.result_name, result)

    timings, eps = result["timings_s"], result["examples_per_s"]
    print(f"\n{'path':<34}{'median s':>10}{'min s':>9}{'max s':>9}{'examples/s':>12}")
    for k, v in timings.items():
        print(f"{k:<34}{v['median']:>10.2f}{v['min']:>9.2f}{v['max']:>9.2f}{eps[k]:>12.1f}")
    for r in result["rows"][:2]:
        verdict = "meets" if r["ratio"] >= TARGET_RATIO else "misses"
        print(f"{r['measure'].split(' (')[0]}: ratio {r['ratio']:.3f} ({verdict} the "
              f">= {TARGET_RATIO} target)")
    print(f"multi_processing / in_memory: {result['rows'][2]['ratio']:.2f}x")
    if "marginal" in result:
        m = result["marginal"]
        print(f"in_memory Transform = {m['fixed_s']:.1f} s fixed + {m['examples_per_s']:.0f} "
              f"examples/s marginal ({m['ratio_vs_tf_data']:.3f}x tf.data)")
    print(f"recommendation: {result['recommendation']}")
    print(f"wrote {path}")
    return 0


def summarize(args, train: int, test: int, transform_s: Dict[str, List[float]],
              reference_s: List[float], command: str) -> Dict:
    """The result JSON body (shared ``rows`` convention) from the rounds so far.

    Args:
      transform_s: ``{mode: [Transform seconds per timed round]}``.
      reference_s: tf.data seconds per timed round.
    Returns:
      ``{"command", "rows", "timings_s", "examples_per_s", "recommendation", ...}``;
      examples/s = (train + test) / median seconds.
    """
    total = train + test
    timings = {f"transform_{m}": _stats(v) for m, v in transform_s.items()}
    timings["tf_data"] = _stats(reference_s)
    sizes = {k: args.small_examples if k.endswith(SMALL) else total for k in timings}
    eps = {k: sizes[k] / v["median"] for k, v in timings.items()}
    best_mode = max(MODES, key=lambda m: eps[f"transform_{m}"])
    mp_vs_mem = eps["transform_multi_processing"] / eps["transform_in_memory"]
    rows = []
    for m in MODES:
        rows.append({"measure": f"examples/s, Transform {m} vs tf.data in-process "
                                f"(ratio = ours/reference, higher is better)",
                     "ours": eps[f"transform_{m}"], "reference": eps["tf_data"],
                     "ratio": eps[f"transform_{m}"] / eps["tf_data"], "unit": "examples/s",
                     "target": f">= {TARGET_RATIO}"})
    rows.append({"measure": f"examples/s, Transform multi_processing ({args.workers} workers) "
                            f"vs in_memory (ratio = multi/in_memory)",
                 "ours": eps["transform_multi_processing"],
                 "reference": eps["transform_in_memory"], "ratio": mp_vs_mem,
                 "unit": "examples/s", "target": None})
    marginal = {}
    if args.small_examples:
        small_s = timings["transform_in_memory" + SMALL]["median"]
        full_s = timings["transform_in_memory"]["median"]
        added_s = full_s - small_s
        rate = (total - args.small_examples) / added_s if added_s > 0 else float("inf")
        marginal = {"marginal": {
            "small_examples": args.small_examples,
            "fixed_s": full_s - total / rate, "examples_per_s": rate,
            "ratio_vs_tf_data": rate / eps["tf_data"]}}
        rows.append({"measure": f"marginal examples/s, in_memory Transform from "
                                f"{args.small_examples} to {total} examples vs tf.data "
                                f"(ratio = ours/reference; fixed part "
                                f"{marginal['marginal']['fixed_s']:.1f} s left out)",
                     "ours": rate, "reference": eps["tf_data"],
                     "ratio": rate / eps["tf_data"], "unit": "examples/s", "target": None})
    recommendation = (f"default Beam DirectRunner mode for Transform: {best_mode} "
                      f"(multi_processing/in_memory = {mp_vs_mem:.2f}x with {total} "
                      f"examples on {os.cpu_count()} cores, 1-min load "
                      f"{os.getloadavg()[0]:.1f})")
    return {
        "command": command, "rows": rows, "examples": {"train": train, "eval": test},
        "workers": args.workers, "disable_statistics": not args.with_statistics, **marginal,
        "repeats": args.repeats, "rounds_done": len(reference_s), "warmup": args.warmup,
        "timings_s": timings, "examples_per_s": eps, "recommendation": recommendation,
        "notes": "Transform seconds are MLMD execution times (driver, module wheel install, "
                 "Beam analyze+transform+write, TFDV statistics if enabled); the "
                 "tf.data reference parses and preprocesses the same TFRecords and writes "
                 "nothing."}


if __name__ == "__main__":
    sys.exit(main())
