"""The curated, reviewed data contracts under ``schemas/<dataset>/``.

Each dataset has:

- ``schema.pbtxt`` (required): a text-format ``tensorflow_metadata`` Schema.
  It was generated once with TFDV from the real data's statistics, then
  reviewed: domains, ranges, required features; the review decisions are
  commented in the file. ``CuratedSchemaGen`` feeds it to the pipeline.
- ``custom_validation.pbtxt`` (optional): a TFDV ``CustomValidationConfig``,
  SQL checks over the statistics for what a schema cannot say (e.g. "no empty
  texts"), passed to ExampleValidator.
- ``drift_skew.pbtxt`` (optional): the thresholds ``tfxp drift`` compares
  served traffic with: a text-format Schema holding, per feature, only its
  ``name`` and TFDV's ``skew_comparator`` (serving vs training) and
  ``drift_comparator`` (one window of traffic vs the previous), each with an
  ``infinity_norm`` or ``jensen_shannon_divergence`` threshold. It is merged
  over the schema at read time (``with_comparators``); the pipeline reads
  ``schema.pbtxt`` alone, so a threshold change never invalidates its cache.

To review a schema against new data, print a fresh draft and diff it::

    python -m tfxp.pipeline.schemas draft \\
        <StatisticsGen uri>/Split-train/FeatureStats.pb \\
        <StatisticsGen uri>/Split-eval/FeatureStats.pb
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional

SCHEMA_ROOT = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_FILE = "schema.pbtxt"
CUSTOM_VALIDATION_FILE = "custom_validation.pbtxt"
DRIFT_SKEW_FILE = "drift_skew.pbtxt"
# What a drift_skew.pbtxt feature may set besides its name.
_COMPARATOR_FIELDS = ("skew_comparator", "drift_comparator")


def schema_file(dataset: str, root: Path = SCHEMA_ROOT) -> str:
    """Absolute path of ``dataset``'s curated schema.

    Raises:
      FileNotFoundError: no ``schemas/<dataset>/schema.pbtxt``; names the path.
    """
    path = Path(root) / dataset / SCHEMA_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no curated schema for dataset {dataset!r}: {str(path)!r} does not exist; "
            f"draft one with `python -m tfxp.pipeline.schemas draft <FeatureStats.pb>...`")
    return str(path)


def column_types(dataset: str, root: Path = SCHEMA_ROOT) -> Dict[str, str]:
    """``{feature: INT | FLOAT | BYTES}`` of ``dataset``'s curated schema, the
    types our CSV ExampleGen and ``tfxp run``'s CSV check decode to
    (``core.csv_types``). Reads the text proto without TensorFlow.

    Raises:
      FileNotFoundError: no curated schema (``schema_file``).
      google.protobuf.text_format.ParseError: the file is not a Schema.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse(Path(schema_file(dataset, root)).read_text(),
                               schema_pb2.Schema())
    return {feature.name: schema_pb2.FeatureType.Name(feature.type)
            for feature in schema.feature
            if feature.type in (schema_pb2.INT, schema_pb2.FLOAT, schema_pb2.BYTES)}


def custom_validation_config(dataset: str, root: Path = SCHEMA_ROOT):
    """``dataset``'s TFDV ``CustomValidationConfig``, or None if it has none.

    Raises:
      google.protobuf.text_format.ParseError: the file is not a valid config.
    """
    from google.protobuf import text_format
    from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2

    path = Path(root) / dataset / CUSTOM_VALIDATION_FILE
    if not path.is_file():
        return None
    return text_format.Parse(path.read_text(),
                             custom_validation_config_pb2.CustomValidationConfig())


def drift_skew_file(dataset: str, root: Path = SCHEMA_ROOT) -> Optional[str]:
    """Path of ``dataset``'s ``drift_skew.pbtxt``, or None if it has none."""
    path = Path(root) / dataset / DRIFT_SKEW_FILE
    return str(path) if path.is_file() else None


