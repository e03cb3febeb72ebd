"""Bad data never reaches Transform or Trainer.

Each fault is provoked for real: a small sample of the real dataset with the
fault injected goes through the real pipeline (LocalDagRunner, tiny steps,
Beam in-memory). The curated schema (``schemas/<dataset>/``) plus the
ExampleValidator must flag it, ``DataGate`` must stop the run with a
readable report, and MLMD must show that Transform and Trainer never ran and
nothing was pushed (a CSV cell that is not of its column's schema type stops
the run one step earlier, in the CSV ExampleGen). Taxi faults come as CSVs
(CsvExampleGen); image and text faults as tf.Example TFRecords
(ImportExampleGen) in the TFDS ExampleGen's contract. The gate itself is the
pipeline's own (``create_components``).

The positive side, that the curated schemas accept the real data, is checked
on the real datasets' statistics (and, for the taxi CSV, by every other
pipeline test: the ``dense_run`` fixture goes through the same gate).
"""
from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.proto import example_gen_pb2
from tfx.utils import io_utils

from tfxp.components.data_gate import (SCHEMA_DIGEST_KEY, CuratedSchemaGen, DataGateError,
                                  file_sha256)
from tfxp.observability import mlmd
from tfxp.pipeline import schemas
from tfxp.pipeline.config import RunConfig
from tfxp.runner.local_runner import PipelineFailed, run_local
from tfxp.pipeline.pipeline import create_components
from tfxp.serving.versions import list_versions
from tests.conftest import DATA_DIR, PROJECT_ROOT, TINY_BEAM_ARGS
from tests.reliability import fault_data as fd
from tests.taxi_rows import read_rows

SAMPLE = 400  # rows per fault sample: enough for stable statistics, fast to ingest
NEVER_RUN = ("Transform", "Trainer", "Evaluator", "Pusher")


def _config(workspace, model: str, **overrides) -> RunConfig:
    settings = dict(model=model, workspace=str(workspace), data_dir=DATA_DIR,
                    train_steps=5, eval_steps=1, epochs=1,
                    beam_pipeline_args=list(TINY_BEAM_ARGS))
    settings.update(overrides)
    return RunConfig(**settings)


def _executed_components(config: RunConfig) -> set:
    """Every component with at least one execution in the workspace's MLMD."""
    store = mlmd.open_store(config.metadata_path)
    return {mlmd._component_of(store, e) for e in store.get_executions()}


def reported(report: str) -> set:
    """``{(feature, anomaly type)}`` named by a gate report."""
    return {tuple(line.strip().split(" ")[:2]) for line in report.splitlines()
            if line.startswith("    ") and not line.startswith("      ")}


def _assert_stopped_at_gate(config: RunConfig) -> None:
    """MLMD: the last run failed at DataGate, after ExampleValidator; Transform,
    Trainer, Evaluator and Pusher never executed; no version was pushed."""
    store = mlmd.open_store(config.metadata_path)
    run_id = mlmd.list_runs(store, config.pipeline_name)[-1][1]
    states = {c.component: c.state for c in mlmd.run_summary(store, run_id).components}
    assert states["ExampleValidator"] == "COMPLETE" and states["DataGate"] == "FAILED", states
    executed = _executed_components(config)
    assert not executed & set(NEVER_RUN), executed
    assert list_versions(config.serving_base) == []


def _gate_report(config: RunConfig, err: PipelineFailed) -> str:
    """The DataGateError report behind ``err``, after checking MLMD."""
    assert isinstance(err.__cause__, DataGateError), repr(err.__cause__)
    report = str(err.__cause__)
    assert report.startswith("data gate: ExampleValidator found"), report
    assert str(err).endswith(report)  # what the CLI prints
    _assert_stopped_at_gate(config)
    return report


def _run_taxi_csv(tmp_path, rows) -> tuple[RunConfig, PipelineFailed]:
    csv_path = fd.write_csv(str(tmp_path / "data" / "data.csv"), rows)
    config = _config(tmp_path / "ws", "dense", csv=csv_path)
    with pytest.raises(PipelineFailed) as info:
        run_local(config)
    return config, info.value


def _run_tfrecords(tmp_path, model: str, records) -> tuple[RunConfig, PipelineFailed]:
    folder = tmp_path / "data"
    fd.write_tfrecord(str(folder / "data.tfrecord"), records)
    example_gen = tfx.components.ImportExampleGen(
        input_base=str(folder),
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])))
    config = _config(tmp_path / "ws", model)
    with pytest.raises(PipelineFailed) as info:
        run_local(config, example_gen=example_gen)
    return config, info.value


