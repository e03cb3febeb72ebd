"""End to end per modality: the real pipeline (TFDS ExampleGen ... Pusher,
LocalDagRunner) with few steps for an image family (CNN on Fashion-MNIST) and
a text family (LSTM on Rotten Tomatoes); the pushed model's raw-input and
``tf.Example`` signatures must agree on the same real inputs."""
from __future__ import annotations

import bz2
import csv
import os

import numpy as np
import pytest
import tensorflow as tf

from tfxp.components.tfds_builders import fashion_mnist as fm
from tfxp.components.tfds_builders import rotten_tomatoes as rt
from tfxp.core.datasets import FASHION_MNIST_LABELS


def _pushed(run):
    config, summary = run
    assert summary.ok, summary
    assert summary.blessed is True, summary.metrics
    assert summary.pushed_path and os.path.isfile(
        os.path.join(summary.pushed_path, "saved_model.pb"))
    return config, summary, tf.saved_model.load(summary.pushed_path)


def _int_example(**features) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
        for k, v in features.items()})).SerializeToString()


def _text_example(text: str) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "text": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[text.encode("utf-8")]))})).SerializeToString()


def _assert_same_outputs(a, b):
    np.testing.assert_allclose(a["scores"].numpy(), b["scores"].numpy(), rtol=1e-5, atol=1e-6)
    for key in ("class_ids", "top_class", "classes"):
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_image_pipeline_pushes_cnn_whose_raw_and_example_signatures_agree(image_run, data_dir):
    config, summary, served = _pushed(image_run)
    assert {c.component for c in summary.components} >= {"TfdsExampleGen", "Transform",
                                                           "Trainer", "Evaluator", "Pusher"}
    metrics = summary.metrics["Overall"]
    assert metrics["example_count"] == 500
    # Blessed on accuracy: above the family's floor, far above a one-class model's 0.1.
    assert metrics["sparse_categorical_accuracy"] >= config.resolved_threshold > 0.1

    images = fm.read_idx(os.path.join(data_dir, "fashion_mnist", fm.FILES["test"][0]))[-12:]
    labels = fm.read_idx(os.path.join(data_dir, "fashion_mnist", fm.FILES["test"][1]))[-12:]
    examples = tf.constant([_int_example(image=img.reshape(-1).tolist()) for img in images])
    by_example = served.signatures["predict"](inputs=examples)
    pixels = tf.constant(images, tf.float32)
    by_raw = served.signatures["serving_raw"](images=pixels)
    _assert_same_outputs(by_example, by_raw)
    _assert_same_outputs(by_example, served.signatures["serving_raw"](images=pixels[..., None]))
    assert by_example["scores"].shape == (12, 10)
    assert [c.decode() for c in by_example["classes"].numpy()[0]] == list(FASHION_MNIST_LABELS)
    assert (by_example["class_ids"].numpy() == labels).mean() > 0.3  # chance is 0.1
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"images: expected shape \[N, 28, 28\] or \[N, 28, 28, 1\], "
                             r"got \[2 32 32\]"):
        served.signatures["serving_raw"](images=tf.zeros([2, 32, 32], tf.float32))


def test_text_pipeline_pushes_lstm_whose_raw_and_example_signatures_agree(text_run, data_dir):
    config, summary, served = _pushed(text_run)
    metrics = summary.metrics["Overall"]
    # Blessed on AUC: above the family's floor, above a one-class model's 0.5.
    assert metrics["auc"] >= config.resolved_threshold > 0.5
    assert metrics["example_count"] > 2000  # the held-out movies' snippets

    with bz2.open(os.path.join(data_dir, "rotten_tomatoes", rt.FILENAME), "rt",
                  encoding="utf-8", newline="") as f:
        held_out = [r["text"] for r in csv.DictReader(f)
                    if r["category"] != "plot" and rt.movie_split(r["movie_name"]) == "test"]
    texts = held_out[:10] + ["", "x" * 50_000, " ".join(held_out[:500])[:50_000]]
    by_example = served.signatures["predict"](
        inputs=tf.constant([_text_example(t) for t in texts]))
    by_raw = served.signatures["serving_raw"](text=tf.constant(texts))
    _assert_same_outputs(by_example, by_raw)
    scores = by_example["scores"].numpy()
    assert scores.shape == (len(texts), 2) and np.isfinite(scores).all()
    np.testing.assert_allclose(by_example["probability"].numpy(), scores[:, 1], rtol=1e-6)
    assert [c.decode() for c in by_example["classes"].numpy()[0]] == ["rotten", "fresh"]
