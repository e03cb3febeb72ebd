"""New CSVs whose typing differs harmlessly from the curated schema are
accepted; real type errors stop the run before Transform, named.

The rule (``core.csv_types.coerce``) on its own, the CSV ExampleGen's Beam
transform on a hand-written CSV, ``tfxp run``'s check before the run (exit 2,
one line, nothing written), and the real ExampleGen and data gate
(LocalDagRunner) on taxi rows: whole-number ``trip_miles`` pass the gate,
where TFX's own CsvExampleGen typed them INT and the gate stopped the run
("trip_miles ... Expected data of type: FLOAT but got INT").
"""
from __future__ import annotations

import csv
import json
import os

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that
from tfx import v1 as tfx
from tfx.orchestration import metadata

from tfxp.cli import main as cli
from tfxp.components import csv_example_gen, data_gate
from tfxp.core import csv_types
from tfxp.core.csv_types import BYTES, FLOAT, FLOAT_TO_INT, INT, INT_TO_FLOAT, coerce
from tfxp.core.datasets import taxi_csv_dir
from tfxp.observability import mlmd
from tfxp.pipeline import schemas
from tfxp.pipeline.pipeline import csv_example_gen as make_csv_example_gen
from tests.conftest import TINY_BEAM_ARGS
from tests.taxi_rows import read_rows

ROWS = 600  # taxi rows per pipeline test: enough for the gate's statistics


@pytest.mark.parametrize("text, expected, value, conversion", [
    ("3", FLOAT, 3.0, INT_TO_FLOAT),
    ("-2", FLOAT, -2.0, INT_TO_FLOAT),
    ("3.25", FLOAT, 3.25, None),
    ("1e3", FLOAT, 1000.0, None),
    ("7", INT, 7, None),
    ("3.0", INT, 3, FLOAT_TO_INT),
    ("1e3", INT, 1000, FLOAT_TO_INT),
    ("-2.000", INT, -2, FLOAT_TO_INT),
    ("12345678901234567.0", INT, 12345678901234567, FLOAT_TO_INT),  # exact, no float64
    ("Cash", BYTES, b"Cash", None),
    ("42", BYTES, b"42", None),
    ("", FLOAT, None, None),
    ("", INT, None, None),
])
def test_lossless_conversions_are_accepted_and_labelled(text, expected, value, conversion):
    assert coerce(text, expected) == (value, conversion)


@pytest.mark.parametrize("text, expected, why", [
    ("hello", FLOAT, "which is not a number"),
    ("$12.45", FLOAT, "which is not a number"),
    ("hello", INT, "which is not a number"),
    ("3.5", INT, "which is not a whole number (INT would drop the fraction)"),
    ("3.0000000000000001", INT, "which is not a whole number (INT would drop the fraction)"),
    ("nan", INT, "which is not a finite number"),
    ("1e30", INT, "which is outside the int64 range"),
])
def test_real_type_errors_name_column_value_and_place(text, expected, why):
    with pytest.raises(csv_types.CsvTypeError) as info:
        coerce(text, expected, "fare", "new.csv line 17")
    assert str(info.value) == (f"column 'fare' holds {text!r} (new.csv line 17), {why}; "
                               f"the curated schema types 'fare' {expected}")


def _write(path, text: str) -> str:
    with open(path, "w", newline="") as f:
        f.write(text)
    return str(path)


def test_the_check_counts_per_column_and_names_the_line_a_record_starts_on(tmp_path):
    types = {"fare": FLOAT, "trip_miles": FLOAT, "trip_start_hour": INT, "company": BYTES}
    good = _write(tmp_path / "good.csv", "fare,trip_miles,trip_start_hour,company,extra\n"
                  "12.5,3,4.0,Acme,x\n7,2,5,\"Two\nlines\",y\n\n9.25,,6,,z\n")
    assert csv_types.check_csv_file(good, types) == {
        "fare": {INT_TO_FLOAT: 1}, "trip_miles": {INT_TO_FLOAT: 2},
        "trip_start_hour": {FLOAT_TO_INT: 1}}
    # The quoted field spans lines 3-4, so the bad fare is on line 6.
    bad = _write(tmp_path / "bad.csv", "fare,company\n1,A\n2,\"B\nC\"\n\nhello,D\n")
    with pytest.raises(csv_types.CsvTypeError, match=r"'hello' \(bad.csv line 6\)"):
        csv_types.check_csv_file(bad, {"fare": FLOAT})


