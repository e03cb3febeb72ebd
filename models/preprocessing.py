"""``preprocessing_fn``s, one per modality, run by TFX Transform (TFT).

The same traced graph is attached to every exported model (``tft_layer``), so
training and serving apply identical preprocessing.

Inputs follow the raw feature spec derived from the schema: a feature that is
always present arrives as a dense ``[N, 1]`` (or ``[N]``) tensor, a feature
that may be empty (the taxi CSV has many empty fields) arrives as a
``tf.SparseTensor`` with ``dense_shape [N, 1]``. Every function here makes the
missing-value rule explicit.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_transform as tft

from tfxp.core import features as F
from tfxp.core.datasets import IMAGE, TABULAR, TEXT

Tensor = Any  # tf.Tensor | tf.SparseTensor


def to_dense(x: Tensor, default) -> tf.Tensor:
    """Densifies one scalar-per-example feature to shape ``[N]``.

    Args:
      x: ``[N]``, ``[N, 1]`` dense, or ``tf.SparseTensor`` with dense_shape
        ``[N, 1]`` (a missing value is an absent entry).
      default: value written where the example has no value; must match
        ``x.dtype``.
    Returns:
      A dense ``[N]`` tensor of ``x.dtype``.
    """
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]),
            default_value=default)
    if x.shape.rank == 2:
        x = tf.squeeze(x, axis=1)
    return x


def cast(x: Tensor, dtype: tf.DType) -> Tensor:
    """``tf.cast`` that keeps a ``tf.SparseTensor`` sparse."""
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, tf.cast(x.values, dtype), x.dense_shape)
    return tf.cast(x, dtype)


def _as_strings(x: Tensor) -> Tensor:
    if x.dtype == tf.string:
        return x
    x = cast(x, tf.int64)
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, tf.strings.as_string(x.values),
                               x.dense_shape)
    return tf.strings.as_string(x)


def tabular_preprocessing_fn(inputs: Dict[str, Tensor]) -> Dict[str, tf.Tensor]:
    """Chicago taxi features -> model inputs.

    - ``NUMERIC_FEATURES``: z-score over the present values of the train split
      (``tft.scale_to_z_score``, population std); missing -> 0.0, the mean.
      float32 ``[N]``. Each is also ``tft.bucketize``d into
      ``NUMERIC_BUCKETS`` quantile buckets of the train split as
      ``<name>_bucket_xf``; missing -> bucket ``NUMERIC_BUCKETS``. int64 ``[N]``.
    - ``CALENDAR_FEATURES``: fixed buckets, one per value; out of range or
      missing -> bucket ``num_values``. int64 ``[N]``.
    - ``QUANTILE_FEATURES``: ``tft.bucketize`` into ``QUANTILE_BUCKETS``
      quantile buckets; missing -> bucket ``QUANTILE_BUCKETS``. int64 ``[N]``.
    - ``VOCAB_FEATURES``: ``tft.compute_and_apply_vocabulary`` (top
      ``VOCAB_TOP_K`` by frequency, one OOV bucket); missing ->
      ``MISSING_TOKEN``, which gets its own id. int64 ``[N]``.
    - ``label_xf``: 1 if ``tips > 0.2 * fare`` (TFX taxi example's "big
      tipper"), else 0; missing fare or tips -> 0. int64 ``[N]``. Only
      computed when ``tips`` is given, so serving needs no label.
    """
    out = {}
    for key in F.NUMERIC_FEATURES:
        z = tft.scale_to_z_score(cast(inputs[key], tf.float32))
        out[F.transformed_name(key)] = to_dense(z, 0.0)
        buckets = tft.bucketize(cast(inputs[key], tf.float32), F.NUMERIC_BUCKETS)
        out[F.numeric_bucket_name(key)] = to_dense(
            cast(buckets, tf.int64), tf.constant(F.NUMERIC_BUCKETS, tf.int64))
    for key, (first, count) in F.CALENDAR_FEATURES.items():
        value = to_dense(cast(inputs[key], tf.int64), -1) - first
        in_range = tf.logical_and(value >= 0, value < count)
        out[F.transformed_name(key)] = tf.where(
            in_range, value, tf.constant(count, tf.int64))
    for key in F.QUANTILE_FEATURES:
        buckets = tft.bucketize(cast(inputs[key], tf.float32), F.QUANTILE_BUCKETS)
        out[F.transformed_name(key)] = to_dense(
            cast(buckets, tf.int64), tf.constant(F.QUANTILE_BUCKETS, tf.int64))
    for key in F.VOCAB_FEATURES:
        strings = to_dense(_as_strings(inputs[key]), F.MISSING_TOKEN)
        out[F.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            strings, top_k=F.VOCAB_TOP_K, num_oov_buckets=F.VOCAB_OOV_BUCKETS,
            vocab_filename=key)
    if F.TIPS_KEY in inputs:
        fare = to_dense(cast(inputs[F.FARE_KEY], tf.float32), float("nan"))
        tips = to_dense(cast(inputs[F.TIPS_KEY], tf.float32), 0.0)
        big = tf.logical_and(tf.logical_not(tf.math.is_nan(fare)),
                             tips > F.BIG_TIPPER_FRACTION * fare)
        out[F.TRANSFORMED_LABEL] = tf.cast(big, tf.int64)
    return out


def _label(inputs: Dict[str, Tensor], out: Dict[str, tf.Tensor]) -> None:
    if F.LABEL_KEY in inputs:
        out[F.TRANSFORMED_LABEL] = to_dense(cast(inputs[F.LABEL_KEY], tf.int64), -1)


def image_preprocessing_fn(inputs: Dict[str, Tensor]) -> Dict[str, tf.Tensor]:
    """28x28 greyscale images -> float32 ``[N, 28, 28, 1]`` in [0, 1].

    Input ``image``: int64 ``[N, 784]`` pixel values 0..255 (row-major).
    ``label`` (int64 ``[N]`` or ``[N, 1]``) becomes ``label_xf`` int64 ``[N]``.
    """
    pixels = inputs[F.IMAGE_KEY]
    if isinstance(pixels, tf.SparseTensor):
        pixels = tf.sparse.to_dense(pixels)
    image = tf.reshape(tf.cast(pixels, tf.float32) / 255.0, (-1,) + F.IMAGE_SHAPE)
    out = {F.transformed_name(F.IMAGE_KEY): image}
    _label(inputs, out)
    return out


def normalize_text(text: tf.Tensor) -> tf.Tensor:
    """Lowercases, drops apostrophes, replaces each other non-alphanumeric run with a space.

    Args:
      text: string tensor of any shape, UTF-8.
    Returns:
      string tensor of the same shape.
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, "'", "")
    return tf.strings.regex_replace(text, r"[^\pL\pN]+", " ")


