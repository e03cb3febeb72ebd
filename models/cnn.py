"""CNN family: the seed document's conv-pool-conv-pool-FC-FC-FC image model."""
from __future__ import annotations

from typing import Any, Dict

import tf_keras as keras

from tfxp.models.common import classifier, dense_stack


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds a LeNet-style CNN for small greyscale images.

    Architecture: [Conv2D 3x3 + ReLU -> MaxPool 2x2] x 2 -> Flatten ->
    Dense + ReLU (+ Dropout) x 2 -> Dense softmax, i.e. three fully connected
    layers, the last one being the classifier head.

    Args:
      hparams:
        input_name: name of the single input (``'image_xf'``).
        input_shape: ``(height, width, channels)``, e.g. ``(28, 28, 1)``.
        filters: two ints, filters of the two conv layers.
        dense_units: two ints, widths of the two hidden fully connected layers.
        dropout: dropout rate after each hidden FC layer (0 disables).
        num_classes, learning_rate, steps_per_execution: the head's, see
          ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model``: float32 ``[N, H, W, C]`` pixels in [0, 1]
      -> float32 ``[N, num_classes]`` class probabilities (softmax).
    Raises:
      ValueError: ``filters`` or ``dense_units`` does not hold exactly two ints.
    """
    for key in ("filters", "dense_units"):
        if len(hparams[key]) != 2:
            raise ValueError(f"cnn hparam {key!r} must hold 2 ints "
                             f"(conv-pool-conv-pool-FC-FC-FC), got {hparams[key]!r}")
    inputs = keras.Input(shape=tuple(hparams["input_shape"]),
                         name=hparams["input_name"], dtype="float32")
    x = inputs
    for filters in hparams["filters"]:
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = dense_stack(x, hparams["dense_units"], hparams.get("dropout", 0.0))
    return classifier(inputs, x, hparams, "cnn")