@pytest.fixture(scope="module")
def taxi_rows():
    return read_rows()


def test_numeric_column_holding_strings_stops_the_run_before_transform(tmp_path, taxi_rows):
    rows = fd.sample_rows(taxi_rows, SAMPLE, seed=1)
    for row in rows[::10]:  # 10% of fares written with a currency sign
        row["fare"] = f"${row['fare']}"
    config, err = _run_taxi_csv(tmp_path, rows)
    # The CSV ExampleGen decodes fare as the curated schema's FLOAT and stops
    # at the first cell that is no number (components/csv_example_gen.py),
    # naming column, value, file and line; before it, TFX's CsvExampleGen
    # typed the whole column as strings and the gate reported it. Run
    # through ``tfxp run`` the same check stops it before anything runs
    # (tests/test_csv_coercion.py).
    assert re.search(r"column 'fare' holds '\$[0-9.]*' \(data.csv line [0-9]+\), which is "
                     r"not a number; the curated schema types 'fare' FLOAT", str(err)), str(err)
    store = mlmd.open_store(config.metadata_path)
    run_id = mlmd.list_runs(store, config.pipeline_name)[-1][1]
    states = {c.component: c.state for c in mlmd.run_summary(store, run_id).components}
    assert states["CsvExampleGen"] == "FAILED", states
    executed = _executed_components(config)
    assert not executed & {*NEVER_RUN, "DataGate"}, executed
    assert list_versions(config.serving_base) == []


def test_required_column_40_percent_empty_stops_the_run_before_transform(tmp_path, taxi_rows):
    rows = fd.sample_rows(taxi_rows, SAMPLE, seed=2)
    for row in random.Random(2).sample(rows, int(0.4 * SAMPLE)):
        row["trip_start_hour"] = ""
    config, err = _run_taxi_csv(tmp_path, rows)
    report = _gate_report(config, err)
    assert {feature for feature, _ in reported(report)} == {"trip_start_hour:"}, report
    # The counts tell how much is missing, per split; over the three splits
    # (every row lands in one) exactly 60% have a value. A single split may
    # stray: the validation split holds ~1/9 of the 400 rows.
    with_value = total = 0
    for block in report.split("trip_start_hour:")[1:]:
        if "with a value" in block.split("\n")[1]:
            counts = block.split("\n")[1]
            with_value += int(counts.split("with a value ")[1].split()[0])
            total += int(counts.split("examples ")[1].split(",")[0])
    assert (with_value, total) == (int(0.6 * SAMPLE), SAMPLE), report


