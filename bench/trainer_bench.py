"""Trainer efficiency: the TFX Trainer's ``run_fn`` against plain Keras ``fit``.

Usage: .venv/bin/python bench/trainer_bench.py [--families dense,cnn,...]
           [--steps N] [--repeats N] [--workspace DATASET=PATH ...]

For each family, in one process, side by side and interleaved (ours, plain,
plain_spe, ours, plain, plain_spe, ...) after one untimed warm-up of each:

- ours: ``models.training.run_fn`` itself, called with the ``FnArgs`` that
  TFX's Trainer executor builds (``fn_args_utils.get_common_fn_args`` on the
  Transform artefacts read from MLMD): MirroredStrategy, the tfxio
  ``data_accessor`` dataset, its callbacks (BackupAndRestore, TensorBoard,
  per-epoch weights, StepCounter) and its validation pass. Only the SavedModel
  export after ``fit`` is replaced by a no-op: it is not training, and the
  overhead bench times the whole Trainer component.
- plain: the same registry builder and hparams, no strategy, a
  ``tf.data.TFRecordDataset`` over the same transformed TFRecords parsed with
  ``tft.TFTransformOutput.transformed_feature_spec()`` (shuffle buffer 10,000
  like tfxio's default, batch, parse, prefetch), the same global batch, steps,
  epochs and validation steps, ``model.fit`` with no callbacks, verbose 0,
  Keras' default of one step per train-function call.
- plain_spe: plain, compiled with the ``steps_per_execution`` that ``run_fn``
  picks (``models.resumable.execution_steps``). Against it the ratio shows
  what MirroredStrategy, tfxio and the callbacks still cost per step once
  both sides run the same number of steps per call.

Measures, per family (median of ``--repeats``, min and max in ``details``):
- steady training steps/s: training steps after the first ``--warmup-steps``,
  divided by the time between the ends of their train-function calls (only
  within one epoch, so validation and epoch-end callbacks are left out);
  ratio ours/plain, target >= 0.95, and ours/plain_spe;
- fit steps/s: steps / wall time of the whole ``fit`` call (graph building,
  validation and epoch-end callbacks included); ratio ours/plain.

The transformed TFRecords come from a small real pipeline per dataset
(``tfxp run --train-steps 5 --eval-steps 2``, default Beam runner) in
``--work-dir``, unless ``--workspace DATASET=PATH`` names an existing
workspace. Writes ``bench/results/trainer.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TF loads)
from tfxp.core.workspace import SERVING_MODEL_DIR, Workspace  # noqa: E402

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras as keras  # noqa: E402
from tfx.components.trainer import fn_args_utils  # noqa: E402
from tfx.proto import trainer_pb2  # noqa: E402
from tfx.utils import proto_utils  # noqa: E402

from bench.common import (latest_run, print_rows, reproduce_command, row, stats,  # noqa: E402
                          tfx_artifact, tfxp_path, write_result)
from tfxp.core import features as F  # noqa: E402
from tfxp.models import resumable, training  # noqa: E402
from tfxp.models.registry import FAMILIES, get_family  # noqa: E402
from tfxp.core.datasets import get_dataset  # noqa: E402

TARGET = ">= 0.95"
SHUFFLE_BUFFER = 10000  # tfxio TensorFlowDatasetOptions' default


class StepTimer(keras.callbacks.Callback):
    """Records ``(last step of the call, time.perf_counter() seconds)`` at the
    end of every train-function call, per epoch (Keras calls
    ``on_train_batch_end`` once per call, with the call's last step). It
    accepts tensor logs, so it adds no per-step sync."""

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True
        self.epochs: List[List[Tuple[int, float]]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.epochs[-1].append((batch, time.perf_counter()))

    def steady_steps_per_s(self, warmup_steps: int) -> float:
        """Steps per second over the calls that start after the first
        ``warmup_steps`` steps (counted across epochs): steps between
        consecutive call ends inside one epoch, over the time between them.

        Raises:
          ValueError: no call left after the warm-up.
        """
        steps, seconds, before = 0, 0.0, 0
        for ends in self.epochs:
            for (b0, t0), (b1, t1) in zip(ends, ends[1:]):
                if before + b0 + 1 >= warmup_steps:
                    steps, seconds = steps + (b1 - b0), seconds + (t1 - t0)
            before += ends[-1][0] + 1 if ends else 0
        if not steps:
            raise ValueError(f"no timed call after {warmup_steps} warm-up steps; raise --steps")
        return steps / seconds


def transform_fn_args(workspace: str, train_steps: int, eval_steps: int,
                      custom_config: Dict[str, object], out_dir: str) -> fn_args_utils.FnArgs:
    """The ``FnArgs`` TFX's Trainer executor would pass ``run_fn`` for the
    workspace's latest run (as ``Executor._GetFnArgs`` builds them), with
    model folders under ``out_dir``.

    Raises:
      LookupError: the run has no Transform outputs or schema.
    """
    store, _, outputs = latest_run(workspace)
    transform = outputs.get("Transform", {})
    schema = next((arts["Schema"] for arts in outputs.values() if "Schema" in arts), None)
    if "Examples" not in transform or "TransformGraph" not in transform or schema is None:
        raise LookupError(f"{workspace!r}: latest run lacks Transform outputs or a schema")
    input_dict = {"examples": [tfx_artifact(store, transform["Examples"])],
                  "transform_graph": [tfx_artifact(store, transform["TransformGraph"])],
                  "schema": [tfx_artifact(store, schema)]}
    exec_properties = {
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=train_steps)),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(num_steps=eval_steps)),
        "custom_config": json.dumps(custom_config)}
    fn_args = fn_args_utils.get_common_fn_args(input_dict, exec_properties)
    fn_args.transform_output = fn_args.transform_graph_path
    fn_args.schema_file = fn_args.schema_path
    # <node>/model_run/<id> as TFX lays it out: run_fn puts its backup in <node>/backup.
    runs = os.path.join(out_dir, "Trainer", "model_run")
    os.makedirs(runs, exist_ok=True)
    fn_args.model_run_dir = tempfile.mkdtemp(dir=runs)
    fn_args.serving_model_dir = os.path.join(out_dir, "Trainer", "model", SERVING_MODEL_DIR)
    return fn_args


def plain_dataset(file_patterns: List[str], feature_spec: Dict[str, object],
                  batch_size: int) -> tf.data.Dataset:
    """Transformed examples read the plain way, repeated forever.

    Args:
      file_patterns: GZIP TFRecord globs of transformed ``tf.Example``s.
      feature_spec: ``tft.TFTransformOutput.transformed_feature_spec()``.
      batch_size: global batch, examples per step.
    Returns:
      ``({name: [B, ...]}, label int64 [B])`` batches.
    """
    files = [f for pattern in file_patterns for f in sorted(tf.io.gfile.glob(pattern))]
    label_key = F.TRANSFORMED_LABEL

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, feature_spec)
        return parsed, parsed.pop(label_key)

    return (tf.data.TFRecordDataset(files, compression_type="GZIP",
                                    num_parallel_reads=tf.data.AUTOTUNE)
            .shuffle(SHUFFLE_BUFFER).repeat().batch(batch_size)
            .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


@contextlib.contextmanager
def timed_fits(timer: StepTimer, fit_seconds: List[float]):
    """Within: every ``keras.Model.fit`` also gets ``timer`` and appends its
    wall time (seconds) to ``fit_seconds``; the SavedModel export of
    ``run_fn`` is a no-op."""
    original = keras.Model.fit

    def fit(model, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [timer]
        start = time.perf_counter()
        try:
            return original(model, *args, **kwargs)
        finally:
            fit_seconds.append(time.perf_counter() - start)

    with mock.patch.object(keras.Model, "fit", fit), \
            mock.patch.object(training, "export_serving_model", lambda *a, **k: None):
        yield


def time_run_fn(workspace: str, family: str, steps: int, eval_steps: int, epochs: int,
                warmup_steps: int, out_dir: str, strategy: str = "mirrored"
                ) -> Tuple[float, float]:
    """Runs ``run_fn`` once. Returns (steady steps/s, fit steps/s).

    ``strategy="default"`` swaps ``run_fn``'s MirroredStrategy for TF's
    default (no) strategy, to see what the strategy costs on one device."""
    dataset = get_family(family).default_dataset
    fn_args = transform_fn_args(workspace, steps, eval_steps,
                                {"family": family, "dataset": dataset, "epochs": epochs},
                                out_dir)
    timer, fit_seconds = StepTimer(), []
    with timed_fits(timer, fit_seconds), contextlib.ExitStack() as stack:
        if strategy == "default":
            stack.enter_context(mock.patch.object(training, "make_strategy",
                                                  tf.distribute.get_strategy))
        training.run_fn(fn_args)
    return timer.steady_steps_per_s(warmup_steps), steps / fit_seconds[0]


def run_fn_steps_per_execution(steps: int, epochs: int) -> int:
    """The ``steps_per_execution`` ``run_fn`` compiles with for ``steps``
    training steps in ``epochs`` epochs and no ``custom_config`` overrides."""
    _, per_epoch = training.epoch_plan(steps, epochs)
    return resumable.execution_steps(per_epoch, resumable.backup_every(per_epoch, {}), {})


def time_plain_fit(workspace: str, family_name: str, batch: int, steps: int, eval_steps: int,
                   epochs: int, warmup_steps: int, out_dir: str,
                   steps_per_execution: int = 1) -> Tuple[float, float]:
    """Plain ``fit`` once, same model, data, global ``batch``, steps, with
    ``steps_per_execution`` steps per train-function call. Returns (steady
    steps/s, fit steps/s)."""
    family = get_family(family_name)
    fn_args = transform_fn_args(workspace, steps, eval_steps, {}, out_dir)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    spec = tft_output.transformed_feature_spec()
    hparams = training.resolve_hparams(family, get_dataset(family.default_dataset), tft_output)
    hparams["steps_per_execution"] = steps_per_execution
    model = family.build_model(hparams)
    train = plain_dataset(fn_args.train_files, spec, batch)
    evals = plain_dataset(fn_args.eval_files, spec, batch)
    epochs, per_epoch = training.epoch_plan(steps, epochs)
    timer = StepTimer()
    start = time.perf_counter()
    model.fit(train, epochs=epochs, steps_per_epoch=per_epoch,
              validation_data=evals, validation_steps=eval_steps, verbose=0,
              callbacks=[timer])
    return timer.steady_steps_per_s(warmup_steps), steps / (time.perf_counter() - start)


def prepare_workspace(family: str, path: str) -> str:
    """A workspace with Transform outputs for ``family``'s default dataset:
    ``path`` if its MLMD records a run, else a small real pipeline run there
    (``tfxp run``, 5 train steps, the default Beam runner). Raises
    ``subprocess.CalledProcessError`` when that run fails."""
    if os.path.isfile(Workspace(path).metadata_path):
        return path
    argv = [tfxp_path(), "run", "--model", family, "--workspace", path,
            "--train-steps", "5", "--eval-steps", "2"]
    print("preparing:", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--steps", type=int, default=200, help="training steps per fit")
    parser.add_argument("--warmup-steps", type=int, default=50,
                        help="first steps of each fit left out of the steady rate")
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1,
                        help="epochs the steps are split into (both paths)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ours-strategy", choices=("mirrored", "default"), default="mirrored",
                        help="run_fn's strategy: its own MirroredStrategy, or TF's default "
                        "(to see what MirroredStrategy costs on one device)")
    parser.add_argument("--result-name", default="trainer",
                        help="bench/results/<name>.json (e.g. for a before/after pair)")
    parser.add_argument("--workspace", action="append", default=[], metavar="DATASET=PATH",
                        help="existing workspace with Transform outputs for DATASET")
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(),
                                                           "tfxp-trainer-bench"),
                        help="where missing workspaces are made and kept for reuse")
    args = parser.parse_args()
    given = dict(w.split("=", 1) for w in args.workspace)
    rows, details = [], {}
    for name in args.families.split(","):
        family = get_family(name)
        workspace = prepare_workspace(name, given.get(family.default_dataset) or os.path.join(
            args.work_dir, family.default_dataset))
        out_dir = tempfile.mkdtemp(prefix=f"trainer-bench-{name}-")
        common = dict(steps=args.steps, eval_steps=args.eval_steps, epochs=args.epochs,
                      warmup_steps=args.warmup_steps, out_dir=out_dir)
        # run_fn's global batch: per-replica batch x replicas (1 replica on a CPU).
        batch = family.per_replica_batch * training.make_strategy().num_replicas_in_sync
        spe = run_fn_steps_per_execution(args.steps, args.epochs)
        ours, plain, plain_spe = [], [], []
        for i in range(args.repeats + 1):  # the first round is the untimed warm-up
            o = time_run_fn(workspace, name, strategy=args.ours_strategy, **common)
            p = time_plain_fit(workspace, name, batch, **common)
            q = time_plain_fit(workspace, name, batch, steps_per_execution=spe, **common)
            keras.backend.clear_session()
            if i:
                ours.append(o)
                plain.append(p)
                plain_spe.append(q)
            print(f"[{name}] {'warm-up' if not i else f'repeat {i}'}: steady steps/s "
                  f"run_fn {o[0]:.2f} plain {p[0]:.2f} plain_spe {q[0]:.2f}; fit steps/s "
                  f"run_fn {o[1]:.2f} plain {p[1]:.2f}", flush=True)
        steady_o, steady_p = stats([o[0] for o in ours]), stats([p[0] for p in plain])
        steady_q = stats([q[0] for q in plain_spe])
        fit_o, fit_p = stats([o[1] for o in ours]), stats([p[1] for p in plain])
        rows.append(row(f"{name}: steady train steps/s, run_fn / plain fit (higher better)",
                        steady_o["median"], steady_p["median"], "steps/s", TARGET))
        rows.append(row(f"{name}: steady train steps/s, run_fn / plain fit with the same "
                        f"steps_per_execution ({spe})",
                        steady_o["median"], steady_q["median"], "steps/s"))
        rows.append(row(f"{name}: whole fit steps/s (build+val+callbacks), run_fn / plain",
                        fit_o["median"], fit_p["median"], "steps/s"))
        details[name] = {"workspace": workspace,
                         "global_batch": batch,
                         "run_fn_steps_per_execution": spe,
                         "steady_steps_per_s": {"ours": steady_o, "reference": steady_p,
                                                "reference_same_spe": steady_q},
                         "fit_steps_per_s": {"ours": fit_o, "reference": fit_p}}
        # Written after every family, so a cut-short run keeps what it measured.
        path = write_result(args.result_name, {
            "command": reproduce_command(), "rows": rows, "details": details,
            "settings": {k: v for k, v in vars(args).items() if k != "workspace"}})
    print_rows(rows)
    print("written:", path)


if __name__ == "__main__":
    main()
