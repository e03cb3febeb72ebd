"""MirroredStrategy for real: the Trainer's ``run_fn`` on two logical CPU
replicas (tests/conftest.py), for an image and a text family, over the
Transform outputs of the session's tiny pipeline runs.

The families are ResNet and Transformer, the two that the end-to-end runs
(CNN, LSTM, also on two replicas) do not train, so that together every family
is trained, exported and checked against its SavedModel."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.trainer import fn_args_utils
from tfx.types import artifact_utils, standard_artifacts

from tfxp.core.workspace import HISTORY_FILE, TENSORBOARD_DIR
from tfxp.pipeline.config import RunConfig
from tfxp.models import training
from tfxp.models.export import LABEL_SOURCE_KEYS
from tests.conftest import REPLICAS

TRAIN_STEPS, EVAL_STEPS, EPOCHS = 15, 2, 3
PER_REPLICA_BATCH = 32
# The Transformer fine-tunes its pre-trained encoder at lr 5e-5 over 500
# steps; these tests are about two replicas and the export, so it trains
# with a rate that learns within 15 steps.
FAST_HPARAMS = {"transformer": {"learning_rate": 1e-4}}
# The Transformer of its own architecture from GloVe (bench/configs/
# transformer_glove.json), at a rate that learns within 15 steps.
with open(os.path.join(os.path.dirname(__file__), "..", "bench", "configs",
                       "transformer_glove.json")) as _f:
    GLOVE_FAST = {**json.load(_f)["hparams"], "learning_rate": 1e-3, "dropout": 0.1}


def _one(pattern: str) -> str:
    matches = glob.glob(pattern)
    assert len(matches) == 1, (pattern, matches)
    return matches[0]


def _fn_args(config, family: str, tmp_path, hparams=None) -> fn_args_utils.FnArgs:
    """FnArgs as the Trainer executor builds them, over the run's Transform
    outputs; ``hparams`` (default ``FAST_HPARAMS``) the run's overrides."""
    root = os.path.abspath(config.pipeline_root)
    examples = standard_artifacts.Examples()
    examples.uri = _one(os.path.join(root, "Transform", "transformed_examples", "*"))
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    custom_config = {"family": family, "dataset": config.dataset_spec.name,
                     "epochs": EPOCHS, "per_replica_batch": PER_REPLICA_BATCH,
                     "hparams": dict(FAST_HPARAMS.get(family, {}) if hparams is None
                                     else hparams)}
    # Where the pre-trained encoder (models/pretrained_encoder.py) or the
    # GloVe vectors are, as the pipeline's Trainer is told (RunConfig.trainer_config).
    custom_config.update({k: v for k, v in RunConfig(
        model=family, data_dir=config.data_dir,
        hparams=custom_config["hparams"]).trainer_config().items()
        if k in ("embeddings_dir", "encoder_dir")})
    fn_args = fn_args_utils.get_common_fn_args(
        {"examples": [examples]},
        {"train_args": json.dumps({"num_steps": TRAIN_STEPS}),
         "eval_args": json.dumps({"num_steps": EVAL_STEPS}),
         "custom_config": json.dumps(custom_config)},
        working_dir=str(tmp_path / "work"))
    fn_args.transform_output = _one(os.path.join(root, "Transform", "transform_graph", "*"))
    fn_args.serving_model_dir = str(tmp_path / "serving_model")
    fn_args.model_run_dir = str(tmp_path / "model_run")
    fn_args.custom_config = custom_config
    return fn_args


def _uri_fn_args(config, family: str, tmp_path, root: str) -> fn_args_utils.FnArgs:
    """``_fn_args`` with the Trainer's outputs under the URI ``root``, laid
    out as on Kubeflow (``<root>/Trainer/{model,model_run}/<execution>``)."""
    fn_args = _fn_args(config, family, tmp_path)
    fn_args.serving_model_dir = f"{root}/Trainer/model/7/Format-Serving"
    fn_args.model_run_dir = f"{root}/Trainer/model_run/7"
    return fn_args


def _raw_eval_examples(config, count: int = 16) -> tf.Tensor:
    root = os.path.abspath(config.pipeline_root)
    files = glob.glob(os.path.join(root, "TfdsExampleGen", "examples", "*", "Split-eval", "*"))
    assert files
    return tf.constant(list(tf.data.TFRecordDataset(files, compression_type="GZIP")
                            .take(count).as_numpy_iterator()))


