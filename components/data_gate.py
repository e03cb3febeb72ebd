"""The data gate: a curated schema in, anomalies stop the run before Transform.

TFX's ExampleValidator only *records* anomalies (an ``ExampleAnomalies``
artifact with ``Split-*/SchemaDiff.pb`` and a per-split ``blessed`` custom
property); nothing downstream reads them, so Transform and Trainer would
happily train on broken data. Two components close that gap:

- ``CuratedSchemaGen``: TFX's ``ImportSchemaGen`` (copies a reviewed schema
  file from ``schemas/<dataset>/schema.pbtxt`` into the pipeline) plus a
  ``schema_sha256`` parameter. TFX's cache key covers execution parameters but
  not the content of ``schema_file``, so without the digest an edited schema
  would be served stale from cache.
- ``DataGate``: a Python-function component that reads the ExampleValidator's
  anomalies and, when there are any, raises ``DataGateError`` with a readable
  report (feature, anomaly type, description, example counts from the
  statistics). The local runner stops at the first failed component, so the
  run ends there with exit code 1. Otherwise it republishes the examples as
  its own ``validated_examples`` output: hard links to the same files (a copy
  where links are impossible, e.g. across filesystems or on ``gs://``), with
  the same split names, span, version and payload format.

Transform takes its ``examples`` from ``DataGate.outputs['validated_examples']``.
That data dependency, rather than a bare ordering edge, makes every
orchestrator (LocalDagRunner, Kubeflow) schedule Transform after the gate, and
MLMD lineage shows that what Transform consumed passed validation. TFX's
``Cond`` was not used: a false condition skips Transform and Trainer but
ends the run "successfully", with no report and exit code 0.

(No ``from __future__ import annotations`` here: TFX's component decorator
reads the annotations as types.)
"""

import hashlib
import os
import shutil
from typing import Dict, List, Optional, Tuple

import tensorflow as tf
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from tfx import types as tfx_types
from tfx import v1 as tfx
from tfx.components.example_validator import executor as validator_executor
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from tfxp.core.uris import is_uri, join

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact

SCHEMA_DIGEST_KEY = "schema_sha256"
# Properties of the examples artifact that TFX keeps outside ``properties``.
_EXAMPLES_CUSTOM_PROPERTIES = ("payload_format", "file_format", "input_fingerprint")


class DataGateError(RuntimeError):
    """ExampleValidator found anomalies; the message is the full report."""


def file_sha256(path: str) -> str:
    """SHA-256 hex digest of the file at ``path`` (local path or URI)."""
    with tf.io.gfile.GFile(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CuratedSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    """``ImportSchemaGenSpec`` plus the schema file's digest (cache key)."""

    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                  SCHEMA_DIGEST_KEY: ExecutionParameter(type=str)}


class CuratedSchemaGen(ImportSchemaGen):
    """``ImportSchemaGen`` whose cache key changes whenever the file's bytes do.

    The executor is TFX's own: it checks that the file parses as a Schema and
    copies it to the output ``schema`` artifact.
    """

    SPEC_CLASS = CuratedSchemaGenSpec

    def __init__(self, schema_file: str, schema_sha256: Optional[str] = None):
        """Args:
          schema_file: path of a text-format ``tensorflow_metadata`` Schema,
            as the executor will see it (in-image path on Kubeflow).
          schema_sha256: digest of the file's bytes; None reads ``schema_file``.
        Raises:
          FileNotFoundError: no digest given and ``schema_file`` is unreadable.
        """
        if schema_sha256 is None:
            if not tf.io.gfile.exists(schema_file):
                raise FileNotFoundError(f"schema file {schema_file!r} does not exist")
            schema_sha256 = file_sha256(schema_file)
        spec = CuratedSchemaGenSpec(
            schema_file=schema_file, schema_sha256=schema_sha256,
            schema=tfx_types.Channel(type=standard_artifacts.Schema))
        super(ImportSchemaGen, self).__init__(spec=spec)  # skip ImportSchemaGen's spec