def load_drift_skew(path: str):
    """The comparators of a ``drift_skew.pbtxt``: ``{feature: Feature}``, each
    ``Feature`` holding only ``name``, ``skew_comparator`` and ``drift_comparator``.

    Raises:
      ValueError: the file does not parse as a Schema, a feature has no name,
        appears twice, sets anything but the two comparators, or sets a
        negative threshold; the message names the file and the feature.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        thresholds = text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as err:
        raise ValueError(f"{path}: not a text-format Schema: {err}") from None
    others = [field.name for field, _ in thresholds.ListFields() if field.name != "feature"]
    if others:
        raise ValueError(f"{path}: only `feature` entries belong here, found {others}")
    out = {}
    for feature in thresholds.feature:
        where = f"{path}: feature {feature.name!r}"
        if not feature.name:
            raise ValueError(f"{path}: a feature without a name")
        if feature.name in out:
            raise ValueError(f"{where} appears twice")
        extra = [field.name for field, _ in feature.ListFields()
                 if field.name not in ("name",) + _COMPARATOR_FIELDS]
        if extra:
            raise ValueError(f"{where} sets {extra}; only {list(_COMPARATOR_FIELDS)} "
                             f"belong in {DRIFT_SKEW_FILE}")
        for kind in _COMPARATOR_FIELDS:
            comparator = getattr(feature, kind)
            for measure in ("infinity_norm", "jensen_shannon_divergence",
                            "normalized_abs_difference"):
                if comparator.HasField(measure) and not getattr(
                        comparator, measure).threshold >= 0:
                    raise ValueError(f"{where}: {kind}.{measure}.threshold must be >= 0")
        out[feature.name] = feature
    return out


def with_comparators(schema, comparators):
    """A copy of ``schema`` with each feature's comparators from ``comparators``
    (``load_drift_skew``) set over its own.

    Raises:
      ValueError: a comparator names a feature ``schema`` lacks.
    """
    merged = type(schema)()
    merged.CopyFrom(schema)
    by_name = {f.name: f for f in merged.feature}
    unknown = sorted(set(comparators) - set(by_name))
    if unknown:
        raise ValueError(f"{DRIFT_SKEW_FILE} names feature(s) {unknown} that the schema "
                         f"does not have; schema features: {', '.join(sorted(by_name))}")
    for name, feature in comparators.items():
        for kind in _COMPARATOR_FIELDS:
            if feature.HasField(kind):
                getattr(by_name[name], kind).CopyFrom(getattr(feature, kind))
    return merged


def draft(stats_files: List[str]):
    """A schema inferred by TFDV from one or more ``FeatureStats.pb`` files.

    The first file's statistics give the schema; the others widen it
    (``tfdv.update_schema``), so train and eval together define the domains.
    Shapes are inferred (``infer_feature_shape=True``) as the pipeline's
    contract with Transform expects.

    Raises:
      FileNotFoundError: a file does not exist.
      ValueError: no files given.
    """
    import tensorflow_data_validation as tfdv

    if not stats_files:
        raise ValueError("draft needs at least one FeatureStats.pb file")
    stats = []
    for path in stats_files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"statistics file {path!r} does not exist")
        stats.append(tfdv.load_stats_binary(path))
    schema = tfdv.infer_schema(stats[0], infer_feature_shape=True)
    for more in stats[1:]:
        schema = tfdv.update_schema(schema, more)
    return schema


def main(argv: Optional[List[str]] = None) -> int:
    from tfxp.core import env  # noqa: F401  (before TensorFlow)

    parser = argparse.ArgumentParser(prog="python -m tfxp.pipeline.schemas",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    draft_cmd = sub.add_parser("draft", help="print a TFDV-inferred schema to review")
    draft_cmd.add_argument("stats", nargs="+", help="FeatureStats.pb files")
    args = parser.parse_args(argv)
    try:
        schema = draft(args.stats)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
