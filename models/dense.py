"""Dense (MLP) family: the seed document's tabular model."""
from __future__ import annotations

from typing import Any, Dict

import tf_keras as keras

from tfxp.models.common import classifier, dense_stack


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds an MLP over transformed tabular features.

    Args:
      hparams:
        numeric_features: names of float32 ``[N]`` inputs (z-scores).
        categorical_features: ``{name: cardinality}`` of int64 ``[N]`` inputs
          with ids in ``[0, cardinality)``; one-hot encoded.
        hidden_units: widths of the hidden ``Dense`` + ReLU layers.
        dropout: dropout rate after each hidden layer (0 disables).
        num_classes (2 for binary), learning_rate, steps_per_execution: the
          head's, see ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model``: dict of ``[N]`` inputs -> float32
      ``[N, num_classes]`` class probabilities (softmax).
    """
    inputs, encoded = {}, []
    for name in hparams["numeric_features"]:
        inputs[name] = keras.Input(shape=(), name=name, dtype="float32")
        encoded.append(keras.layers.Reshape((1,))(inputs[name]))
    for name, cardinality in hparams["categorical_features"].items():
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
        encoded.append(keras.layers.CategoryEncoding(
            num_tokens=cardinality, output_mode="one_hot")(inputs[name]))
    x = keras.layers.Concatenate()(encoded)
    x = dense_stack(x, hparams["hidden_units"], hparams.get("dropout", 0.0))
    return classifier(inputs, x, hparams, "dense")

