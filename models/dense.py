"""Dense (MLP) family: the seed document's tabular model."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfxp.models.common import classifier, dense_stack


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds an MLP over transformed tabular features.

    Each categorical feature is one-hot encoded, or, with
    ``categorical_embedding_dim`` E > 0, mapped to a learnt E-vector: one
    table ``categorical_embeddings`` ``[sum of cardinalities, E]`` holds
    every feature's rows one after the other (feature k's id i is row
    ``offset_k + i``, the "concatenated table" of DLRM-style models), so that,
    as in the one-hot MLP, the model's first weight has one row per one-hot
    position (``models.warm_start.input_rows`` labels them).

    Args:
      hparams:
        numeric_features: names of float32 ``[N]`` inputs (z-scores).
        categorical_features: ``{name: cardinality}`` of int64 ``[N]`` inputs
          with ids in ``[0, cardinality)``.
        categorical_embedding_dim: optional, default 0 (one-hot): E.
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
    categorical = hparams["categorical_features"]
    for name in categorical:
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
    width = int(hparams.get("categorical_embedding_dim") or 0)
    if width and categorical:
        offsets = np.cumsum([0] + list(categorical.values())[:-1]).astype("int64")
        rows = tf.stack([inputs[name] + offset
                         for name, offset in zip(categorical, offsets)], axis=1)  # [N, K]
        table = keras.layers.Embedding(int(sum(categorical.values())), width,
                                       name="categorical_embeddings")
        encoded.insert(0, keras.layers.Flatten()(table(rows)))               # [N, K * E]
    else:
        encoded += [keras.layers.CategoryEncoding(num_tokens=cardinality,
                                                  output_mode="one_hot")(inputs[name])
                    for name, cardinality in categorical.items()]
    x = keras.layers.Concatenate()(encoded)
    x = dense_stack(x, hparams["hidden_units"], hparams.get("dropout", 0.0))
    return classifier(inputs, x, hparams, "dense")
