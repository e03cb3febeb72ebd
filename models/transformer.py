"""Transformer family: token + position embedding -> encoder blocks -> pooling.

Two builders: by default (``pretrained_encoder`` set) a pre-trained encoder
fine-tuned with a new head (``build_pretrained``, weights from
``models.pretrained_encoder``); with ``pretrained_encoder`` null, a small
encoder trained from random or GloVe embeddings (``build_model``'s own path).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

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


@keras.saving.register_keras_serializable(package="tfxp")
class WordPieceIds(keras.layers.Layer):
    """Transform's word ids -> a pre-trained encoder's input ids.

    int64 ``[N, L]`` word ids (0 padding; the rows of
    ``models.pretrained_encoder.piece_table``) -> int32 ``[N, max_pieces]``:
    ``[CLS]``, the words' pieces in order (cut to ``max_pieces - 2``),
    ``[SEP]``, then 0 (``[PAD]``). An empty text is ``[CLS] [SEP]``.

    The table is a constant of the graph, computed from the two
    vocabularies when the model is built; ``get_config`` leaves it out
    (~600 KB as JSON), so such a model is rebuilt with ``build_model``, not
    ``from_config``. Core TensorFlow ops only (gather, ragged boolean mask,
    ``RaggedTensorToTensor``), all in TF Serving's binary.
    """

    def __init__(self, table=None, max_pieces: int = 64, cls_id: int = 101,
                 sep_id: int = 102, **kwargs):
        super().__init__(**kwargs)
        self.table = None if table is None else tf.constant(table, tf.int32)
        self.max_pieces, self.cls_id, self.sep_id = max_pieces, cls_id, sep_id

    def call(self, word_ids):
        pieces = tf.gather(self.table, tf.cast(word_ids, tf.int32))   # [N, L, P]
        flat = tf.reshape(pieces, [tf.shape(pieces)[0], -1])
        ragged = tf.ragged.boolean_mask(flat, flat > 0)[:, :self.max_pieces - 2]
        rows = ragged.nrows()
        ragged = tf.concat([tf.fill([rows, 1], self.cls_id), ragged,
                            tf.fill([rows, 1], self.sep_id)], axis=1)
        return ragged.to_tensor(0, shape=[None, self.max_pieces])

    def get_config(self):
        return {**super().get_config(), "max_pieces": self.max_pieces,
                "cls_id": self.cls_id, "sep_id": self.sep_id}


def encoder_block(x, attention_mask, dim: int, num_heads: int, ff_dim: int,
                  dropout: float, activation: str = "relu", epsilon: float = 1e-6,
                  name: Optional[str] = None):
    """Post-norm Transformer encoder block (Vaswani et al. 2017).

    ``x = LayerNorm(x + Dropout(MHA(x, x, attention_mask)))``, then
    ``x = LayerNorm(x + Dropout(FFN(x)))``, FFN = Dense(ff_dim, activation) ->
    Dense(dim). BERT's layer (Devlin et al. 2019) is the same block with GELU
    and epsilon 1e-12 (``models.pretrained_encoder``).

    Built from stock Keras layers rather than a ``Layer`` subclass, for the
    reason given in ``PositionEmbedding`` (about a minute per build here).

    Args:
      x: float32 ``[N, L, dim]``.
      attention_mask: bool ``[N, 1, L]``, True where a key is a real token, so
        padding is never attended to.
      activation: the FFN's hidden activation (a Keras name: ``relu``, ``gelu``).
      epsilon: the layer norms' epsilon.
      name: optional prefix of the five weighted layers' names
        (``<name>_attention``, ``_attention_norm``, ``_intermediate``,
        ``_output``, ``_output_norm``), for loading weights by name.
    Returns:
      float32 ``[N, L, dim]``.
    """
    def named(part: str) -> Optional[str]:
        return f"{name}_{part}" if name else None

    attended = keras.layers.MultiHeadAttention(
        num_heads, key_dim=dim // num_heads, dropout=dropout, name=named("attention"))(
            x, x, attention_mask=attention_mask)
    x = keras.layers.LayerNormalization(epsilon=epsilon, name=named("attention_norm"))(
        keras.layers.Add()([x, keras.layers.Dropout(dropout)(attended)]))
    ffn = keras.layers.Dense(ff_dim, activation=activation, name=named("intermediate"))(x)
    ffn = keras.layers.Dense(dim, name=named("output"))(ffn)
    return keras.layers.LayerNormalization(epsilon=epsilon, name=named("output_norm"))(
        keras.layers.Add()([x, keras.layers.Dropout(dropout)(ffn)]))


def build_model(hparams: Dict[str, Any]) -> keras.Model:
    """Builds a Transformer-encoder text classifier.

    Token + position embedding -> ``num_blocks`` encoder blocks (multi-head
    self-attention with a padding mask, feed-forward, residual + layer norm)
    -> mean pooling over real tokens -> Dropout -> Dense softmax. With
    ``pretrained_encoder`` set (the default), ``build_pretrained`` builds
    the model instead, from its hparams.

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
    if hparams.get("pretrained_encoder"):
        return build_pretrained(hparams)
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


