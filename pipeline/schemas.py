"""The curated, reviewed data contracts under ``schemas/<dataset>/``.

Each dataset has:

- ``schema.pbtxt`` (required): a text-format ``tensorflow_metadata`` Schema.
  It was generated once with TFDV from the real data's statistics, then
  reviewed: domains, ranges, required features; the review decisions are
  commented in the file. ``CuratedSchemaGen`` feeds it to the pipeline.
- ``custom_validation.pbtxt`` (optional): a TFDV ``CustomValidationConfig``,
  SQL checks over the statistics for what a schema cannot say (e.g. "no empty
  texts"), passed to ExampleValidator.

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
