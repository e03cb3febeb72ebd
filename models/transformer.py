"""Transformer family: token + position embedding -> encoder blocks -> pooling."""
from __future__ import annotations

from typing import Any, Dict

import tensorflow as tf
import tf_keras as keras

from tfxp.models.common import classifier


@keras.saving.register_keras_serializable(package="tfxp")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position: float32 ``[N, L, D]`` -> same.

    Owns its weight instead of wrapping an ``Embedding`` layer: Keras runs
    AutoGraph over a subclassed layer's ``call`` and every layer it calls,
    which makes nested layers cost tens of seconds per model build.
    """

    def __init__(self, max_tokens: int, **kwargs):
        super().__init__(**kwargs)
        self.max_tokens = max_tokens

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(self.max_tokens, input_shape[-1]),
            initializer="uniform")  # Keras Embedding's default initializer
        super().build(input_shape)

    def call(self, x):
        return x + self.position_embeddings[tf.newaxis, :tf.shape(x)[1], :]

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens}


@keras.saving.register_keras_serializable(package="tfxp")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over real tokens: float32 ``[N, L, D]`` + bool ``[N, L]`` -> ``[N, D]``.

    A row without real tokens (empty text) pools to zeros rather than NaN.
    """

    def call(self, x, padding_mask):
        weights = tf.cast(padding_mask, x.dtype)[:, :, tf.newaxis]
        total = tf.reduce_sum(x * weights, axis=1)
        return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


def encoder_block(x, attention_mask, dim: int, num_heads: int, ff_dim: int,
                  dropout: float):
    """Post-norm Transformer encoder block (Vaswani et al. 2017).

    ``x = LayerNorm(x + Dropout(MHA(x, x, attention_mask)))``, then
    ``x = LayerNorm(x + Dropout(FFN(x)))``, FFN = Dense(ff_dim, ReLU) -> Dense(dim).

    Built from stock Keras layers rather than a ``Layer`` subclass, for the
    reason given in ``PositionEmbedding`` (about a minute per build here).

    Args:
      x: float32 ``[N, L, dim]``.
      attention_mask: bool ``[N, 1, L]``, True where a key is a real token, so
        padding is never attended to.
    Returns:
      float32 ``[N, L, dim]``.
    """
    attended = keras.layers.MultiHeadAttention(
        num_heads, key_dim=dim // num_heads, dropout=dropout)(
            x, x, attention_mask=attention_mask)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(
        keras.layers.Add()([x, keras.layers.Dropout(dropout)(attended)]))
    ffn = keras.layers.Dense(ff_dim, activation="relu")(x)
    ffn = keras.layers.Dense(dim)(ffn)
    return keras.layers.LayerNormalization(epsilon=1e-6)(
        keras.layers.Add()([x, keras.layers.Dropout(dropout)(ffn)]))


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds a Transformer-encoder text classifier.

    Token + position embedding -> ``num_blocks`` encoder blocks (multi-head
    self-attention with a padding mask, feed-forward, residual + layer norm)
    -> mean pooling over real tokens -> Dropout -> Dense softmax.

    Args:
      hparams:
        input_name: name of the single input (``'tokens_xf'``).
        vocab_size: number of ids, padding (0) and OOV ids included.
        max_tokens: sequence length L.
        embedding_dim: model width; must be divisible by ``num_heads``.
        num_heads: attention heads per block.
        ff_dim: hidden width of each block's feed-forward network.
        num_blocks: encoder blocks (>= 2 by the seed document).
        dropout: dropout rate in attention, after each sublayer and before the head.
        embedding_dropout: optional, default 0: dropout rate on each value
          of the token + position embedding (Vaswani et al. 2017 drop the
          sum at the model's dropout rate).
        num_classes, learning_rate, steps_per_execution: the head's, see
          ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model``: int64 ``[N, L]`` token ids (0 = padding)
      -> float32 ``[N, num_classes]`` class probabilities (softmax).
    Raises:
      ValueError: ``embedding_dim`` not divisible by ``num_heads``, or
        ``num_blocks`` < 1.
    """
    dim, heads = int(hparams["embedding_dim"]), int(hparams["num_heads"])
    if dim % heads:
        raise ValueError(f"transformer embedding_dim {dim} must be divisible by "
                         f"num_heads {heads}")
    if int(hparams["num_blocks"]) < 1:
        raise ValueError(f"transformer num_blocks must be >= 1, got {hparams['num_blocks']}")
    dropout = float(hparams.get("dropout", 0.0))
    tokens = keras.Input(shape=(hparams["max_tokens"],), name=hparams["input_name"],
                         dtype="int64")
    padding_mask = tf.not_equal(tokens, 0)                  # bool [N, L]
    attention_mask = padding_mask[:, tf.newaxis, :]         # bool [N, 1, L]
    x = keras.layers.Embedding(hparams["vocab_size"], dim)(tokens)
    x = PositionEmbedding(hparams["max_tokens"])(x)
    embedding_dropout = float(hparams.get("embedding_dropout", 0.0))
    if embedding_dropout:
        x = keras.layers.Dropout(embedding_dropout)(x)
    for _ in range(int(hparams["num_blocks"])):
        x = encoder_block(x, attention_mask, dim, heads, int(hparams["ff_dim"]), dropout)
    x = MaskedMeanPooling()(x, padding_mask)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return classifier(tokens, x, hparams, "transformer")
