"""Assembles the TFX pipeline once; the local and Kubeflow runners both call it.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform ->
Trainer -> Evaluator (vs. the latest blessed model) -> Pusher (blessed only,
atomic versions, see ``components.pusher``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import List, Optional

from tfx import v1 as tfx
from tfx.proto import example_gen_pb2

from components import pusher as atomic_pusher
from pipeline import evaluation
from pipeline.config import RunConfig
from pipeline.datasets import taxi_csv_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODULE_FILE = str(PROJECT_ROOT / "models" / "tfx_module" / "module_file.py")
_CODE_DIRS = ("models", "pipeline", "components")


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


def _example_gen(config: RunConfig):
    dataset = config.dataset_spec
    if dataset.source == "csv":
        output = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))
        path = os.path.abspath(config.csv or taxi_csv_dir())
        if os.path.isfile(path):
            # One file: its folder is the input base, its name the pattern.
            return tfx.components.CsvExampleGen(
                input_base=os.path.dirname(path), output_config=output,
                input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
                    name="single_split", pattern=os.path.basename(path))]))
        return tfx.components.CsvExampleGen(input_base=path, output_config=output)
    from components.tfds_example_gen import TfdsExampleGen
    return TfdsExampleGen(dataset_name=dataset.name,
                          data_dir=os.path.abspath(os.path.join(config.data_dir, "tfds")))


def create_components(config: RunConfig, serving_base: str,
                      module_file: str = MODULE_FILE) -> List:
    """The pipeline's components, in topological order.

    Args:
      config: what to train and how.
      serving_base: the model's base path; versions land in integer folders.
      module_file: TFX module file with ``preprocessing_fn`` and ``run_fn``.
    """
    dataset = config.dataset_spec
    version = code_version()
    example_gen = _example_gen(config)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        module_file=module_file,
        custom_config={"modality": dataset.modality, "code_version": version})
    trainer = tfx.components.Trainer(
        module_file=module_file,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.resolved_train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.resolved_eval_steps),
        custom_config={**config.trainer_config(), "code_version": version})
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=evaluation.eval_config(
            dataset, config.resolved_threshold, config.max_metric_drop))
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_base)),
        custom_executor_spec=atomic_pusher.EXECUTOR_SPEC)
    return [example_gen, statistics_gen, schema_gen, example_validator, transform,
            trainer, model_resolver, evaluator, pusher]


def create_pipeline(config: RunConfig, *, pipeline_root: str, serving_base: str,
                    metadata_connection_config=None,
                    beam_pipeline_args: Optional[List[str]] = None,
                    module_file: str = MODULE_FILE) -> tfx.dsl.Pipeline:
    """The one pipeline definition every runner compiles.

    Args:
      config: the run's configuration (family, dataset, steps, thresholds).
      pipeline_root: where component outputs are written (local path, gs://...).
      serving_base: the model's base path for pushed versions.
      metadata_connection_config: MLMD connection; None lets the orchestrator
        choose (Kubeflow provides its own).
      beam_pipeline_args: overrides ``config.beam_pipeline_args``.
    """
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=create_components(config, serving_base, module_file),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args if beam_pipeline_args is not None
                                else config.beam_pipeline_args))
