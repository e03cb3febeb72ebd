"""CsvExampleGen that types the columns by the curated schema.

TFX's CsvExampleGen (``tfx/components/example_gen/csv_example_gen/
executor.py``) infers every column's type from the data (tfx_bsl
``ColumnTypeInferrer``), so a FLOAT column that holds only whole numbers in
a new CSV becomes INT and the data gate stops the run on it. This
ExampleGen is TFX's with one change: the columns the curated schema names are
decoded to the schema's type by ``core.csv_types.coerce`` (INT cells of a
FLOAT column, whole-number floats of an INT column), and a cell that does not
convert without loss stops the ExampleGen with its column, value, file and
line. Columns the schema does not name keep TFX's inferred type, so the data
gate still reports them.

Everything else follows TFX's executor: one ``_CsvToExample`` per input
split; files of a split must share one header; records are read per file in
order with TFX's ``_CsvLineBuffer`` (quoted fields may span lines), parsed
with Python's ``csv`` module (as tfx_bsl's ``_CSVRecordReader``), blank lines
skipped; a record with another number of fields than the header fails; an
empty cell is a present feature with no values; the output is gzipped
TFRecords of ``tf.Example`` in the splits of ``output_config``.

The schema's types reach the executor as the ``column_types`` execution
parameter (JSON ``{column: INT | FLOAT | BYTES}``, ``pipeline.schemas.
column_types``), so they are part of the cache key, and the Kubeflow image
needs no schema file for them.

How many cells were converted is logged per column once the Beam pipeline
has run (``[csv] trip_miles: 15002 INT->FLOAT``; from Beam counters, which
every runner aggregates) and recorded on the output Examples artifact as the
custom property ``coerced_values`` (``core.csv_types.COERCED_PROPERTY``,
JSON ``{column: {conversion: count}}``),
which the run summary shows.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from tfx.components.example_gen import driver, utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, channel, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils
from tfx_bsl.coders import csv_decoder

from tfxp.core import csv_types

COLUMN_TYPES_KEY = "column_types"
_METRICS_NAMESPACE = "tfxp.csv_coercion"
_TFX_TYPES = {csv_decoder.ColumnType.INT: csv_types.INT,
              csv_decoder.ColumnType.FLOAT: csv_types.FLOAT,
              csv_decoder.ColumnType.STRING: csv_types.BYTES}


class _ReadCsvRecords(beam.DoFn):
    """A CSV file -> ``(record text, "<file> line <n>")`` for every record
    after the header; TFX's ``_ReadCsvRecordsFromTextFile`` plus the line a
    record starts on (the header is line 1)."""

    def process(self, path: str) -> Iterable[Tuple[str, str]]:
        name = os.path.basename(path)
        with beam.io.filesystems.FileSystems.open(path) as file:
            file.readline()  # the header
            buffer = tfx_csv_executor._CsvLineBuffer()  # pylint: disable=protected-access
            line_no, start = 1, 2
            for line in file:
                line_no += 1
                if buffer.is_empty():
                    start = line_no
                buffer.write(line.decode("utf-8"))
                if buffer.is_complete_line():
                    yield buffer.read(), f"{name} line {start}"
            if not buffer.is_empty():
                raise ValueError(f"Csv record had unbalanced quotes. File: {path}")


def _parse(item: Tuple[str, str]) -> Tuple[List[str], str]:
    """``(record, where)`` -> ``(cells, where)``; a blank line has no cells."""
    record, where = item
    return next(csv.reader([record]), []), where


class _ToTypedExample(beam.DoFn):
    """``(cells, where)`` -> one ``tf.Example``: schema columns coerced by
    ``core.csv_types.coerce`` (conversions counted in Beam counters), the
    others by TFX's handler for their inferred type."""

    def __init__(self, column_names: List[str], column_types: Dict[str, str]):
        self._names = column_names
        self._types = column_types
        self._kinds: Optional[List[Optional[str]]] = None
        self._pending: Dict[Tuple[str, str], int] = {}

    def start_bundle(self):
        self._pending = {}

    def process(self, item: Tuple[List[str], str],
                inferred: List[csv_decoder.ColumnInfo]) -> Iterable[tf.train.Example]:
        cells, where = item
        if not cells:  # a blank line, skipped as TFX does
            return
        if len(cells) != len(self._names):
            raise ValueError(f"Invalid CSV line ({where}): {len(cells)} fields, the header "
                             f"has {len(self._names)}")
        if self._kinds is None:
            by_name = {info.name: _TFX_TYPES.get(info.type) for info in inferred}
            self._kinds = [self._types.get(name, by_name.get(name)) for name in self._names]
        feature = {}
        for name, kind, cell in zip(self._names, self._kinds, cells):
            if kind is None:  # only empty cells, not in the schema: as TFX
                feature[name] = tf.train.Feature()
                continue
            value, conversion = csv_types.coerce(cell, kind, name, where)
            if conversion:
                key = (name, conversion)
                self._pending[key] = self._pending.get(key, 0) + 1
            values = [] if value is None else [value]
            if kind == csv_types.INT:
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
            elif kind == csv_types.FLOAT:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
            else:
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        yield tf.train.Example(features=tf.train.Features(feature=feature))

    def finish_bundle(self):
        for (name, conversion), count in self._pending.items():
            Metrics.counter(_METRICS_NAMESPACE, json.dumps([name, conversion])).inc(count)
        self._pending = {}


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _CsvToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],  # noqa: N802
                  split_pattern: str) -> beam.pvalue.PCollection:
    """One input split's CSV files -> ``tf.Example``s (TFX's ``_CsvToExample``
    with schema types; see the module docstring).

    Raises:
      RuntimeError: no file matches, or files of the split differ in header.
    """
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                           split_pattern)
    column_types = json.loads(exec_properties[COLUMN_TYPES_KEY])
    files = fileio.glob(pattern)
    if not files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    column_names = io_utils.load_csv_column_names(files[0])
    for path in files[1:]:
        if io_utils.load_csv_column_names(path) != column_names:
            raise RuntimeError(f"Files in same split {pattern} have different header.")
    records = (pipeline
               | "CreateFilenames" >> beam.Create(files)
               | "ReadFromText" >> beam.ParDo(_ReadCsvRecords())
               | "ParseCSVLine" >> beam.Map(_parse))
    # TFX's inference still types the columns the schema does not name.
    inferred = beam.pvalue.AsSingleton(
        records
        | "Cells" >> beam.Keys()
        | "InferColumnTypes" >> beam.CombineGlobally(
            csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True)))
    return records | "ToTFExample" >> beam.ParDo(
        _ToTypedExample(column_names, column_types), inferred)


