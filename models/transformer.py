"""Transformer family: token + position embedding -> encoder blocks -> pooling."""
from __future__ import annotations

import math
from typing import Any, Dict

import tensorflow as tf
import tf_keras as keras

from tfxp.models.common import classifier
from tfxp.models.registry import POOLINGS


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


@keras.saving.register_keras_serializable(package="tfxp")
class MaskedMaxPooling(keras.layers.Layer):
    """Max over real tokens: float32 ``[N, L, D]`` + bool ``[N, L]`` -> ``[N, D]``.

    A row without real tokens (empty text) pools to zeros rather than -inf.
    """

    def call(self, x, padding_mask):
        mask = padding_mask[:, :, tf.newaxis]
        pooled = tf.reduce_max(tf.where(mask, x, tf.float32.min), axis=1)
        return tf.where(tf.reduce_any(mask, axis=1), pooled, tf.zeros_like(pooled))


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
    -> pooling over real tokens (mean, max, or both concatenated) -> Dropout
    -> Dense softmax.

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
        token_dropout: optional, default 0: rate at which whole token
          positions of the embedded sequence are zeroed in training (the
          same mask over all ``embedding_dim`` channels, noise shape
          ``[N, L, 1]``; "word dropout", Iyyer et al. 2015).
        token_embedding_dim: optional, default ``embedding_dim``: width E of
          the token embedding table; when below ``embedding_dim`` a linear
          map projects it up (ALBERT's factorized embedding, Lan et al.
          2020: ``vocab_size`` x E + E x dim weights instead of
          ``vocab_size`` x dim).
        embedding_dropout: optional, default 0: dropout rate on each value
          of the token + position embedding (Vaswani et al. 2017 drop the
          sum at the model's dropout rate).
        pooling: optional, default ``'mean'``: how the encoder output
          ``[N, L, dim]`` becomes ``[N, dim]`` over the real tokens:
          ``'mean'``, ``'max'``, or ``'mean_max'`` (both, ``[N, 2 dim]``).
        num_classes, learning_rate, steps_per_execution: the head's, see
          ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model``: int64 ``[N, L]`` token ids (0 = padding)
      -> float32 ``[N, num_classes]`` class probabilities (softmax).
    Raises:
      ValueError: ``embedding_dim`` not divisible by ``num_heads``,
        ``num_blocks`` < 1, or an unknown ``pooling``.
    """
    dim, heads = int(hparams["embedding_dim"]), int(hparams["num_heads"])
    if dim % heads:
        raise ValueError(f"transformer embedding_dim {dim} must be divisible by "
                         f"num_heads {heads}")
    if int(hparams["num_blocks"]) < 1:
        raise ValueError(f"transformer num_blocks must be >= 1, got {hparams['num_blocks']}")
    pooling = hparams.get("pooling", "mean")
    if pooling not in POOLINGS:
        raise ValueError(f"transformer pooling must be one of {', '.join(POOLINGS)}, "
                         f"got {pooling!r}")
    dropout = float(hparams.get("dropout", 0.0))
    token_dropout = float(hparams.get("token_dropout", 0.0))
    tokens = keras.Input(shape=(hparams["max_tokens"],), name=hparams["input_name"],
                         dtype="int64")
    padding_mask = tf.not_equal(tokens, 0)                  # bool [N, L]
    attention_mask = padding_mask[:, tf.newaxis, :]         # bool [N, 1, L]
    token_dim = int(hparams.get("token_embedding_dim") or dim)
    x = keras.layers.Embedding(hparams["vocab_size"], token_dim)(tokens)
    if token_dim != dim:
        x = keras.layers.Dense(dim, use_bias=False)(x)
    if hparams.get("scale_embeddings"):
        x = x * math.sqrt(dim)
    x = PositionEmbedding(hparams["max_tokens"])(x)
    embedding_dropout = float(hparams.get("embedding_dropout", 0.0))
    if embedding_dropout:
        x = keras.layers.Dropout(embedding_dropout)(x)
    conv_kernel = int(hparams.get("conv_kernel", 0))
    if conv_kernel:
        x = keras.layers.Conv1D(dim, conv_kernel, padding="same", activation="relu")(
            x * tf.cast(padding_mask, x.dtype)[:, :, tf.newaxis])
    if token_dropout:
        x = keras.layers.Dropout(token_dropout, noise_shape=(None, hparams["max_tokens"], 1))(x)
    for _ in range(int(hparams["num_blocks"])):
        x = encoder_block(x, attention_mask, dim, heads, int(hparams["ff_dim"]), dropout)
    pooled = []
    if pooling in ("mean", "mean_max"):
        pooled.append(MaskedMeanPooling()(x, padding_mask))
    if pooling in ("max", "mean_max"):
        pooled.append(MaskedMaxPooling()(x, padding_mask))
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate()(pooled)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return classifier(tokens, x, hparams, "transformer")