def _feature_name(path) -> str:
    return ".".join(path.step)


def _common_stats(feature: statistics_pb2.FeatureNameStatistics):
    kind = feature.WhichOneof("stats")
    if kind in ("num_stats", "string_stats", "bytes_stats", "struct_stats"):
        return getattr(feature, kind).common_stats
    return None


def example_counts(stats: statistics_pb2.DatasetFeatureStatistics, feature: str) -> str:
    """One line of counts for ``feature`` in one split's statistics.

    Example: ``examples 600, with a value 360 (60.0%), values/example 0..1``.
    CsvExampleGen writes an empty CSV field as a present feature with no
    values, so "with a value" is what matters, not TFDV's ``num_missing``.
    For features with at most one value per example it is exact
    (``tot_num_values``); otherwise it is the number of examples that have
    the feature at all.
    """
    total = stats.num_examples
    for f in stats.features:
        if _feature_name(f.path) != feature:
            continue
        common = _common_stats(f)
        if common is None:
            break
        with_value = (common.tot_num_values if common.max_num_values <= 1
                      else common.num_non_missing)
        share = 100.0 * with_value / total if total else 0.0
        return (f"examples {total}, with a value {with_value} ({share:.1f}%), "
                f"values/example {common.min_num_values}..{common.max_num_values}")
    return f"examples {total}, feature absent from the data"


def format_anomalies(split: str, anomalies: anomalies_pb2.Anomalies,
                     stats: Optional[statistics_pb2.DatasetFeatureStatistics]) -> List[str]:
    """Report lines for one split: one block per anomalous feature.

    Each block names the feature, every anomaly type (TFDV's
    ``AnomalyInfo.Type`` enum name), TFDV's short and long description, and
    the split's example counts for that feature.
    """
    lines = []
    total = f"{stats.num_examples} examples" if stats is not None else "statistics missing"
    lines.append(f"  split '{split}' ({total}):")
    entries: List[Tuple[str, anomalies_pb2.AnomalyInfo]] = sorted(
        anomalies.anomaly_info.items())
    if anomalies.HasField("dataset_anomaly_info"):
        entries.append(("<dataset>", anomalies.dataset_anomaly_info))
    for feature, info in entries:
        reasons = info.reason or [anomalies_pb2.AnomalyInfo.Reason(
            type=info.type, short_description=info.short_description,
            description=info.description)]
        for reason in reasons:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
            lines.append(f"    {feature}: {kind} ({reason.short_description}) "
                         f"{reason.description}")
        if stats is not None and feature != "<dataset>":
            lines.append(f"      {example_counts(stats, feature)}")
    return lines


def anomaly_report(anomalies_artifact, statistics_artifact) -> Optional[str]:
    """The gate's verdict on one ExampleAnomalies artifact.

    Args:
      anomalies_artifact: ExampleValidator's output (``Split-<name>/SchemaDiff.pb``).
      statistics_artifact: the StatisticsGen output it was computed from,
        for example counts.
    Returns:
      None when no split has an anomaly, else the multi-line report.
    """
    splits = artifact_utils.decode_split_names(anomalies_artifact.split_names)
    stats_splits = set(artifact_utils.decode_split_names(statistics_artifact.split_names))
    lines, count = [], 0
    for split in splits:
        path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split),
                            validator_executor.DEFAULT_FILE_NAME)
        anomalies = anomalies_util.load_anomalies_binary(path)
        if not anomalies.anomaly_info and not anomalies.HasField("dataset_anomaly_info"):
            continue
        count += len(anomalies.anomaly_info) + anomalies.HasField("dataset_anomaly_info")
        stats = None
        if split in stats_splits:
            stats = stats_artifact_utils.load_statistics(
                statistics_artifact, split).proto().datasets[0]
        lines.extend(format_anomalies(split, anomalies, stats))
    if not count:
        return None
    header = (f"data gate: ExampleValidator found {count} anomal"
              f"{'y' if count == 1 else 'ies'}; the run stops before Transform and "
              f"Trainer. Fix the data, or review schemas/<dataset>/schema.pbtxt if the "
              f"data is right.")
    return "\n".join([header, *lines, f"  anomalies: {anomalies_artifact.uri}"])