def test_flood_of_unseen_categories_stops_the_cli_run_with_one_report_and_exit_1(
        tmp_path, taxi_rows):
    """Run through ``tfxp run`` in a subprocess, as a user would."""
    rows = fd.sample_rows(taxi_rows, SAMPLE, seed=3)
    for i, row in enumerate(rows):
        if i % 2:  # half the trips from companies never seen before
            row["company"] = f"{9000 + i} - New Cab Co {i}"
    csv_path = fd.write_csv(str(tmp_path / "data" / "data.csv"), rows)
    config = _config(tmp_path / "ws", "dense", csv=csv_path)
    proc = subprocess.run(
        [sys.executable, "-m", "tfxp.cli.main", "run", "--workspace", config.workspace,
         "--csv", csv_path, "--train-steps", "5", "--eval-steps", "1",
         *[f"--beam-arg={arg}" for arg in TINY_BEAM_ARGS]],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    # One block at the end of stderr: the error line, then the report.
    block = proc.stderr[proc.stderr.index("tfxp: error: pipeline"):]
    report = block[block.index("data gate: ExampleValidator found"):]
    assert reported(report) == {("company:", "ENUM_TYPE_UNEXPECTED_STRING_VALUES")}, block
    assert "New Cab Co" in report and "examples " in report
    _assert_stopped_at_gate(config)


def test_images_of_the_wrong_size_stop_the_run_before_transform(tmp_path):
    images, labels = fd.fashion_mnist(DATA_DIR, "t10k", limit=300)
    records = [fd.image_example(fd.resize_nearest(image, 32) if i % 4 == 0 else image, label)
               for i, (image, label) in enumerate(zip(images, labels))]
    config, err = _run_tfrecords(tmp_path, "cnn", records)
    report = _gate_report(config, err)
    assert {feature for feature, _ in reported(report)} == {"image:"}, report
    assert "values/example 784..1024" in report, report


def test_empty_texts_stop_the_run_before_transform(tmp_path):
    texts = fd.rotten_tomatoes(DATA_DIR, limit=300)
    records = [fd.text_example("" if i % 5 == 0 else text, label)
               for i, (text, label) in enumerate(texts)]
    config, err = _run_tfrecords(tmp_path, "lstm", records)
    report = _gate_report(config, err)
    assert reported(report) == {("text:", "CUSTOM_VALIDATION")}, report
    assert "empty texts" in report


def test_the_gate_lets_clean_data_through_and_transform_reads_its_output(dense_run):
    config, summary = dense_run
    states = {c.component: c.state for c in summary.components}
    assert states["ImportSchemaGen"] == "COMPLETE" and states["DataGate"] == "COMPLETE"
    store = mlmd.open_store(config.metadata_path)
    ctx = store.get_context_by_type_and_name("pipeline_run", summary.run_id)
    by_component = {mlmd._component_of(store, e): e
                    for e in store.get_executions_by_context(ctx.id)}
    gate_out = {a.id for a in mlmd._outputs(store, by_component["DataGate"].id)}
    transform_in = {e.artifact_id for e in store.get_events_by_execution_ids(
        [by_component["Transform"].id]) if e.type == e.INPUT}
    assert gate_out and gate_out <= transform_in


def _validate(records, dataset: str, tmp_path):
    path = fd.write_tfrecord(str(tmp_path / f"{dataset}.tfrecord"), records)
    stats = tfdv.generate_statistics_from_tfrecord(path)
    return tfdv.validate_statistics(
        stats, io_utils.SchemaReader().read(schemas.schema_file(dataset)),
        custom_validation_config=schemas.custom_validation_config(dataset))


def test_curated_image_and_text_schemas_accept_the_real_data(tmp_path):
    """Real t10k images (10,000) and all 12,808 review snippets: no anomaly.

    (All 70,000 images were checked when the schema was written; the test
    split keeps this test fast.)"""
    images, labels = fd.fashion_mnist(DATA_DIR, "t10k")
    anomalies = _validate((fd.image_example(i, l) for i, l in zip(images, labels)),
                          "fashion_mnist", tmp_path)
    assert not anomalies.anomaly_info, anomalies
    texts = fd.rotten_tomatoes(DATA_DIR)
    assert len(texts) == 12808
    anomalies = _validate((fd.text_example(t, l) for t, l in texts),
                          "rotten_tomatoes", tmp_path)
    assert not anomalies.anomaly_info, anomalies


def test_transform_reads_the_gate_output_and_schema_edits_change_the_cache_key(tmp_path):
    """Wiring, without running: Transform's examples come from DataGate, and
    the schema import's cache key carries the curated file's digest (TFX's key
    covers execution parameters, not the bytes behind ``schema_file``, so an
    edited schema would otherwise be served stale from the cache)."""
    config = _config(tmp_path, "dense")
    nodes = {c.id: c for c in create_components(config, str(tmp_path / "serving"))}
    assert nodes["Transform"].inputs["examples"].producer_component_id == "DataGate"
    assert nodes["DataGate"].inputs["examples"].producer_component_id == "CsvExampleGen"
    path = schemas.schema_file("chicago_taxi")
    props = nodes["ImportSchemaGen"].exec_properties
    assert props["schema_file"] == path and props[SCHEMA_DIGEST_KEY] == file_sha256(path)
    edited = tmp_path / "schema.pbtxt"
    with open(path) as f:
        edited.write_text(f.read() + "\n# reviewed again\n")
    assert CuratedSchemaGen(str(edited)).exec_properties[SCHEMA_DIGEST_KEY] != props[
        SCHEMA_DIGEST_KEY]
    # Kubeflow: the executor reads the in-image path; the key is still the file's.
    image_path = "/app/schemas/chicago_taxi/schema.pbtxt"
    nodes = {c.id: c for c in create_components(config, str(tmp_path / "serving"),
                                                schema_file=image_path)}
    props = nodes["ImportSchemaGen"].exec_properties
    assert props["schema_file"] == image_path and props[SCHEMA_DIGEST_KEY] == file_sha256(path)
