"""A TF1-style SavedModel like TF Serving's test model ``saved_model_half_plus_three``.

Built here with ``tf.compat.v1`` (TF Serving's testdata is not copied): a
graph ``y = 0.5 * x + 3`` whose ``x`` is parsed from serialized
``tf.Example``s (feature ``x``, one float) fed to the placeholder
``tf_example`` (string, unknown shape), saved by ``SavedModelBuilder`` with
these signatures, as half_plus_three has them:

- ``serving_default`` (predict): ``x`` (the parsed tensor ``x:0``) -> ``y``;
- ``tensorflow/serving/regress`` (regress): ``inputs`` = ``tf_example:0`` ->
  ``outputs`` = ``y``, shape [N, 1];
- ``tensorflow/serving/classify`` (classify): ``inputs`` = ``tf_example:0``
  -> ``scores`` = ``y``.

As TF 1.0's exporter wrote them, the signatures record no tensor shapes
(``TensorInfo.tensor_shape`` unset). ``tf.saved_model.load`` then fails on it
("Shapes must be equal rank, but are 2 and 0"), while TF Serving, which
feeds the graph through a Session, serves it: g3doc/api_rest.md's REST
examples run on this model.
"""
from __future__ import annotations

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

PREDICT, REGRESS, CLASSIFY = ("serving_default", "tensorflow/serving/regress",
                              "tensorflow/serving/classify")


def half_plus_three(x):
    """What the model computes, for expected values."""
    return [0.5 * v + 3.0 for v in x]


def write_half_plus_three(export_dir: str) -> str:
    """Saves the model to ``export_dir`` (which must not exist); returns it."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.Variable(0.5, name="a", use_resource=False)
        b = tf.compat.v1.Variable(3.0, name="b", use_resource=False)
        serialized = tf.compat.v1.placeholder(tf.string, name="tf_example")
        # The TF1 ParseExample op (what TF 1.0 wrote): a batch of examples in,
        # dense x [N, 1] out.
        parsed = tf.raw_ops.ParseExample(
            serialized=serialized, names=tf.constant([], tf.string), sparse_keys=[],
            dense_keys=[tf.constant("x")], dense_defaults=[tf.constant([], tf.float32)],
            sparse_types=[], dense_shapes=[[1]])
        x = tf.identity(parsed.dense_values[0], name="x")
        y = tf.add(tf.multiply(a, x), b, name="y")
        signatures = tf.compat.v1.saved_model.signature_def_utils
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(export_dir)
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
                PREDICT: signatures.predict_signature_def({"x": x}, {"y": y}),
                REGRESS: signatures.regression_signature_def(serialized, y),
                CLASSIFY: signatures.classification_signature_def(serialized, None, y)})
            builder.save()
    _drop_recorded_shapes(export_dir)
    return export_dir


def _drop_recorded_shapes(export_dir: str) -> None:
    """Unsets every signature TensorInfo's shape, as TF 1.0's exporter left it."""
    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for signature in meta_graph.signature_def.values():
            for info in [*signature.inputs.values(), *signature.outputs.values()]:
                info.ClearField("tensor_shape")
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())