def test_a_row_with_fewer_or_more_cells_than_the_header_is_named(tmp_path, capsys):
    short = _write(tmp_path / "short.csv", "fare,company\n1,A\n\n2\n")
    with pytest.raises(csv_types.CsvShapeError,
                       match=r"^short.csv line 4 has 1 cell\(s\); the header names 2 "):
        csv_types.check_csv_file(short, {"fare": FLOAT})
    long = _write(tmp_path / "long.csv", "fare,company\n1,A,x\n")
    with pytest.raises(csv_types.CsvShapeError, match=r"long.csv line 2 has 3 cell"):
        csv_types.check_csv_file(long, {"fare": FLOAT})
    # Through the CLI: one line, exit 2, nothing written.
    with open(os.path.join(taxi_csv_dir(), "data.csv")) as f:
        lines = f.read().splitlines()
    lines[9000] = "8,1,2"
    ragged = _write(tmp_path / "ragged.csv", "\n".join(lines) + "\n")
    workspace = tmp_path / "ws"
    assert cli.main(["run", "--csv", ragged, "--workspace", str(workspace)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tfxp: error: --csv: ragged.csv line 9001 has 3 cell(s); the header names "
        f"{len(lines[0].split(','))} column(s); fix the data")
    assert not workspace.exists()


def test_the_example_gen_transform_types_columns_by_the_schema_and_counts(tmp_path):
    _write(tmp_path / "a.csv", "fare,trip_miles,trip_start_hour,company,extra\n"
           "12.5,3,4.0,Acme,1\n\"7\",2,5,\"B,c\",2\n\n9.25,,6,,3\n")
    types = {"fare": FLOAT, "trip_miles": FLOAT, "trip_start_hour": INT, "company": BYTES}
    props = {"input_base": str(tmp_path), "column_types": json.dumps(types)}

    def check(examples):
        parsed = sorted((tf.train.Example.FromString(e.SerializeToString())
                         for e in examples), key=lambda e: e.features.feature["extra"]
                        .int64_list.value[0])
        got = [{k: list(getattr(f, f.WhichOneof("kind")).value) if f.WhichOneof("kind")
                else None for k, f in e.features.feature.items()} for e in parsed]
        assert got == [
            {"fare": [12.5], "trip_miles": [3.0], "trip_start_hour": [4],
             "company": [b"Acme"], "extra": [1]},  # extra: not in the schema, TFX infers INT
            {"fare": [7.0], "trip_miles": [2.0], "trip_start_hour": [5],
             "company": [b"B,c"], "extra": [2]},
            {"fare": [9.25], "trip_miles": [], "trip_start_hour": [6], "company": [],
             "extra": [3]}], got
        # The feature kinds are the schema's, whatever the cells looked like.
        kinds = {k: f.WhichOneof("kind") for k, f in parsed[1].features.feature.items()}
        assert kinds == {"fare": "float_list", "trip_miles": "float_list",
                         "trip_start_hour": "int64_list", "company": "bytes_list",
                         "extra": "int64_list"}

    pipeline = beam.Pipeline(argv=list(TINY_BEAM_ARGS))
    examples = pipeline | csv_example_gen._CsvToExample(props, "*.csv")
    assert_that(examples | beam.combiners.ToList(), lambda lists: check(lists[0]))
    result = pipeline.run()
    result.wait_until_finish()
    assert csv_example_gen.read_counts(result) == {
        "fare": {INT_TO_FLOAT: 1}, "trip_miles": {INT_TO_FLOAT: 2},
        "trip_start_hour": {FLOAT_TO_INT: 1}}


def _taxi_csv(path, rows) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def taxi_rows():
    return read_rows(ROWS)


@pytest.mark.parametrize("column, value, expected, why", [
    ("fare", "hello", "FLOAT", "which is not a number"),
    ("trip_start_hour", "3.5", "INT",
     "which is not a whole number (INT would drop the fraction)"),
])
def test_run_stops_on_a_real_type_error_before_anything_runs(tmp_path, capsys, taxi_rows,
                                                             column, value, expected, why):
    rows = [dict(r) for r in taxi_rows]
    rows[40][column] = value
    path = _taxi_csv(tmp_path / "new.csv", rows)
    workspace = tmp_path / "ws"
    code = cli.main(["run", "--csv", path, "--workspace", str(workspace),
                     "--train-steps", "20", "--eval-steps", "2", "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (f"tfxp: error: --csv: column {column!r} holds {value!r} (new.csv line 42), "
                   f"{why}; the curated schema types {column!r} {expected}; fix the data, or "
                   f"review schemas/chicago_taxi/schema.pbtxt if the data is right")
    assert not workspace.exists()  # nothing written, not even the folder


def _run_to_gate(workspace, csv_path, example_gen=None):
    """ExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator ->
    DataGate, the pipeline's own, on LocalDagRunner; returns the error or None.
    ``example_gen``: another ExampleGen than the pipeline's CSV one."""
    example_gen = example_gen or make_csv_example_gen(csv_path, is_file=True)
    gate = data_gate.gate_components(example_gen.outputs["examples"],
                                     schemas.schema_file("chicago_taxi"),
                                     schemas.custom_validation_config("chicago_taxi"))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="coercion", pipeline_root=os.path.join(workspace, "root"),
        components=[example_gen, *gate.values()], enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            os.path.join(workspace, "metadata.sqlite")),
        beam_pipeline_args=list(TINY_BEAM_ARGS))
    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as err:  # noqa: BLE001 - the test inspects it
        return err
    return None


