"""Test session setup: tf_keras, two logical CPU replicas, shared fixtures.

The CPU is split into two logical devices before TensorFlow initialises, so
every ``MirroredStrategy`` built in tests (``models.common.make_strategy``)
really runs two replicas.
"""
from tfxp.core import env  # noqa: F401  (TF_USE_LEGACY_KERAS before TF import)

import os  # noqa: E402

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

REPLICAS = 2
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS)

from tfxp.pipeline.config import DEFAULT_BEAM_ARGS  # noqa: E402  (after the device split)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("TFXP_DATA_DIR", os.path.join(PROJECT_ROOT, "data"))


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The offline datasets folder that scripts/get_data.sh fills."""
    return DATA_DIR

# Small but real pipeline runs: few steps, on the default local Beam runner
# (in-process FnApiRunner, which spares the two CPUs worker processes).
TINY_BEAM_ARGS = list(DEFAULT_BEAM_ARGS)


# Dense's defaults (lr 3e-4, dropout 0.3) are tuned for 1,500 steps; in 30
# steps they left some trip_start_hour slices under the 0.6 AUC floor. Only
# the Overall slice is gated now, but a tiny run's blessing should not hang
# on a margin: faster settings learn more in 30 steps. Binary accuracy must
# also beat the eval split's majority share now (components/evaluator.py): at
# lr 1e-3 three 30-step trainings on 4k taxi rows scored 0.79-0.83 against a
# majority share of 0.787 (one run of the dense_run fixture tied it and was
# not blessed); at 3e-3 they scored 0.916-0.917 after 30 steps but only
# 0.84-0.88 after the first epoch's 15, and the Trainer exports the epoch with
# the best val AUC, which on 3 eval batches was at times the nearly one-sided
# first epoch (2 of 4 test_report runs were not blessed). At 1e-2 the first
# epoch already scores 0.914-0.916.
TINY_HPARAMS = {"dense": {"learning_rate": 1e-2, "dropout": 0.1}}
# Seeded (RunConfig.seed): an unseeded 30-step Dense run of a full suite on
# 2026-12-02 still fell to the majority-share floor and was not blessed,
# failing the 40 tests that share the dense_run fixture. A seed makes a tiny
# run's outcome a property of the code, not of the draw; a test may pass
# another seed (or None) through ``overrides``.
TINY_SEED = 1


def run_tiny_pipeline(workspace: str, model: str, component_options=None, **overrides):
    """Runs the real pipeline with few steps; returns ``(config, summary)``.

    ``component_options`` go to ``create_components`` (e.g. ``example_gen``),
    ``overrides`` to ``RunConfig``.
    """
    from tfxp.pipeline.config import RunConfig
    from tfxp.runner.local_runner import run_local

    settings = dict(model=model, workspace=workspace, data_dir=DATA_DIR,
                    train_steps=30, eval_steps=3, epochs=2,
                    beam_pipeline_args=list(TINY_BEAM_ARGS),
                    hparams=dict(TINY_HPARAMS.get(model, {})), seed=TINY_SEED)
    settings.update(overrides)
    config = RunConfig(**settings)
    return config, run_local(config, **(component_options or {}))


@pytest.fixture(scope="session")
def dense_run(tmp_path_factory):
    """One real Dense/taxi pipeline run, shared by the tests that need a
    trained, pushed model: ``(RunConfig, RunSummary)``."""
    return run_tiny_pipeline(str(tmp_path_factory.mktemp("dense_ws")), "dense")


def tfds_slice_example_gen(dataset: str, train_split: str, validation_split: str,
                           eval_split: str):
    """The pipeline's own TFDS ExampleGen for ``dataset``, reading only TFDS
    split slices (e.g. ``'train[:3000]'``) to keep test runs short."""
    from tfxp.components import tfds_builders
    from tfxp.components.tfds_example_gen import TfdsExampleGen

    return TfdsExampleGen(
        dataset_name=tfds_builders.tfds_name(dataset),
        data_dir=os.path.join(DATA_DIR, "tfds"), train_split=train_split,
        validation_split=validation_split, eval_split=eval_split,
        manual_dir=tfds_builders.default_manual_dir(DATA_DIR, dataset))


@pytest.fixture(scope="session")
def image_run(tmp_path_factory):
    """One real CNN/Fashion-MNIST pipeline run (3,000 train, 500 validation
    and 500 test images, two replicas), pushed: ``(RunConfig, RunSummary)``."""
    return run_tiny_pipeline(
        str(tmp_path_factory.mktemp("image_ws")), "cnn",
        component_options={"example_gen": tfds_slice_example_gen(
            "fashion_mnist", "train[:3000]", "train[3000:3500]", "test[:500]")})


@pytest.fixture(scope="session")
def text_run(tmp_path_factory):
    """One real LSTM/Rotten Tomatoes pipeline run (all ~9k train, ~1.2k
    validation and ~2.5k held-out-movie snippets, two replicas), pushed: ``(RunConfig, RunSummary)``.

    The learning rate is raised from the family's 1e-3 so that 30 steps
    clear the blessing threshold (AUC 0.6) with a margin."""
    return run_tiny_pipeline(
        str(tmp_path_factory.mktemp("text_ws")), "lstm",
        hparams={"learning_rate": 5e-3})


@pytest.fixture(scope="session")
def exported_image_model(tmp_path_factory) -> str:
    """A CNN/Fashion-MNIST SavedModel from the real export, untrained, no
    pipeline (``tests.export_models.image_model``): its path."""
    from tests import export_models
    return export_models.image_model(str(tmp_path_factory.mktemp("image_export")))


@pytest.fixture(scope="session")
def exported_text_model(tmp_path_factory) -> str:
    """An LSTM/Rotten Tomatoes SavedModel from the real export, untrained, no
    pipeline (``tests.export_models.text_model``): its path."""
    from tests import export_models
    return export_models.text_model(str(tmp_path_factory.mktemp("text_export")))