@pytest.mark.parametrize("run_fixture, family", [("image_run", "resnet"),
                                                 ("text_run", "transformer")])
def test_run_fn_trains_on_two_replicas_and_exports_the_trained_model(
        run_fixture, family, request, tmp_path, monkeypatch):
    config, _ = request.getfixturevalue(run_fixture)
    fn_args = _fn_args(config, family, tmp_path)
    trained = {}
    export, copy = training.export_serving_model, training.undistributed_copy

    def spy(model, tft_output, dataset, export_dir):
        trained.update(model=model, tft_output=tft_output)
        export(model, tft_output, dataset, export_dir)

    def copy_spy(family_, hparams, model):
        trained.update(distributed=model)
        return copy(family_, hparams, model)

    monkeypatch.setattr(training, "export_serving_model", spy)
    monkeypatch.setattr(training, "undistributed_copy", copy_spy)
    training.run_fn(fn_args)
    # What is exported is a plain copy of the model trained on two replicas,
    # with its weights (BatchNormalization's moving statistics included).
    assert isinstance(trained["distributed"].weights[0], tf.distribute.DistributedValues)
    assert not isinstance(trained["model"].weights[0], tf.distribute.DistributedValues)
    for ours, theirs in zip(trained["model"].get_weights(),
                            trained["distributed"].get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)

    with open(os.path.join(fn_args.model_run_dir, HISTORY_FILE)) as f:
        run = json.load(f)
    assert run["replicas"] == REPLICAS == 2
    assert run["global_batch"] == PER_REPLICA_BATCH * REPLICAS
    losses = run["history"]["loss"]
    assert len(losses) == EPOCHS and losses[-1] < losses[0], losses

    # The exported serving signature (tf.Example -> TFT graph -> model) gives
    # what the in-memory Keras model gives on the same transformed inputs.
    model, tft_output = trained["model"], trained["tft_output"]
    assert model.name == family
    examples = _raw_eval_examples(config)
    serving_spec = {k: v for k, v in tft_output.raw_feature_spec().items()
                    if k not in LABEL_SOURCE_KEYS}
    transformed = tft_output.transform_raw_features(tf.io.parse_example(examples, serving_spec))
    expected = model({k: transformed[k] for k in model.input_names}, training=False).numpy()
    served = tf.saved_model.load(fn_args.serving_model_dir)
    # The SavedModel holds the model's weights, once, and no optimizer slots
    # (models/export.py ServingModule): Adam's would triple its bytes.
    saved = tf.train.list_variables(os.path.join(fn_args.serving_model_dir, "variables",
                                                 "variables"))
    assert not [n for n, _ in saved if "optimizer" in n.lower()], saved[:5]
    assert (sum(int(np.prod(shape)) for n, shape in saved if n.startswith("model_variables/"))
            == sum(int(np.prod(v.shape)) for v in model.variables))
    default = served.signatures["serving_default"](inputs=examples)
    full = served.signatures["predict"](inputs=examples)
    assert set(default) == {"classes", "scores"}  # all TF Serving's Classify accepts
    for outputs in (default, full):
        scores = outputs["scores"].numpy()
        assert scores.shape == expected.shape == (16, config.dataset_spec.num_classes)
        np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(full["top_class"].numpy(), tf.gather(
        default["classes"][0], np.argmax(full["scores"].numpy(), axis=1)).numpy())