def _states(workspace):
    store = mlmd.open_store(os.path.join(workspace, "metadata.sqlite"))
    run_id = mlmd.list_runs(store)[-1][1]
    return mlmd.run_summary(store, run_id)


@pytest.fixture(scope="module")
def whole_miles(taxi_rows, tmp_path_factory):
    """The taxi rows with ``trip_miles`` rounded to whole miles: ``(rows, csv)``."""
    rows = [dict(r) for r in taxi_rows]
    for row in rows:
        if row["trip_miles"]:
            row["trip_miles"] = str(round(float(row["trip_miles"])))
    return rows, _taxi_csv(tmp_path_factory.mktemp("miles") / "whole_miles.csv", rows)


def test_tfxs_own_csv_example_gen_types_whole_miles_int_and_the_gate_stops(
        tmp_path, whole_miles):
    # The problem this solves, as a new user met it.
    _, path = whole_miles
    example_gen = tfx.components.CsvExampleGen(input_base=os.path.dirname(path))
    err = _run_to_gate(str(tmp_path / "ws"), path, example_gen)
    assert isinstance(err, data_gate.DataGateError), repr(err)
    assert ("trip_miles: UNEXPECTED_DATA_TYPE (Unexpected data type) Expected data of "
            "type: FLOAT but got INT") in str(err)


def test_whole_number_miles_pass_the_gate_and_are_counted(tmp_path, whole_miles, capfd):
    rows, path = whole_miles
    workspace = str(tmp_path / "ws")
    assert _run_to_gate(workspace, path) is None
    summary = _states(workspace)
    assert {c.component: c.state for c in summary.components}["DataGate"] == "COMPLETE"
    with_miles = sum(1 for r in rows if r["trip_miles"])
    assert summary.coerced["trip_miles"] == {INT_TO_FLOAT: with_miles}
    assert with_miles == ROWS
    out = capfd.readouterr().out
    assert "[csv] values converted to the curated schema's types: " in out
    assert f"trip_miles {with_miles} INT->FLOAT" in out


def test_a_type_error_stops_the_example_gen_when_the_cli_check_is_bypassed(tmp_path,
                                                                             taxi_rows):
    # What a Kubeflow run, or run_local without the CLI, meets.
    rows = [dict(r) for r in taxi_rows]
    rows[40]["fare"] = "hello"
    path = _taxi_csv(tmp_path / "new.csv", rows)
    workspace = str(tmp_path / "ws")
    err = _run_to_gate(workspace, path)
    assert err is not None
    assert ("column 'fare' holds 'hello' (new.csv line 42), which is not a number; the "
            "curated schema types 'fare' FLOAT") in str(err)
    states = {c.component: c.state for c in _states(workspace).components}
    assert states["CsvExampleGen"] == "FAILED"
    assert "DataGate" not in states or states["DataGate"] != "COMPLETE"
