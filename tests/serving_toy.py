"""A small real SavedModel with one signature of each TF Serving kind.

Saving takes about a second, so the serving tests that don't need the
trained pipeline model (policies, labels, batching, Regress, MultiInference,
errors of example-based RPCs) use it. Signatures:

- ``serving_default`` (predict): ``x`` float32 [N, 3], ``tag`` string [N] ->
  ``y`` float32 [N] = scale * sum(x), ``tag_bytes`` string [N] (the tag back,
  binary-safe in REST), ``tag_len`` int32 [N].
- ``classification`` (classify): ``inputs`` serialized tf.Example [N] with
  feature ``x`` (3 floats) -> ``classes`` string [N, 3] ("a", "b", "c"),
  ``scores`` float32 [N, 3] = softmax(scale * x) (+ uniform noise if ``noisy``).
- ``regression`` (regress): ``inputs`` as above -> ``outputs`` float32 [N] =
  scale * sum(x).

``example_default=True`` makes ``serving_default`` the classification
function with the classify method (the project's convention, as in
``models.export``), and ``methods=False`` leaves every method name
``predict``.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

CLASSES = ("a", "b", "c")
METHODS = {"classification": "tensorflow/serving/classify",
           "regression": "tensorflow/serving/regress"}


class _Toy(tf.Module):
    def __init__(self, scale: float, noisy: bool):
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)
        self.noisy = noisy

    def features(self, inputs):
        return tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([3], tf.float32)})["x"]


def write_toy_model(export_dir: str, scale: float = 2.0, noisy: bool = False,
                    example_default: bool = False, methods: bool = True,
                    busy_matmuls: int = 0) -> str:
    """Saves the toy SavedModel to ``export_dir``; returns it.

    ``busy_matmuls`` > 0 makes ``classification`` (and an example
    ``serving_default``) slow on purpose: that many 256x256 matmuls per
    call, outputs unchanged (a candidate the latency gate must block).
    """
    toy = _Toy(scale, noisy)
    if busy_matmuls:
        toy.busy = tf.Variable(tf.eye(256) * 0.5)

    def busy_zero():
        if not busy_matmuls:
            return tf.constant(0.0)
        m = tf.while_loop(lambda i, m: i < busy_matmuls,
                          lambda i, m: (i + 1, tf.linalg.matmul(m, toy.busy)),
                          (tf.constant(0), tf.identity(toy.busy)))[1]
        return tf.reduce_sum(m) * 0.0

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                  tf.TensorSpec([None], tf.string, name="tag")])
    def predict(x, tag):
        return {"y": tf.reduce_sum(x, axis=1) * toy.scale, "tag_bytes": tag,
                "tag_len": tf.strings.length(tag)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        x = toy.features(inputs)
        scores = tf.nn.softmax(x * toy.scale) + busy_zero()
        if toy.noisy:
            scores = scores + tf.random.uniform(tf.shape(scores), 0.0, 0.1)
        return {"classes": tf.tile(tf.constant([CLASSES]), [tf.shape(x)[0], 1]),
                "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        return {"outputs": tf.reduce_sum(toy.features(inputs), axis=1) * toy.scale}

    tf.saved_model.save(toy, export_dir, signatures={
        "serving_default": (classify if example_default else predict).get_concrete_function(),
        "classification": classify.get_concrete_function(),
        "regression": regress.get_concrete_function()})
    if methods:
        set_methods(export_dir, {**METHODS, **({"serving_default": METHODS["classification"]}
                                               if example_default else {})})
    return export_dir


def set_methods(export_dir: str, methods) -> None:
    """Rewrites signature method names (``tf.saved_model.save`` writes predict)
    and the fingerprint that covers saved_model.pb."""
    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            meta_graph.signature_def[name].method_name = method
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())
    with open(os.path.join(export_dir, "fingerprint.pb"), "wb") as f:
        f.write(fingerprinting.CreateFingerprintDef(export_dir))


def toy_examples(x: np.ndarray) -> Sequence[bytes]:
    """Serialized tf.Examples with feature ``x`` (3 floats per row of ``x``)."""
    return [tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=row))})).SerializeToString()
        for row in np.asarray(x, np.float32)]