def _link_or_copy_tree(src: str, dst: str) -> int:
    """Mirrors the files under ``src`` into ``dst``; returns the file count.

    Local files are hard-linked (artifacts are immutable once published, so
    sharing inodes is safe and costs no space); where ``os.link`` fails
    (another filesystem) or for URIs (``gs://``) the bytes are copied.
    """
    count = 0
    local = not is_uri(src) and not is_uri(dst)
    top = src if local else src.rstrip("/")
    for root, _, files in tf.io.gfile.walk(top):
        # Relative part by prefix, not os.path.relpath/normpath, which turn
        # gs://b/out into gs:/b/out.
        rel = root[len(top):].strip("/" + os.sep)
        target_dir = join(dst, *rel.split(os.sep if local else "/")) if rel else dst
        tf.io.gfile.makedirs(target_dir)
        for name in files:
            source, target = join(root, name), join(target_dir, name)
            if local:
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copy2(source, target)
            else:
                tf.io.gfile.copy(source, target, overwrite=True)
            count += 1
    return count


@tfx.dsl.components.component
def DataGate(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    examples: InputArtifact[standard_artifacts.Examples],
    validated_examples: OutputArtifact[standard_artifacts.Examples],
) -> None:
    """Stops the run on any anomaly; otherwise passes ``examples`` through.

    Raises:
      DataGateError: the anomalies artifact holds at least one anomaly in any
        split; the message is ``anomaly_report``'s text.
    """
    report = anomaly_report(anomalies, statistics)
    if report is not None:
        raise DataGateError(report)
    _link_or_copy_tree(examples.uri, validated_examples.uri)
    validated_examples.split_names = examples.split_names
    for name in ("span", "version"):
        if examples.has_property(name):
            setattr(validated_examples, name, getattr(examples, name))
    for name in _EXAMPLES_CUSTOM_PROPERTIES:
        if examples.has_custom_property(name):
            validated_examples.mlmd_artifact.custom_properties[name].CopyFrom(
                examples.mlmd_artifact.custom_properties[name])


def gate_components(examples, schema_file: str,
                    custom_validation_config=None,
                    schema_sha256: Optional[str] = None) -> Dict[str, object]:
    """StatisticsGen -> CuratedSchemaGen -> ExampleValidator -> DataGate.

    The one wiring of the data gate, used by ``pipeline.pipeline`` and by the
    reliability tests that feed hand-made examples.

    Args:
      examples: an ExampleGen's ``examples`` channel.
      schema_file: the curated schema (``pipeline.schemas.schema_file``).
      custom_validation_config: optional TFDV ``CustomValidationConfig``
        (SQL checks over the statistics), e.g. "no empty texts".
      schema_sha256: digest of ``schema_file`` when the path is not readable
        at pipeline-construction time (Kubeflow image paths).
    Returns:
      ``{"statistics_gen", "schema_gen", "example_validator", "data_gate"}``,
      in that (topological) order.
    """
    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = CuratedSchemaGen(schema_file=schema_file,
                                  schema_sha256=schema_sha256).with_id("ImportSchemaGen")
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        custom_validation_config=custom_validation_config)
    data_gate = DataGate(statistics=statistics_gen.outputs["statistics"],
                         anomalies=example_validator.outputs["anomalies"],
                         examples=examples)
    return {"statistics_gen": statistics_gen, "schema_gen": schema_gen,
            "example_validator": example_validator, "data_gate": data_gate}