def text_preprocessing_fn(inputs: Dict[str, Tensor],
                          max_tokens: int = F.MAX_TOKENS,
                          top_k: int = F.TEXT_VOCAB_TOP_K) -> Dict[str, tf.Tensor]:
    """Review snippets -> token ids int64 ``[N, max_tokens]``.

    Lowercase, strip punctuation, split on whitespace, map through
    ``tft.compute_and_apply_vocabulary`` (``top_k`` most frequent tokens of the
    train split, ``TEXT_OOV_BUCKETS`` OOV bucket). Ids are shifted by one so
    that 0 is padding: vocabulary rank r -> r + 1, OOV -> ``top_k + 1`` (or
    vocabulary size + 1 when smaller). Longer texts are truncated to the first
    ``max_tokens`` tokens; empty texts become all padding.
    """
    text = to_dense(inputs[F.TEXT_KEY], b"")
    tokens = tf.strings.split(normalize_text(text)).to_sparse()
    ids = tft.compute_and_apply_vocabulary(
        tokens, top_k=top_k, num_oov_buckets=F.TEXT_OOV_BUCKETS,
        vocab_filename=F.TOKENS_KEY)
    ids = tf.SparseTensor(ids.indices, ids.values + 1, ids.dense_shape)
    dense = tf.sparse.to_dense(ids, default_value=0)[:, :max_tokens]
    dense = tf.pad(dense, [[0, 0], [0, max_tokens - tf.shape(dense)[1]]])
    out = {F.transformed_name(F.TOKENS_KEY): tf.reshape(dense, [-1, max_tokens])}
    _label(inputs, out)
    return out


PREPROCESSING_FNS = {
    TABULAR: tabular_preprocessing_fn,
    IMAGE: image_preprocessing_fn,
    TEXT: text_preprocessing_fn,
}


def preprocessing_fn(inputs: Dict[str, Tensor],
                     custom_config: Optional[Dict[str, Any]] = None):
    """Dispatches on ``custom_config['modality']`` (default tabular).

    Raises:
      ValueError: unknown modality.
    """
    custom_config = custom_config or {}
    modality = custom_config.get("modality", TABULAR)
    if modality not in PREPROCESSING_FNS:
        raise ValueError(f"unknown modality {modality!r}; expected one of: "
                         f"{', '.join(PREPROCESSING_FNS)}")
    if modality == TEXT:
        return text_preprocessing_fn(
            inputs, custom_config.get("max_tokens", F.MAX_TOKENS),
            custom_config.get("vocab_top_k", F.TEXT_VOCAB_TOP_K))
    return PREPROCESSING_FNS[modality](inputs)
