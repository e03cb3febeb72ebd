"""Warm start: a run on new data starts from the latest blessed model.

The pipeline tests run the real pipeline (``tfxp run`` in-process, then
``run_local``; Dense on the taxi CSV, few steps) on two halves of the taxi
trips: the first half (7,500 trips) is the old data, cold; the second half
(7,502 trips, ``trip_miles`` rounded to whole miles as a new export might
write them, which the CSV ExampleGen converts back to FLOAT) is the new
data, warm-started from the first run's blessed model. The cold reference
on the new data replays that Trainer execution without its base model
(same transformed examples, transform graph, steps and hparams), so the
two curves differ only in the starting weights.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import tf_keras as keras

from tfxp.cli import main as cli
from tfxp.core import features as F
from tfxp.core.datasets import TABULAR, TEXT
from tfxp.core.workspace import HISTORY_FILE, Workspace
from tfxp.models import dense, warm_start
from tfxp.models.registry import TRAINING_HPARAMS, architecture, get_family
from tfxp.models.resumable import SpacedBackupAndRestore, has_backup
from tfxp.observability import mlmd
from tfxp.pipeline.config import RunConfig
from tfxp.pipeline.pipeline import create_components
from tfxp.runner.local_runner import run_local
from tests.conftest import DATA_DIR, TINY_BEAM_ARGS, TINY_HPARAMS
from tests.taxi_rows import read_rows

# Three epochs of 10 steps: the curve has a point every 10 steps. The base
# learns at TINY_HPARAMS' lr 1e-2, which clears the blessing floors in 30
# steps. The cold and warm runs on the new data use lr 1e-3, a fine-tuning
# rate (a warm start may change the learning rate, TRAINING_HPARAMS), so
# that the 30 steps show the difference between the starting points.
STEPS, EPOCHS, EVAL_STEPS = 30, 3, 3
NEW_DATA_HPARAMS = {**TINY_HPARAMS["dense"], "learning_rate": 1e-3}
DENSE_HIDDEN = list(get_family("dense").hparams["hidden_units"])  # the base's default


def test_the_config_key_is_typed_and_reaches_the_trainer_only_when_set():
    config = RunConfig.from_json(RunConfig(warm_start=True).to_json())
    assert config.warm_start is True and config.trainer_config()["warm_start"] is True
    # Runs without warm start keep their Trainer cache keys.
    assert "warm_start" not in RunConfig().trainer_config()
    with pytest.raises(ValueError, match=r"config key 'warm_start' must be true or false, "
                                         r"got \"yes\""):
        RunConfig.from_json('{"warm_start": "yes"}')


# -- the row remap and the compatibility check, on real Keras models --------

def _tabular_hparams(vocab_tokens, embedding_dim=0):
    return {"numeric_features": ["fare_xf"],
            "categorical_features": {"trip_start_hour_xf": 3,
                                     "company_xf": len(vocab_tokens) + F.VOCAB_OOV_BUCKETS},
            "hidden_units": [4], "dropout": 0.0, "num_classes": 2, "learning_rate": 1e-3,
            "categorical_embedding_dim": embedding_dim}


def test_input_rows_label_tokens_by_token_and_buckets_by_index():
    hparams = _tabular_hparams(["Cab A", "Cab B"])
    rows = warm_start.input_rows(TABULAR, hparams, {"company_xf": ["Cab A", "Cab B"]})
    assert rows == ["fare_xf", "trip_start_hour_xf#0", "trip_start_hour_xf#1",
                    "trip_start_hour_xf#2", "company_xf=Cab A", "company_xf=Cab B",
                    "company_xf#2"]
    text = {"input_name": "tokens_xf", "vocab_size": 5}
    assert warm_start.input_rows(TEXT, text, {"tokens_xf": ["good", "bad"]}) == [
        "#pad", "=good", "=bad", "#oov0", "#oov1"]


@pytest.mark.parametrize("embedding_dim", [0, 4], ids=["one_hot", "embedded"])
def test_a_changed_vocabulary_keeps_each_tokens_learnt_row(tmp_path, embedding_dim):
    """The first weight (the one-hot MLP's first kernel, or the embedded
    MLP's concatenated table; both 4 wide here) keeps each token's row."""
    # Old data: companies A, B, C (ids 0, 1, 2, OOV 3). New data: C became the
    # most frequent, B is gone, D is new: ids C=0, A=1, D=2, OOV 3.
    old_vocab, new_vocab = ["A", "B", "C"], ["C", "A", "D"]
    keras.utils.set_random_seed(1)
    old_hparams = _tabular_hparams(old_vocab, embedding_dim)
    old = dense.build_model(old_hparams)
    old_rows = warm_start.input_rows(TABULAR, old_hparams, {"company_xf": old_vocab})
    assert ("fare_xf" in old_rows) == (not embedding_dim)
    kernel = np.arange(len(old_rows) * 4, dtype=np.float32).reshape(len(old_rows), 4)
    old.set_weights([kernel] + [w + 0.5 for w in old.get_weights()[1:]])
    spec = warm_start.make_spec("dense", "chicago_taxi", {"hidden_units": [4]}, old_rows, old)
    warm_start.save(old, str(tmp_path), spec)

    new_hparams = _tabular_hparams(new_vocab, embedding_dim)
    new = dense.build_model(new_hparams)
    fresh = new.get_weights()
    rows = warm_start.input_rows(TABULAR, new_hparams, {"company_xf": new_vocab})
    stats = warm_start.load(new, str(tmp_path), warm_start.read_spec(str(tmp_path)), rows)

    got = new.get_weights()
    row = {label: i for i, label in enumerate(rows)}
    old_row = {label: i for i, label in enumerate(old_rows)}
    for label in ("fare_xf", "trip_start_hour_xf#2", "company_xf=C", "company_xf=A",
                  "company_xf#3"):
        if label in rows:
            np.testing.assert_array_equal(got[0][row[label]], kernel[old_row[label]])
    np.testing.assert_array_equal(got[0][row["company_xf=D"]], fresh[0][row["company_xf=D"]])
    for mine, base in zip(got[1:], old.get_weights()[1:]):
        np.testing.assert_array_equal(mine, base)
    # (fare,) 3 hours, C, A, OOV kept; D new; B dropped. The embedded MLP has
    # one more weight: the table, then the first Dense layer's kernel and bias.
    assert stats == {"weights": 5 if embedding_dim else 4,
                     "rows_kept": 6 if embedding_dim else 7, "rows_new": 1, "rows_dropped": 1}


def test_other_architecture_hparams_stop_with_one_line_naming_them():
    family = get_family("dense")
    base = {"family": "dense", "dataset": "chicago_taxi",
            "architecture": architecture(family, {})}
    with pytest.raises(warm_start.WarmStartMismatch) as info:
        warm_start.check_compatible(base, "dense", "chicago_taxi",
                                    architecture(family, {"hidden_units": [16]}), "/ws/m/7")
    message = str(info.value)
    assert "\n" not in message
    assert f"hidden_units {DENSE_HIDDEN} (base) vs [16] (this run)" in message
    assert "/ws/m/7" in message and "without --warm-start" in message
    with pytest.raises(warm_start.WarmStartMismatch, match="is a cnn model for fashion_mnist"):
        warm_start.check_compatible({**base, "family": "cnn", "dataset": "fashion_mnist"},
                                    "dense", "chicago_taxi", architecture(family, {}), "/m")


def test_a_base_from_before_categorical_embeddings_counts_as_one_hot():
    """A Dense spec.json written before ``categorical_embedding_dim`` existed
    lacks the key; its model was one-hot, so a one-hot run may warm-start from
    it and an embedded one is told the difference."""
    family = get_family("dense")
    old = architecture(family, {"categorical_embedding_dim": 0})
    del old["categorical_embedding_dim"]
    base = {"family": "dense", "dataset": "chicago_taxi", "architecture": old}
    warm_start.check_compatible(base, "dense", "chicago_taxi",
                                architecture(family, {"categorical_embedding_dim": 0}), "/m/1")
    with pytest.raises(warm_start.WarmStartMismatch,
                       match=r"categorical_embedding_dim 0 \(base\) vs 8 \(this run\)"):
        warm_start.check_compatible(base, "dense", "chicago_taxi", architecture(family, {}),
                                    "/m/1")


def test_training_hparams_may_change_in_a_warm_start():
    family = get_family("dense")
    base = {"family": "dense", "dataset": "chicago_taxi",
            "architecture": architecture(family, {})}
    changed = {"learning_rate": 1e-3, "dropout": 0.0, "lr_schedule": {"name": "cosine"}}
    assert set(changed) <= set(TRAINING_HPARAMS)
    warm_start.check_compatible(base, "dense", "chicago_taxi",
                                architecture(family, changed), "/m")  # no error


def test_a_step_backup_takes_precedence_over_the_warm_start(tmp_path):
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    backup = str(tmp_path / "backup")
    assert not has_backup(backup)

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    x, y = np.ones((40, 3), np.float32), np.ones((40, 1), np.float32)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, verbose=0,
                  callbacks=[SpacedBackupAndRestore(backup, save_freq=2, min_seconds=0),
                             Crash()])
    assert has_backup(backup)
    before = [w.copy() for w in model.get_weights()]
    record = warm_start.begin(model, "/nowhere/Format-Serving", family="dense",
                              dataset="chicago_taxi", architecture={}, rows=None, resumed=True)
    assert record["status"] == warm_start.RESUMED and "precedence" in record["message"]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the base was not even read


def test_warm_start_needs_the_resolver_so_kfp_refuses_it_and_vertex_wires_it(tmp_path,
                                                                               capsys):
    config = RunConfig(workspace=str(tmp_path), warm_start=True)
    with pytest.raises(ValueError, match="warm_start needs the latest-blessed-model Resolver"):
        create_components(config, str(tmp_path / "serving"), baseline=False)
    components = {c.id: c for c in create_components(config, str(tmp_path / "serving"))}
    base = components["Trainer"].inputs["base_model"]
    assert base.producer_component_id == "latest_blessed_model_resolver"
    cold = {c.id: c for c in create_components(RunConfig(workspace=str(tmp_path)),
                                                 str(tmp_path / "serving"))}
    assert "base_model" not in cold["Trainer"].inputs

    from tfxp.kubeflow import spec as kfspec
    common = ["compile", "--pipeline-root", "gs://b/root", "--image", "r/tfxp:1",
              "--warm-start"]
    code = cli.main([*common, "--output", str(tmp_path / "kfp.yaml")])
    assert code == 2 and not (tmp_path / "kfp.yaml").exists()
    assert "--target kfp leaves out" in capsys.readouterr().err
    output = str(tmp_path / "vertex.yaml")
    assert cli.main([*common, "--target", "vertex", "--output", output]) == 0
    spec, _ = kfspec.load_spec(output)
    trainer = dict(spec.root.dag.tasks)["Trainer"]
    assert trainer.inputs.artifacts["base_model"].task_output_artifact.producer_task == \
        "latest_blessed_model_resolver-model-resolver"


# -- real runs: old data cold, new data warm, and the cold reference -------

def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _history(summary) -> dict:
    with open(os.path.join(summary.model_run_uri, HISTORY_FILE)) as f:
        return json.load(f)


def _replay_trainer_without_base(config: RunConfig, summary, out_dir: str) -> dict:
    """Runs ``run_fn`` on exactly the inputs of the run's Trainer execution
    (from MLMD) but without ``base_model`` and ``warm_start``; returns its
    history.json."""
    from tfx.components.trainer import fn_args_utils
    from tfx.types import artifact_utils
    from tfxp.models.training import run_fn

    store = mlmd.open_store(config.metadata_path)
    trainer = next(e for e in mlmd._executions(store, summary.run_id)
                   if mlmd._component_of(store, e) == "Trainer")
    events = store.get_events_by_execution_ids([trainer.id])
    inputs = {}
    for event in events:
        if event.type != event.INPUT:
            continue
        key = event.path.steps[0].key
        artifact = store.get_artifacts_by_id([event.artifact_id])[0]
        kind = store.get_artifact_types_by_id([artifact.type_id])[0]
        inputs.setdefault(key, []).append(artifact_utils.deserialize_artifact(kind, artifact))
    inputs.pop("base_model", None)
    fn_args = fn_args_utils.get_common_fn_args(
        inputs, mlmd.run_exec_properties(store, summary.run_id, "Trainer"))
    fn_args.custom_config.pop("warm_start")
    fn_args.serving_model_dir = os.path.join(out_dir, "model", "1", "Format-Serving")
    fn_args.model_run_dir = os.path.join(out_dir, "model_run", "1")
    fn_args.transform_output = fn_args.transform_graph_path
    run_fn(fn_args)
    with open(os.path.join(fn_args.model_run_dir, HISTORY_FILE)) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{"config", "old", "new", "cold_new", "workspace"}``: the old-data
    cold run (through ``tfxp run --config ... --warm-start``, exit code
    checked), the warm run on new data, and the cold replay on new data."""
    folder = tmp_path_factory.mktemp("warm")
    rows = read_rows()
    new_rows = [dict(r) for r in rows[7500:]]
    for row in new_rows:
        if row["trip_miles"]:
            row["trip_miles"] = str(round(float(row["trip_miles"])))
    old_csv = _write_csv(folder / "old.csv", rows[:7500])
    new_csv = _write_csv(folder / "new.csv", new_rows)
    workspace = str(folder / "ws")
    base = RunConfig(workspace=workspace, data_dir=DATA_DIR, train_steps=STEPS,
                     eval_steps=EVAL_STEPS, epochs=EPOCHS,
                     beam_pipeline_args=list(TINY_BEAM_ARGS),
                     hparams=dict(TINY_HPARAMS["dense"]), warm_start=True)
    config_file = folder / "config.json"
    config_file.write_text(base.to_json())
    code = cli.main(["run", "--config", str(config_file), "--csv", old_csv])
    store = mlmd.open_store(base.metadata_path)
    old = mlmd.run_summary(store, mlmd.list_runs(store)[-1][1])
    assert code == 0 and old.blessed, mlmd.format_summary(old)

    config = RunConfig(**{**json.loads(base.to_json()), "csv": new_csv,
                          "hparams": dict(NEW_DATA_HPARAMS)})
    new = run_local(config)
    cold_new = _replay_trainer_without_base(config, new, str(folder / "cold"))
    return {"config": config, "old": old, "new": new, "workspace": workspace,
            "cold_new": cold_new}


def test_no_blessed_model_yet_trains_from_scratch_and_says_so(runs):
    old = runs["old"]
    record = _history(old)["warm_start"]
    assert record["status"] == warm_start.FROM_SCRATCH and record["base_model"] is None
    line = "warm start: no blessed model of this pipeline yet; training from scratch"
    assert record["message"] == line
    assert old.warm_start == record and line in mlmd.format_summary(old)
    with open(os.path.join(runs["workspace"], "logs", f"{old.run_id}.log")) as f:
        assert f"[trainer] {line}" in f.read()
    with open(os.path.join(Workspace(runs["workspace"]).report_dir(old.run_id),
                           "index.html")) as f:
        assert f"<b>Warm start</b> (from_scratch): {line}." in f.read()


def test_a_warm_run_on_new_data_starts_from_the_blessed_model_and_is_compared_with_it(runs):
    old, new = runs["old"], runs["new"]
    record = _history(new)["warm_start"]
    assert record["status"] == warm_start.LOADED and record["base_model"] == old.model_uri
    # The categorical embedding table, then 4 Dense layers x (kernel, bias).
    assert record["weights"] == 9
    # Rows of the table: 3 x 21 numeric-bucket, 25 + 8 + 13 calendar and
    # 4 x 11 quantile rows are kept by index; the vocabularies (payment type,
    # companies, community areas) of the new half differ from the old half's,
    # kept by token.
    assert record["rows_kept"] >= 3 * 21 + 46 + 44
    assert record["rows_new"] > 0 and record["rows_dropped"] > 0
    print(f"\nwarm start record: {json.dumps(record)}")
    assert new.coerced["trip_miles"]["INT->FLOAT"] == 7502
    # The Evaluator compared with the same model (its baseline input).
    store = mlmd.open_store(runs["config"].metadata_path)
    evaluator = next(e for e in mlmd._executions(store, new.run_id)
                     if mlmd._component_of(store, e) == "Evaluator")
    baseline = [ev.artifact_id for ev in store.get_events_by_execution_ids([evaluator.id])
                if ev.type == ev.INPUT and ev.path.steps[0].key == "baseline_model"]
    assert [a.uri for a in store.get_artifacts_by_id(baseline)] == [old.model_uri]


def test_the_warm_run_reaches_the_cold_runs_metric_in_fewer_steps(runs):
    warm = _history(runs["new"])["history"]["val_auc"]
    cold = runs["cold_new"]["history"]["val_auc"]
    per_epoch = STEPS // EPOCHS
    target = cold[-1]
    reached = next((i + 1) * per_epoch for i, auc in enumerate(warm) if auc >= target)
    print(f"\nval AUC every {per_epoch} steps on the new data: cold {cold}, warm {warm}; "
          f"cold after {STEPS} steps {target:.4f}, warm reaches it after {reached}")
    assert reached < STEPS


def test_incompatible_hparams_stop_before_anything_is_written(runs, capsys, tmp_path):
    config = RunConfig(**{**json.loads(runs["config"].to_json()),
                          "hparams": {**NEW_DATA_HPARAMS, "hidden_units": [16]}})
    config_file = tmp_path / "config.json"
    config_file.write_text(config.to_json())

    def snapshot():
        return {os.path.join(root, name): os.stat(os.path.join(root, name)).st_mtime_ns
                for root, _, files in os.walk(runs["workspace"]) for name in files}

    before = snapshot()
    capsys.readouterr()
    assert cli.main(["run", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"hidden_units {DENSE_HIDDEN} (base) vs [16] (this run)" in err
    store = mlmd.open_store(config.metadata_path)
    latest = mlmd.latest_blessed_model(store, config.pipeline_name)
    assert latest.uri in [runs["old"].model_uri, runs["new"].model_uri]
    assert f"({latest.uri})" in err
    assert snapshot() == before