def test_run_fn_writes_every_output_to_uris(image_run, tmp_path):
    """On Kubeflow the Trainer's outputs are ``gs://`` URIs, which h5py and
    ``os`` cannot write; ``ram://`` stands in. The run's history, per-epoch
    and final weights (HDF5, model weights only), SavedModel, warm-start
    weights and TensorBoard logs all land under the URIs, the step backup
    is deleted there, and the weights files load into the family's model."""
    import uuid
    from tfxp.models.registry import get_family
    from tfxp.models.warm_start import WARM_START_DIR

    config, _ = image_run
    root = f"ram://{uuid.uuid4().hex}"
    fn_args = _uri_fn_args(config, "cnn", tmp_path, root)
    training.run_fn(fn_args)

    run_dir = fn_args.model_run_dir
    with tf.io.gfile.GFile(f"{run_dir}/{HISTORY_FILE}") as f:
        run = json.load(f)
    assert len(run["history"]["loss"]) == EPOCHS
    epochs = [f"epoch-{e:03d}.h5" for e in range(1, EPOCHS + 1)]
    assert sorted(tf.io.gfile.listdir(f"{run_dir}/{training.CHECKPOINT_DIR}")) == epochs
    assert [f for _, _, files in tf.io.gfile.walk(f"{run_dir}/{TENSORBOARD_DIR}")
            for f in files if f.startswith("events.out.tfevents.")]
    served = tf.saved_model.load(fn_args.serving_model_dir)
    examples = _raw_eval_examples(config)
    scores = served.signatures["predict"](inputs=examples)["scores"].numpy()
    assert tf.io.gfile.exists(f"{root}/Trainer/model/7/{WARM_START_DIR}")
    # The step backup and best-epoch state are deleted once the outputs are
    # written (an empty folder may stay, as Keras leaves it locally).
    assert [f for _, _, files in tf.io.gfile.walk(f"{root}/Trainer/backup")
            for f in files] == []

    # Each HDF5 file holds the model's weights and nothing else: its bytes are
    # those of the weights (float32) plus HDF5's headers, not 3x (Adam).
    model = get_family("cnn").build_model(run["hparams"])
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    for name in [f"{training.CHECKPOINT_DIR}/{epochs[-1]}", training.WEIGHTS_FILE]:
        local = str(tmp_path / name.replace("/", "-"))
        tf.io.gfile.copy(f"{run_dir}/{name}", local)
        assert weight_bytes < os.path.getsize(local) < weight_bytes + 256 * 1024, name
        model.load_weights(local)
    # weights.h5 holds the exported (best epoch's) weights: the Keras model
    # built from it scores as the SavedModel does.
    tft_output = training.tft.TFTransformOutput(fn_args.transform_output)
    spec = {k: v for k, v in tft_output.raw_feature_spec().items()
            if k not in LABEL_SOURCE_KEYS}
    transformed = tft_output.transform_raw_features(tf.io.parse_example(examples, spec))
    expected = model({k: transformed[k] for k in model.input_names}, training=False).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_successive_strategies_in_one_process_do_not_share_collective_keys():
    """Two MirroredStrategy trainings of differently sized models in one
    process (as in this test session, or several pipelines in one run): with
    TF's default keys the second all-reduce fails with "Shape mismatch in the
    collective instance 100" (tensorflow/tensorflow#62790)."""
    import tf_keras as keras
    from tfxp.models.common import make_strategy

    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4), dtype=np.float32), rng.integers(0, 2, 32)
    for units in (3, 7):
        strategy = make_strategy()
        assert strategy.num_replicas_in_sync == REPLICAS
        with strategy.scope():
            model = keras.Sequential([keras.layers.Dense(units, input_shape=(4,)),
                                      keras.layers.Dense(2, activation="softmax")])
            model.compile("sgd", "sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])


def test_a_seeded_trainer_repeats_its_training_and_another_seed_does_not(
        text_run, tmp_path):
    """``custom_config['seed']`` (``RunConfig.seed``, ``tfxp run --seed``):
    two runs with seed 3 export the same weights and losses, on two
    replicas; seed 4 gives other weights. Unseeded, the first two would
    differ as the third does (random initialisation)."""
    config, _ = text_run
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        # The GloVe Transformer: seeding is the point here, and three
        # fine-tunings of the 22.7M-weight encoder would cost minutes.
        fn_args = _fn_args(config, "transformer", tmp_path / name, GLOVE_FAST)
        fn_args.custom_config["seed"] = seed
        training.run_fn(fn_args)
        with open(os.path.join(fn_args.model_run_dir, HISTORY_FILE)) as f:
            losses = json.load(f)["history"]["loss"]
        weights = np.load(os.path.join(tmp_path / name, "warm_start", "weights.npz"))
        runs[name] = (losses, [weights[k] for k in sorted(weights.files)])
    (loss_a, w_a), (loss_b, w_b), (loss_c, w_c) = runs["a"], runs["b"], runs["c"]
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for x, y in zip(w_a, w_b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(w_a, w_c)) > 1e-3