def build_pretrained(hparams: Dict[str, Any]) -> keras.Model:
    """A pre-trained BERT-architecture encoder with a softmax head, its weights
    not yet loaded (``models.pretrained_encoder.initialize_encoder`` does).

    Transform's word ids -> ``WordPieceIds`` -> WordPiece embedding + position
    embedding (token type 0 folded in) -> LayerNorm -> the encoder's layers
    (``encoder_block``, GELU, epsilon 1e-12; Devlin et al. 2019) -> mean over
    real pieces -> Dropout -> Dense softmax.

    Args:
      hparams:
        pretrained_encoder: a key of ``models.pretrained_encoder.ENCODERS``.
        encoder_dir: its converted folder (``vocab.txt`` is read here).
        word_vocabulary: Transform's token vocabulary file
          (``tft_output.vocabulary_file_by_name('tokens')``).
        input_name, max_tokens: the input (``'tokens_xf'``, L words).
        max_pieces: the encoder's sequence length, ``[CLS]`` and ``[SEP]``
          included.
        dropout: BERT's dropout (attention probabilities, after the
          embeddings and each sublayer) and before the head.
        num_classes, learning_rate, lr_schedule, weight_decay: the head's and
          the optimizer's, ``models.common.classifier``.
    Returns:
      A compiled ``tf_keras.Model``: int64 ``[N, L]`` word ids (0 = padding)
      -> float32 ``[N, num_classes]`` class probabilities (softmax).
    Raises:
      ValueError: ``encoder_dir`` or ``word_vocabulary`` missing, or
        ``max_pieces`` outside 3..the encoder's positions.
    """
    from tfxp.models import pretrained_encoder as pe

    spec = pe.ENCODERS[hparams["pretrained_encoder"]]
    for key in ("encoder_dir", "word_vocabulary"):
        if not hparams.get(key):
            raise ValueError(f"hparams[{key!r}] is needed to build pretrained_encoder "
                             f"{spec.name!r} (the Trainer sets it)")
    max_pieces = int(hparams["max_pieces"])
    if not 3 <= max_pieces <= spec.max_positions:
        raise ValueError(f"hparams['max_pieces'] must be in 3..{spec.max_positions}, got "
                         f"{max_pieces}")
    vocab = pe.read_vocab(hparams["encoder_dir"])
    words = pe.read_lines(hparams["word_vocabulary"])
    dropout = float(hparams.get("dropout", 0.0))
    tokens = keras.Input(shape=(hparams["max_tokens"],), name=hparams["input_name"],
                         dtype="int64")
    ids = WordPieceIds(pe.piece_table(words, vocab), max_pieces, vocab.index(pe.CLS),
                       vocab.index(pe.SEP), name="word_pieces")(tokens)   # int32 [N, P]
    mask = tf.not_equal(ids, 0)                                            # bool [N, P]
    x = keras.layers.Embedding(spec.vocab_size, spec.hidden,
                               name="encoder_word_embeddings")(ids)
    x = PositionEmbedding(max_pieces, name="encoder_position_embeddings")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="encoder_embeddings_norm")(x)
    x = keras.layers.Dropout(dropout)(x)
    attention_mask = mask[:, tf.newaxis, :]
    for i in range(spec.num_layers):
        x = encoder_block(x, attention_mask, spec.hidden, spec.num_heads, spec.ff_dim,
                          dropout, activation="gelu", epsilon=1e-12,
                          name=f"encoder_layer{i}")
    x = MaskedMeanPooling()(x, mask)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return classifier(tokens, x, hparams, "transformer")
