"""Small SavedModels that stand in for the models TF Serving's unit tests use.

Written with tf.Module + tf.function (TF2) in a temporary folder; each
behaves as the TF Serving test's model or fake session does:

- ``write_half_plus_two``: half_plus_two (servables/tensorflow/testdata/
  saved_model_half_plus_two.py): y = 0.5 x + 2 (``serving_default``, input
  ``x``, output ``y``), ``regress_x_to_y`` / ``regress_x_to_y2`` /
  ``classify_x_to_y`` on serialized tf.Examples with feature ``x`` (y2 =
  0.5 x + 3), ``regress_x2_to_y3`` / ``classify_x2_to_y3`` on a float input
  ``inputs`` (y3 = 0.5 x2 + 3). TF Serving's half_plus_two is a TF1 graph run
  by a session, which does not check the shape of what is fed; so ``x`` and
  ``inputs`` here have an unknown shape, and any float tensor goes in.
  ``method_signatures=True`` adds ``method_unsupported`` and
  ``method_empty`` (predict_util_test MethodNameCheck).
- ``write_tf1_half_plus_two``: the same first five signatures built as a TF1
  graph with ``tf.compat.v1`` (SavedModelBuilder), whose example input has no
  shape at all (unknown rank), as in TF Serving's test data.
- ``write_counter``: saved_model_counter: ``get_counter``, ``incr_counter``,
  ``reset_counter``, ``incr_counter_by(delta)``, each answering ``output``.
- ``write_classifier``: classifier_test.cc's FakeSession (classes = the
  ``class`` bytes feature, scores = the ``score`` float feature of each
  example) with its named signatures, and one signature per MockSession case
  (fixed tensors, or a failing run).
- ``write_regressor``: regressor_test.cc's FakeSession (outputs = the
  ``output`` float feature) and its MockSession cases.
- ``write_no_signatures``: a SavedModel without SignatureDefs
  (predict_util_test ModelMissingSignatures).
"""
from __future__ import annotations

import os

import tensorflow as tf

from tests.serving_toy import set_methods

PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
UNSUPPORTED_METHOD = "not/supported/method"

_EXAMPLES = tf.TensorSpec([None], tf.string, name="inputs")


def _feature_x(serialized, key="x"):
    spec = {"x": tf.io.FixedLenFeature([1], tf.float32),
            "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
    return tf.io.parse_example(serialized, spec)[key]


class _HalfPlusTwo(tf.Module):
    def __init__(self):
        super().__init__()
        self.a = tf.Variable(0.5, name="a")
        self.b = tf.Variable(2.0, name="b")
        self.c = tf.Variable(3.0, name="c")


def write_half_plus_two(export_dir: str, method_signatures: bool = False) -> str:
    """half_plus_two as a TF2 SavedModel in ``export_dir``; returns it."""
    m = _HalfPlusTwo()

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
    def predict(x):
        return {"y": m.a * x + m.b}

    @tf.function(input_signature=[_EXAMPLES])
    def regress_xy(inputs):
        return {"outputs": m.a * _feature_x(inputs) + m.b}

    @tf.function(input_signature=[_EXAMPLES])
    def regress_xy2(inputs):
        return {"outputs": m.a * _feature_x(inputs) + m.c}

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="inputs")])
    def regress_x2y3(inputs):
        return {"outputs": m.a * inputs + m.c}

    @tf.function(input_signature=[_EXAMPLES])
    def classify_xy(inputs):
        return {"scores": m.a * _feature_x(inputs) + m.b}

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="inputs")])
    def classify_x2y3(inputs):
        return {"scores": m.a * inputs + m.c}

    signatures = {"serving_default": predict, "regress_x_to_y": regress_xy,
                  "regress_x_to_y2": regress_xy2, "regress_x2_to_y3": regress_x2y3,
                  "classify_x_to_y": classify_xy, "classify_x2_to_y3": classify_x2y3}
    methods = {"regress_x_to_y": REGRESS, "regress_x_to_y2": REGRESS,
               "regress_x2_to_y3": REGRESS, "classify_x_to_y": CLASSIFY,
               "classify_x2_to_y3": CLASSIFY}
    if method_signatures:
        signatures.update(method_unsupported=predict, method_empty=predict)
        methods.update(method_unsupported=UNSUPPORTED_METHOD, method_empty="")
    tf.saved_model.save(m, export_dir, signatures={
        k: f.get_concrete_function() for k, f in signatures.items()})
    set_methods(export_dir, methods)
    return export_dir


