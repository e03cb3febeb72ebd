"""The image and text ``preprocessing_fn``s, run by tf.Transform's Beam
implementation on real Fashion-MNIST images and Rotten Tomatoes snippets."""
from __future__ import annotations

import bz2
import collections
import csv
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from tfxp.components.tfds_builders import fashion_mnist as fm
from tfxp.components.tfds_builders import rotten_tomatoes as rt
from tfxp.core import features as F
from tfxp.models import preprocessing

MAX_TOKENS, TOP_K = 16, 60


def _analyze_and_transform(preprocessing_fn, rows, feature_spec, temp_dir, extra_rows=None):
    """Runs TFT on ``rows``; returns (transformed rows, TFTransformOutput) and,
    with ``extra_rows``, those transformed by the same transform_fn too."""
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(feature_spec)
    out_dir = os.path.join(temp_dir, "transform_output")
    with tft_beam.Context(temp_dir=os.path.join(temp_dir, "tmp"), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (
            (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        extra = None
        if extra_rows is not None:
            extra, _ = ((extra_rows, metadata), transform_fn) | tft_beam.TransformDataset()
    return transformed, tft.TFTransformOutput(out_dir), extra


def test_image_pixels_are_scaled_to_unit_float_28x28x1(data_dir, tmp_path):
    images = fm.read_idx(os.path.join(data_dir, "fashion_mnist", fm.FILES["test"][0]))[:16]
    labels = fm.read_idx(os.path.join(data_dir, "fashion_mnist", fm.FILES["test"][1]))[:16]
    rows = [{"image": img.reshape(-1).astype(np.int64).tolist(), "label": int(lbl)}
            for img, lbl in zip(images, labels)]
    spec = {"image": tf.io.FixedLenFeature([784], tf.int64),
            "label": tf.io.FixedLenFeature([], tf.int64)}
    transformed, tft_output, _ = _analyze_and_transform(
        lambda inputs: preprocessing.preprocessing_fn(inputs, {"modality": "image"}),
        rows, spec, str(tmp_path))
    assert len(transformed) == 16
    for row, img, lbl in zip(transformed, images, labels):
        image = np.asarray(row["image_xf"])
        assert image.dtype == np.float32 and image.shape == F.IMAGE_SHAPE
        np.testing.assert_allclose(image[:, :, 0], img / 255.0, rtol=1e-6)
        assert row["label_xf"] == lbl
    assert max(float(np.max(r["image_xf"])) for r in transformed) == 1.0  # a 255 pixel
    out_spec = tft_output.transformed_feature_spec()
    assert out_spec["image_xf"] == tf.io.FixedLenFeature(list(F.IMAGE_SHAPE), tf.float32)


def _tokens(text: str):
    """Python restatement of ``normalize_text`` + whitespace split."""
    text = text.lower().replace("'", "")
    return re.sub(r"[\W_]+", " ", text).split()


@pytest.fixture(scope="module")
def snippets(data_dir):
    path = os.path.join(data_dir, "rotten_tomatoes", rt.FILENAME)
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] != "plot"][:40]
    return [(r["text"], {"fresh": 1, "rotten": 0}[r["category"]]) for r in rows]


def test_text_tokens_map_to_vocabulary_ids_padded_and_truncated(snippets, tmp_path):
    rows = [{"text": text.encode("utf-8"), "label": label} for text, label in snippets]
    long_text = " ".join([snippets[0][0]] * 1500)  # > 50,000 characters
    assert len(long_text) > 50_000
    extra = [{"text": b"", "label": 0},
             {"text": long_text.encode("utf-8"), "label": 1},
             {"text": "THE Film -- zzqxunknownword!".encode("utf-8"), "label": 0}]
    spec = {"text": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64)}
    config = {"modality": "text", "max_tokens": MAX_TOKENS, "vocab_top_k": TOP_K}
    transformed, tft_output, extra_out = _analyze_and_transform(
        lambda inputs: preprocessing.preprocessing_fn(inputs, config),
        rows, spec, str(tmp_path), extra_rows=extra)

    vocab = [t.decode() if isinstance(t, bytes) else t
             for t in tft_output.vocabulary_by_name(F.TOKENS_KEY)]
    counts = collections.Counter(tok for text, _ in snippets for tok in _tokens(text))
    # The TOP_K most frequent tokens of the analysed data, most frequent first.
    assert len(vocab) == TOP_K
    assert [counts[t] for t in vocab] == sorted(counts.values(), reverse=True)[:TOP_K]
    assert vocab[0] == counts.most_common(1)[0][0]
    oov = len(vocab) + 1

    def expected(text):
        ids = [vocab.index(t) + 1 if t in vocab else oov for t in _tokens(text)]
        return (ids + [0] * MAX_TOKENS)[:MAX_TOKENS]

    for row, (text, label) in zip(transformed, snippets):
        assert np.asarray(row["tokens_xf"]).dtype == np.int64
        assert list(row["tokens_xf"]) == expected(text), text
        assert row["label_xf"] == label
    empty, long_row, shouting = extra_out
    assert list(empty["tokens_xf"]) == [0] * MAX_TOKENS
    assert list(long_row["tokens_xf"]) == expected(long_text)  # first MAX_TOKENS tokens
    # Case folded, punctuation dropped, unknown word -> the OOV id.
    assert "the" in vocab and list(shouting["tokens_xf"])[0] == vocab.index("the") + 1
    assert list(shouting["tokens_xf"])[2] == oov and list(shouting["tokens_xf"])[3:] == [0] * 13
    assert tft_output.transformed_feature_spec()["tokens_xf"] == tf.io.FixedLenFeature(
        [MAX_TOKENS], tf.int64)