def read_counts(result) -> csv_types.Counts:
    """``{column: {conversion: count}}`` from a finished Beam pipeline's
    counters (committed where the runner supports them, else attempted)."""
    counts: csv_types.Counts = {}
    query = result.metrics().query(MetricsFilter().with_namespace(_METRICS_NAMESPACE))
    for counter in query["counters"]:
        column, conversion = json.loads(counter.key.metric.name)
        value = counter.committed if counter.committed is not None else counter.attempted
        csv_types.add_counts(counts, {column: {conversion: int(value or 0)}})
    return counts


class Executor(tfx_csv_executor.Executor):
    """TFX's CSV executor with schema types; logs and records the conversions."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802
        return _CsvToExample

    def _make_beam_pipeline(self):
        # Kept so that Do can read the counters once the pipeline has run
        # (``beam.Pipeline.__exit__`` stores the result on it).
        self._last_pipeline = super()._make_beam_pipeline()
        return self._last_pipeline

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802
        super().Do(input_dict, output_dict, exec_properties)
        result = getattr(getattr(self, "_last_pipeline", None), "result", None)
        counts = read_counts(result) if result is not None else {}
        line = csv_types.format_counts(counts)
        print(f"[csv] values converted to the curated schema's types: {line}", flush=True)
        logging.info("csv values converted to the schema's types: %s", line)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        examples.set_string_custom_property(csv_types.COERCED_PROPERTY,
                                            json.dumps(counts, sort_keys=True))


class TypedCsvExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """``FileBasedExampleGenSpec`` plus the schema's column types."""

    PARAMETERS = {**standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
                  COLUMN_TYPES_KEY: ExecutionParameter(type=str)}


class TypedCsvExampleGen(FileBasedExampleGen):
    """TFX's CsvExampleGen (same driver, splits and output) whose executor
    types columns by the curated schema (module docstring).
    ``pipeline.pipeline.csv_example_gen`` gives it TFX's node id,
    ``CsvExampleGen``.
    """

    SPEC_CLASS = TypedCsvExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(self, input_base: str, column_types: Dict[str, str],
                 input_config: Optional[example_gen_pb2.Input] = None,
                 output_config: Optional[example_gen_pb2.Output] = None):
        """Args:
          input_base: folder of the CSV files (local path or URI).
          column_types: ``{column: INT | FLOAT | BYTES}``, the curated schema's.
          input_config, output_config: as CsvExampleGen's; None = every file,
            TFX's default 2:1 train/eval split.
        Raises:
          ValueError: a type in ``column_types`` is not INT, FLOAT or BYTES.
        """
        bad = {k: v for k, v in column_types.items() if v not in csv_types.TYPES}
        if bad:
            raise ValueError(f"column_types {bad}: expected {', '.join(csv_types.TYPES)}")
        input_config = input_config or utils.make_default_input_config()
        spec = TypedCsvExampleGenSpec(
            input_base=input_base, input_config=input_config,
            output_config=output_config or utils.make_default_output_config(input_config),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            column_types=json.dumps(column_types, sort_keys=True),
            examples=channel.Channel(type=standard_artifacts.Examples))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
