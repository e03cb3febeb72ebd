"""ResNet family: a small residual network sized for 28x28 images."""
from __future__ import annotations

from typing import Any, Dict

import tf_keras as keras

from tfxp.models.common import classifier


def _conv_bn(x, filters: int, strides: int = 1, kernel: int = 3):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same",
                            use_bias=False)(x)
    return keras.layers.BatchNormalization()(x)


def residual_block(x, filters: int, strides: int = 1):
    """Basic block (He et al. 2016): conv-BN-ReLU-conv-BN + shortcut, ReLU.

    The shortcut is the identity when shape is kept, otherwise a projection
    (1x1 conv with ``strides`` + BN).
    """
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, strides, kernel=1)
    y = keras.layers.ReLU()(_conv_bn(x, filters, strides))
    y = _conv_bn(y, filters)
    return keras.layers.ReLU()(keras.layers.Add()([shortcut, y]))


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds a ResNet for small images.

    Stem: 3x3 conv + BN + ReLU with ``stage_filters[0]`` filters (no pooling:
    28x28 is already small). Then one stage per entry of ``stage_filters``,
    each ``blocks_per_stage`` basic residual blocks; every stage after the
    first halves the resolution (28 -> 14 -> 7 for three stages) in its first
    block, whose shortcut is a projection. Global average pooling -> softmax.

    Args:
      hparams:
        stage_filters: filters per stage, e.g. ``[32, 64, 128]``.
        blocks_per_stage: residual blocks in each stage (>= 1).
        input_name, input_shape: as for ``models.cnn.build_model``.
        num_classes, learning_rate, steps_per_execution: the head's, see
          ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model`` with ``models.cnn.build_model``'s contract
      (pixels in, class probabilities out).
    Raises:
      ValueError: empty ``stage_filters`` or ``blocks_per_stage`` < 1.
    """
    stages, blocks = list(hparams["stage_filters"]), int(hparams["blocks_per_stage"])
    if not stages or blocks < 1:
        raise ValueError(f"resnet needs >= 1 stage and >= 1 block per stage, got "
                         f"stage_filters={stages!r} blocks_per_stage={blocks}")
    inputs = keras.Input(shape=tuple(hparams["input_shape"]),
                         name=hparams["input_name"], dtype="float32")
    x = keras.layers.ReLU()(_conv_bn(inputs, stages[0]))
    for stage, filters in enumerate(stages):
        for block in range(blocks):
            x = residual_block(x, filters, strides=2 if stage > 0 and block == 0 else 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return classifier(inputs, x, hparams, "resnet")
