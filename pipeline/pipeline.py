"""Assembles the TFX pipeline once; the local and Kubeflow runners both call it.

ExampleGen (splits train, validation, eval: ``core.datasets.SPLITS``; CSV
columns typed by the curated schema, see ``components.csv_example_gen``) ->
StatisticsGen -> ImportSchemaGen (the curated schema) ->
ExampleValidator -> DataGate (stops on anomalies, see ``components.data_gate``)
-> Transform -> Trainer -> Evaluator (vs. the latest blessed model; binary
tasks also need a binary accuracy above the eval split's majority-class
share, see ``components.evaluator``) ->
InProcessInfraValidator (serves the candidate, see
``components.infra_validator``) -> Pusher (blessed by both only, atomic
versions, see ``components.pusher``).

With ``RunConfig.warm_start`` the Evaluator's latest-blessed-model Resolver
also feeds the Trainer's ``base_model`` (``models.warm_start``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import List, Optional

from tfx import v1 as tfx
from tfx.proto import example_gen_pb2

from tfxp.components import data_gate
from tfxp.components.csv_example_gen import TypedCsvExampleGen
from tfxp.components.evaluator import Evaluator
from tfxp.components import pusher as atomic_pusher
from tfxp.components.infra_validator import InProcessInfraValidator
from tfxp.pipeline import evaluation, schemas
from tfxp.pipeline.config import RunConfig
from tfxp.core import uris
from tfxp.core.datasets import EVAL_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT, taxi_csv_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODULE_FILE = str(PROJECT_ROOT / "models" / "tfx_module" / "module_file.py")
# Transform computes no TFDV statistics: StatisticsGen already holds the
# pre-transform ones and nothing reads the post-transform ones, which cost
# more than half of Transform's wall time on the taxi data.
TRANSFORM_DISABLE_STATISTICS = True
_CODE_DIRS = ("core", "models", "pipeline", "components")


def code_version() -> str:
    """SHA-256 (16 hex chars) of the project's pipeline code.

    TFX keys the cache of Transform and Trainer on the module file's folder
    only; passing this in ``custom_config`` makes any change to the model or
    preprocessing code invalidate their cached outputs too.
    """
    digest = hashlib.sha256()
    for folder in _CODE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# CsvExampleGen's hash partition (example_gen/utils.py: the fingerprint of
# each record modulo the bucket total, buckets assigned in order): 5/9 train,
# 1/9 validation, 3/9 eval.
CSV_HASH_BUCKETS = ((TRAIN_SPLIT, 5), (VALIDATION_SPLIT, 1), (EVAL_SPLIT, 3))


def csv_example_gen(path: str, is_file: bool, dataset: str = "chicago_taxi"):
    """The CSV ExampleGen (node id ``CsvExampleGen``) over one CSV file or a
    folder of CSV files, split ``CSV_HASH_BUCKETS``, decoding the columns to
    ``dataset``'s curated schema types (``components.csv_example_gen``:
    lossless conversions, real type errors stop it naming column, value, file
    and line).

    Args:
      path: absolute local path or URI, as the executor will see it.
      is_file: ``path`` is one file (its folder becomes the input base, its
        name the pattern); otherwise every file in the folder (pattern ``*``).
        Given, not looked up, because only the machine that runs the
        executor can look (``kubeflow.runner`` compiles for another one).
      dataset: whose curated schema types the columns
        (``schemas.column_types``, read here, on the compiling machine).
    """
    output = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
        for name, buckets in CSV_HASH_BUCKETS]))
    input_config = None
    if is_file:
        input_config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
            name="single_split", pattern=path.rstrip("/").rsplit("/", 1)[-1])])
        path = uris.dirname(path)
    return TypedCsvExampleGen(
        input_base=path, column_types=schemas.column_types(dataset),
        input_config=input_config, output_config=output).with_id("CsvExampleGen")


def _example_gen(config: RunConfig):
    dataset = config.dataset_spec
    if dataset.source == "csv":
        path = uris.abspath(config.csv or taxi_csv_dir())
        return csv_example_gen(path, os.path.isfile(path), dataset.name)
    from tfxp.components import tfds_builders
    from tfxp.components.tfds_example_gen import TfdsExampleGen
    # Offline builders read <data_dir>/<dataset> (scripts/get_data.sh) and are
    # prepared into <data_dir>/tfds once; later runs reuse the prepared data.
    train, validation, held_out = dataset.tfds_splits
    return TfdsExampleGen(
        dataset_name=tfds_builders.tfds_name(dataset.name),
        train_split=train, validation_split=validation, eval_split=held_out,
        data_dir=uris.abspath(os.path.join(config.data_dir, "tfds")),
        manual_dir=tfds_builders.default_manual_dir(
            uris.abspath(config.data_dir), dataset.name))


def trainer_args(config: RunConfig):
    """The Trainer's ``TrainArgs`` and ``EvalArgs`` fields, as two dicts: it
    fits on the train split and validates (per-epoch metrics, the exported
    epoch, early stopping) on the validation split, never on eval.
    ``config.resolved_eval_steps`` caps the validation batches."""
    return ({"num_steps": config.resolved_train_steps, "splits": [TRAIN_SPLIT]},
            {"num_steps": config.resolved_eval_steps, "splits": [VALIDATION_SPLIT]})


def create_components(config: RunConfig, serving_base: str,
                      module_file: str = MODULE_FILE, *,
                      train_args=None, eval_args=None,
                      baseline: bool = True, schema_file: Optional[str] = None,
                      example_gen=None, custom_validation: bool = True) -> List:
    """The pipeline's components, in topological order.

    Args:
      config: what to train and how.
      serving_base: the model's base path; versions land in integer folders.
      module_file: TFX module file with ``preprocessing_fn`` and ``run_fn``.
      train_args, eval_args: Trainer ``TrainArgs``/``EvalArgs`` or a
        ``RuntimeParameter`` holding their JSON (Kubeflow); None means the
        config's step counts.
      baseline: compare with the latest blessed model through a Resolver
        node. False drops the Resolver (open-source KFP cannot run Resolver
        nodes); the Evaluator then blesses on absolute thresholds only. With
        ``config.warm_start`` the same Resolver's model is the Trainer's
        ``base_model`` (``models.warm_start``), so it needs ``baseline``.
      schema_file: the curated schema as the executor sees it (an in-image
        path on Kubeflow); None means ``schemas/<dataset>/schema.pbtxt`` here.
        Its cache digest is always taken from the local curated file.
      example_gen: an ExampleGen to use instead of the dataset's (tests feed
        hand-made TFRecords through ``ImportExampleGen``).
      custom_validation: pass ``schemas/<dataset>/custom_validation.pbtxt``
        to ExampleValidator. Kubeflow compiles with False: TFX 1.16 turns that
        proto into a ``make_proto`` placeholder, which ``KubeflowV2DagRunner``
        rejects ("Invalid placeholder for exec prop custom_validation_config").
    Raises:
      ValueError: ``config.warm_start`` without ``baseline``.
    """
    dataset = config.dataset_spec
    version = code_version()
    example_gen = example_gen or _example_gen(config)
    gate = data_gate.gate_components(
        example_gen.outputs["examples"],
        schema_file or schemas.schema_file(dataset.name),
        schemas.custom_validation_config(dataset.name) if custom_validation else None,
        schema_sha256=(None if schema_file is None else
                       data_gate.file_sha256(schemas.schema_file(dataset.name))))
    statistics_gen, schema_gen = gate["statistics_gen"], gate["schema_gen"]
    example_validator, gate_node = gate["example_validator"], gate["data_gate"]
    transform = tfx.components.Transform(
        examples=gate_node.outputs["validated_examples"],
        schema=schema_gen.outputs["schema"],
        module_file=module_file,
        disable_statistics=TRANSFORM_DISABLE_STATISTICS,
        custom_config={"modality": dataset.modality, "code_version": version})
    if config.warm_start and not baseline:
        raise ValueError(
            "warm_start needs the latest-blessed-model Resolver, which baseline=False "
            "leaves out (open-source KFP cannot run Resolver nodes); compile for "
            "--target vertex, or without --warm-start")
    resolvers = [tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")] if baseline else []
    trainer = tfx.components.Trainer(
        module_file=module_file,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        # TFX's warm-start channel: run_fn gets it as fn_args.base_model.
        base_model=resolvers[0].outputs["model"] if config.warm_start else None,
        train_args=(tfx.proto.TrainArgs(**trainer_args(config)[0])
                    if train_args is None else train_args),
        eval_args=(tfx.proto.EvalArgs(**trainer_args(config)[1])
                   if eval_args is None else eval_args),
        custom_config={**config.trainer_config(), "code_version": version})
    # TFX's Evaluator plus a binary-accuracy floor from the eval split's
    # majority-class share (components/evaluator.py).
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"], example_splits=[EVAL_SPLIT],
        model=trainer.outputs["model"],
        baseline_model=resolvers[0].outputs["model"] if resolvers else None,
        eval_config=evaluation.eval_config(
            dataset, config.resolved_threshold, config.max_metric_drop))
    infra_validator = InProcessInfraValidator(
        model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
        latency_gate_json=config.latency_gate_json, serving_base=serving_base)
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_base)),
        custom_executor_spec=atomic_pusher.EXECUTOR_SPEC)
    return [example_gen, statistics_gen, schema_gen, example_validator, gate_node, transform,
            *resolvers, trainer, evaluator, infra_validator, pusher]


def create_pipeline(config: RunConfig, *, pipeline_root: str, serving_base: str,
                    metadata_connection_config=None,
                    beam_pipeline_args: Optional[List[str]] = None,
                    module_file: str = MODULE_FILE,
                    **component_options) -> tfx.dsl.Pipeline:
    """The one pipeline definition every runner compiles.

    Args:
      config: the run's configuration (family, dataset, steps, thresholds).
      pipeline_root: where component outputs are written (local path, gs://...).
      serving_base: the model's base path for pushed versions.
      metadata_connection_config: MLMD connection; None lets the orchestrator
        choose (Kubeflow provides its own).
      beam_pipeline_args: overrides ``config.beam_pipeline_args``.
      component_options: ``train_args``, ``eval_args``, ``baseline``,
        ``schema_file``, ``example_gen``, ``custom_validation`` of
        ``create_components``.
    """
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=create_components(config, serving_base, module_file,
                                     **component_options),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args if beam_pipeline_args is not None
                                else config.beam_pipeline_args))
