"""Serving signatures: names, methods, input and output aliases, named once.

The values are TensorFlow's and TF Serving's constants, written out so that
reading them needs no TensorFlow import: ``tf.saved_model.*_METHOD_NAME``
(tensorflow/python/saved_model/signature_constants.py), and TF Serving's
Classify/Regress aliases (``servables/tensorflow/classifier.cc``,
``regressor.cc``: input ``inputs``; outputs ``classes``/``scores`` and
``outputs``).

The project's SavedModels carry four signatures (``models/export.py``):

- ``serving_default`` (classify method): serialized ``tf.Example``s in,
  exactly ``classes`` and ``scores`` out, so that TF Serving's Classify works
  without a signature name;
- ``predict``: the same input, every output (TFMA evaluates it);
- ``serving_raw``: raw feature values in, every output;
- ``transform_features``: serialized examples in, transformed features out
  (TFMA's preprocessing function).
"""

DEFAULT_SIGNATURE = "serving_default"   # tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
PREDICT_SIGNATURE = "predict"
RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"

PREDICT_METHOD = "tensorflow/serving/predict"    # tf.saved_model.PREDICT_METHOD_NAME
CLASSIFY_METHOD = "tensorflow/serving/classify"  # tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS_METHOD = "tensorflow/serving/regress"    # tf.saved_model.REGRESS_METHOD_NAME

SERVING_TAGS = ("serve",)  # tf.saved_model.SERVING

# Aliases of example-taking signatures (classifier.cc, regressor.cc).
EXAMPLES_INPUT = "inputs"          # string [N], serialized tf.Example
CLASSES_OUTPUT = "classes"         # string [N, C], label names
SCORES_OUTPUT = "scores"           # float32 [N, C], class probabilities
REGRESS_OUTPUT = "outputs"         # float32 [N]
CLASSIFY_OUTPUTS = (CLASSES_OUTPUT, SCORES_OUTPUT)  # all that Classify accepts
# Input aliases of the other signatures (models/export.py).
TRANSFORM_INPUT = "examples"       # string [N], serialized tf.Example, ``transform_features``
# Inputs of ``serving_raw`` beside the tabular models' one tensor per raw
# feature (named after it); which of them a SavedModel has tells its
# modality (``runner.score``).
RAW_IMAGES_INPUT = "images"        # float32 [N, 28, 28] or [N, 28, 28, 1], image models
RAW_TEXT_INPUT = "text"            # string [N], text models

# Outputs of ``predict`` and ``serving_raw`` beside classes and scores.
CLASS_IDS_OUTPUT = "class_ids"     # int64 [N]
TOP_CLASS_OUTPUT = "top_class"     # string [N]
PROBABILITY_OUTPUT = "probability" # float32 [N], class 1, binary tasks only

