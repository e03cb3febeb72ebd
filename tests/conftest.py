"""Test session setup: tf_keras, two logical CPU replicas, shared fixtures.

The CPU is split into two logical devices before TensorFlow initialises, so
every ``MirroredStrategy`` built in tests (``models.common.make_strategy``)
really runs two replicas.
"""
from pipeline import env  # noqa: F401  (TF_USE_LEGACY_KERAS before TF import)

import os  # noqa: E402

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

REPLICAS = 2
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("TFXP_DATA_DIR", os.path.join(PROJECT_ROOT, "data"))


@pytest.fixture(scope="session")
def data_dir() -> str:
    """The offline datasets folder that scripts/get_data.sh fills."""
    return DATA_DIR