def write_tf1_half_plus_two(export_dir: str) -> str:
    """half_plus_two as TF Serving's test data has it: a TF1 graph
    (``tf.compat.v1`` SavedModelBuilder) whose example input has no shape."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        a, b, c = (v1.Variable(v, name=n) for v, n in ((0.5, "a"), (2.0, "b"), (3.0, "c")))
        examples = v1.placeholder(tf.string, name="tf_example")
        parsed = v1.parse_example(examples, {
            "x": v1.FixedLenFeature([1], tf.float32),
            "x2": v1.FixedLenFeature([1], tf.float32, default_value=[0.0])})
        x = tf.identity(parsed["x"], name="x")
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(parsed["x2"], name="x2")
        y3 = tf.identity(a * x2 + c, name="y3")
        session.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        build = v1.saved_model.signature_def_utils.build_signature_def
        examples_info = info(examples)
        examples_info.tensor_shape.Clear()  # no shape, as in TF Serving's half_plus_two
        examples_info.tensor_shape.unknown_rank = True
        builder = v1.saved_model.builder.SavedModelBuilder(export_dir)
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": build({"x": info(x)}, {"y": info(y)}, PREDICT),
            "regress_x_to_y": build({"inputs": examples_info}, {"outputs": info(y)}, REGRESS),
            "regress_x_to_y2": build({"inputs": examples_info}, {"outputs": info(y2)},
                                     REGRESS),
            "regress_x2_to_y3": build({"inputs": info(x2)}, {"outputs": info(y3)}, REGRESS),
            "classify_x_to_y": build({"inputs": examples_info}, {"scores": info(y)},
                                     CLASSIFY)})
        builder.save()
    return export_dir


def write_counter(export_dir: str) -> str:
    """saved_model_counter: a float counter behind four signatures."""
    m = tf.Module()
    m.counter = tf.Variable(0.0, name="counter")

    @tf.function(input_signature=[])
    def get_counter():
        return {"output": m.counter.read_value()}

    @tf.function(input_signature=[])
    def incr_counter():
        return {"output": m.counter.assign_add(1.0)}

    @tf.function(input_signature=[])
    def reset_counter():
        return {"output": m.counter.assign(0.0)}

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="delta")])
    def incr_counter_by(delta):
        return {"output": m.counter.assign_add(delta)}

    tf.saved_model.save(m, export_dir, signatures={
        "get_counter": get_counter.get_concrete_function(),
        "incr_counter": incr_counter.get_concrete_function(),
        "reset_counter": reset_counter.get_concrete_function(),
        "incr_counter_by": incr_counter_by.get_concrete_function()})
    return export_dir


def _fail(inputs):
    """A run that fails (MockSession returning 'Run totally failed')."""
    return tf.debugging.assert_equal(tf.size(inputs), -1, message="Run totally failed")


def _empty_signature():
    """The nearest a tf.function comes to TF Serving's empty SignatureDef: no
    inputs (a SavedModel signature needs an output)."""
    @tf.function(input_signature=[])
    def empty():
        return {"output": tf.constant(0.0)}
    return empty


def write_classifier(export_dir: str) -> str:
    """classifier_test.cc's fake session and mock sessions as signatures."""
    m = tf.Module()

    def class_scores(inputs):
        parsed = tf.io.parse_example(inputs, {"class": tf.io.VarLenFeature(tf.string),
                                              "score": tf.io.VarLenFeature(tf.float32)})
        return (tf.sparse.to_dense(parsed["class"], default_value=""),
                tf.sparse.to_dense(parsed["score"]))

    def signature(body):
        return tf.function(body, input_signature=[_EXAMPLES]).get_concrete_function()

    def default(inputs):
        classes, scores = class_scores(inputs)
        return {"classes": classes, "scores": scores}

    def plus_one(inputs):
        classes, scores = class_scores(inputs)
        return {"classes": classes, "scores": scores + 1}

    def regression(inputs):
        return {"outputs": class_scores(inputs)[1] + 1}

    def improperly_sized(inputs):
        classes, scores = class_scores(inputs)
        return {"classes": classes,
                "scores": tf.zeros(tf.concat([tf.shape(scores), [10]], 0))}

    def classes_only(inputs):
        return {"classes": class_scores(inputs)[0]}

    def scores_only(inputs):
        return {"scores": class_scores(inputs)[1]}

    def fixed(classes, scores):
        def body(inputs):
            del inputs
            return {"classes": classes(), "scores": scores()}
        return body

    def runs_fail(inputs):
        with tf.control_dependencies([_fail(inputs)]):
            return default(inputs)

    strings = lambda *shape: lambda: tf.fill(shape, "")  # noqa: E731
    floats = lambda *shape: lambda: tf.zeros(shape)  # noqa: E731
    signatures = {
        "serving_default": signature(default),
        "output_plus_one": signature(plus_one),
        "invalid_regression_signature": signature(regression),
        "ImproperlySizedScoresSignature": signature(improperly_sized),
        "classes_only": signature(classes_only),
        "scores_only": signature(scores_only),
        "empty_signature": _empty_signature().get_concrete_function(),
        "runs_fail": signature(runs_fail),
        "classes_batch_1": signature(fixed(strings(1, 2), floats(2, 2))),
        "classes_float": signature(fixed(floats(2, 2), floats(2, 2))),
        "scores_batch_1": signature(fixed(strings(2, 2), floats(1, 2))),
        "scores_string": signature(fixed(strings(2, 2), strings(2, 2))),
        "classes_scores_mismatch": signature(fixed(strings(2, 2), floats(2, 3))),
        "method_unsupported": signature(default),
        "method_empty": signature(default),
    }
    tf.saved_model.save(m, export_dir, signatures=signatures)
    methods = {k: CLASSIFY for k in signatures}
    methods.update(invalid_regression_signature=REGRESS, empty_signature=PREDICT,
                   method_unsupported=UNSUPPORTED_METHOD, method_empty="")
    set_methods(export_dir, methods)
    return export_dir


