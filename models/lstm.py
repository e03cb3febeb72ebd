"""LSTM family: embedding -> bidirectional LSTM -> dense, for token ids."""
from __future__ import annotations

from typing import Any, Dict

import tf_keras as keras

from tfxp.models.common import classifier


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds a bidirectional LSTM text classifier.

    Embedding (``mask_zero=True``, so padding id 0 is skipped by the LSTM) ->
    Bidirectional LSTM (input dropout ``dropout``; no recurrent dropout, which
    would rule out the cuDNN kernel on GPU) -> Dropout -> Dense softmax.
    An all-padding row (empty text) yields the LSTM's zero initial state.

    Args:
      hparams:
        input_name: name of the single input (``'tokens_xf'``).
        vocab_size: number of ids, padding (0) and OOV ids included.
        max_tokens: sequence length L.
        embedding_dim: width of the token embedding.
        lstm_units: units of each LSTM direction.
        dropout: dropout rate on the LSTM inputs and before the head.
        num_classes, learning_rate, steps_per_execution: the head's, see
          ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model``: int64 ``[N, L]`` token ids (0 = padding)
      -> float32 ``[N, num_classes]`` class probabilities (softmax).
    """
    dropout = float(hparams.get("dropout", 0.0))
    tokens = keras.Input(shape=(hparams["max_tokens"],), name=hparams["input_name"],
                         dtype="int64")
    x = keras.layers.Embedding(hparams["vocab_size"], hparams["embedding_dim"],
                               mask_zero=True)(tokens)
    x = keras.layers.Bidirectional(
        keras.layers.LSTM(hparams["lstm_units"], dropout=dropout))(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return classifier(tokens, x, hparams, "lstm")