def write_regressor(export_dir: str) -> str:
    """regressor_test.cc's fake session and mock sessions as signatures."""
    m = tf.Module()

    def output(inputs):
        return tf.io.parse_example(
            inputs, {"output": tf.io.FixedLenFeature([1], tf.float32)})["output"]

    def signature(body):
        return tf.function(body, input_signature=[_EXAMPLES]).get_concrete_function()

    def default(inputs):
        return {"outputs": tf.reshape(output(inputs), [-1])}  # [batch_size]

    def plus_one(inputs):
        return {"outputs": output(inputs) + 1}  # [batch_size, 1]

    def classification(inputs):
        return {"classes": output(inputs) + 1}

    def improperly_sized(inputs):
        return {"outputs": tf.zeros(tf.concat([tf.shape(output(inputs)), [10]], 0))}

    def runs_fail(inputs):
        with tf.control_dependencies([_fail(inputs)]):
            return default(inputs)

    def wrong_size(inputs):
        del inputs
        return {"outputs": tf.zeros([2])}

    def wrong_type(inputs):
        del inputs
        return {"outputs": tf.fill([1], "")}

    signatures = {
        "serving_default": signature(default),
        "output_plus_one": signature(plus_one),
        "invalid_classification_signature": signature(classification),
        "ImproperlySizedOutputSignature": signature(improperly_sized),
        "empty_signature": _empty_signature().get_concrete_function(),
        "runs_fail": signature(runs_fail),
        "unexpected_output_size": signature(wrong_size),
        "unexpected_output_type": signature(wrong_type),
        "method_unsupported": signature(default),
        "method_empty": signature(default),
    }
    tf.saved_model.save(m, export_dir, signatures=signatures)
    methods = {k: REGRESS for k in signatures}
    methods.update(invalid_classification_signature=CLASSIFY, empty_signature=PREDICT,
                   method_unsupported=UNSUPPORTED_METHOD, method_empty="")
    set_methods(export_dir, methods)
    return export_dir


def write_no_signatures(export_dir: str) -> str:
    """A SavedModel with a variable and no SignatureDefs."""
    m = tf.Module()
    m.v = tf.Variable(1.0)
    tf.saved_model.save(m, export_dir, signatures={})
    return export_dir


def version_dir(base: str, version: int) -> str:
    path = os.path.join(base, str(version))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path
