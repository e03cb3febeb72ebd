"""The serving contract: the SavedModel the Trainer exports and its signatures.

``export_serving_model`` writes a SavedModel whose signatures carry the TFT
graph (``ServingModule.tft_layer``), so serving applies the training
preprocessing. Signature, method, input and output names come from
``tfxp.core.signatures``.

Signatures (the Estimator / TF Serving convention for classifiers, see
tensorflow_serving/apis/*.proto and servables/tensorflow/classifier.cc):
- ``serving_default``: method ``tensorflow/serving/classify``; ``inputs``
  string ``[N]`` serialized ``tf.Example`` -> exactly ``classes`` string
  ``[N, C]`` (label names) and ``scores`` float32 ``[N, C]`` (class
  probabilities). TF Serving's Classify RPC without ``signature_name`` uses
  it (classifier.cc PreProcessClassification allows one or two outputs,
  ``classes``/``scores``), and Predict works on it too.
  (``tf.saved_model.save`` can only write the predict method;
  ``mark_classify_signature`` rewrites it.)
- ``predict``: method ``tensorflow/serving/predict``; the same ``inputs`` ->
  ``scores`` and ``classes`` as above, ``class_ids`` int64 ``[N]`` argmax,
  ``top_class`` string ``[N]``, and for binary tasks ``probability`` float32
  ``[N]`` of class 1. TFMA evaluates this one (``pipeline/evaluation.py``).
- ``serving_raw``: the ``predict`` outputs from raw values (see ``raw_signature``).
- ``transform_features``: serialized examples -> transformed features, for TFMA.

The example-taking signatures parse only the raw features the model uses
(``core.features.SERVING_FEATURES``: what ``preprocessing_fn`` turns into model inputs;
the label's sources excluded). A request's other features are ignored, and
a missing unused one is no error.

Text models read the first ``MAX_TOKENS`` (64) tokens of a text after
normalisation (lowercase, punctuation dropped, split on whitespace); later
tokens are cut off. An empty, whitespace-only or punctuation-only text maps
to 64 padding ids and gets the model's prediction for "no words"; every
example is computed independently, so outputs do not depend on the batch or
its order. The Transformer with a pre-trained encoder then splits those
words into WordPieces and reads the first ``max_pieces - 2`` (62) of them
between ``[CLS]`` and ``[SEP]`` (``models.transformer.WordPieceIds``); a
word its Transform vocabulary lacks is ``[UNK]``; "no words" is
``[CLS] [SEP]``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

from tfxp.core import features as F
from tfxp.core.datasets import IMAGE, TEXT, DatasetSpec
from tfxp.core.features import SERVING_FEATURES
from tfxp.core.signatures import (
    CLASS_IDS_OUTPUT, CLASSES_OUTPUT, CLASSIFY_METHOD, CLASSIFY_OUTPUTS, DEFAULT_SIGNATURE,
    EXAMPLES_INPUT, PREDICT_SIGNATURE, PROBABILITY_OUTPUT, RAW_IMAGES_INPUT, RAW_SIGNATURE,
    RAW_TEXT_INPUT, SCORES_OUTPUT, TOP_CLASS_OUTPUT, TRANSFORM_INPUT, TRANSFORM_SIGNATURE)
from tfxp.core.uris import replace_file

# Raw features that only exist in training data (the label's sources).
LABEL_SOURCE_KEYS = (F.TIPS_KEY, F.LABEL_KEY)
# The image shapes ``serving_raw`` accepts, as ``tf.shape(images)[1:]``.
IMAGE_SHAPES = ("28,28", "28,28,1")


def _dense_to_raw(x: tf.Tensor, spec) -> Any:
    """Raw-signature value ``[N]`` -> what ``parse_example`` would give for ``spec``.

    For a ``VarLenFeature``, NaN (floats) or ``''`` (strings) means missing.
    """
    x = tf.cast(x, spec.dtype) if x.dtype != spec.dtype else x
    if isinstance(spec, tf.io.VarLenFeature):
        present = (tf.not_equal(x, "") if x.dtype == tf.string
                   else tf.logical_not(tf.math.is_nan(tf.cast(x, tf.float64)))
                   if x.dtype.is_floating else tf.ones_like(x, tf.bool))
        rows = tf.where(present)[:, 0]
        return tf.SparseTensor(
            tf.stack([rows, tf.zeros_like(rows)], axis=1), tf.boolean_mask(x, present),
            tf.stack([tf.shape(x, out_type=tf.int64)[0], tf.constant(1, tf.int64)]))
    return tf.reshape(x, [-1] + list(spec.shape))


class ServingModule(tf.Module):
    """Holds the model's variables, its TFT layer and the signature functions.

    Only the model's variables are tracked, not the compiled Keras model: a
    tracked model brings its optimizer, and the SavedModel would carry the
    optimizer's slots (Adam: two per weight, three times the weights' bytes;
    268 MB instead of 90 MB for the Transformer) that serving never reads.
    The signatures call the model, which captures exactly these variables.
    """

    def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
                 dataset: DatasetSpec):
        super().__init__()
        self.model_variables = list(model.variables)
        object.__setattr__(self, "model", model)   # called, not tracked
        self.tft_layer = tft_output.transform_features_layer()
        self._raw_spec = tft_output.raw_feature_spec()
        self._serving_spec = {k: self._raw_spec[k]
                              for k in SERVING_FEATURES[dataset.modality]
                              if k not in LABEL_SOURCE_KEYS}
        self._labels = tf.constant(dataset.label_names)
        self._binary = dataset.num_classes == 2
        self._modality = dataset.modality
        self._input_names = list(model.input_names)

    def outputs(self, raw_features: Dict[str, Any]) -> Dict[str, tf.Tensor]:
        """Raw features (as ``parse_example`` gives them) -> the ``predict``
        outputs: ``scores`` float32 ``[N, C]``, ``classes`` string ``[N, C]``,
        ``class_ids`` int64 ``[N]``, ``top_class`` string ``[N]`` and, for
        binary tasks, ``probability`` float32 ``[N]``."""
        transformed = self.tft_layer(raw_features)
        scores = self.model({k: transformed[k] for k in self._input_names},
                            training=False)
        scores = tf.cast(scores, tf.float32)
        batch = tf.shape(scores)[0]
        class_ids = tf.argmax(scores, axis=1)
        out = {SCORES_OUTPUT: scores,
               CLASSES_OUTPUT: tf.tile(self._labels[tf.newaxis], [batch, 1]),
               CLASS_IDS_OUTPUT: class_ids,
               TOP_CLASS_OUTPUT: tf.gather(self._labels, class_ids)}
        if self._binary:
            out[PROBABILITY_OUTPUT] = scores[:, 1]
        return out

    def signatures(self) -> Dict[str, Any]:
        """``{signature key: concrete function}`` as listed in the module docstring."""
        examples = tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)
        predict = tf.function(
            lambda inputs: self.outputs(tf.io.parse_example(inputs, self._serving_spec)),
            input_signature=[examples])
        classify = tf.function(
            lambda inputs: {k: v for k, v in self.outputs(tf.io.parse_example(
                inputs, self._serving_spec)).items() if k in CLASSIFY_OUTPUTS},
            input_signature=[examples])
        transform = tf.function(
            lambda examples: self.tft_layer(tf.io.parse_example(examples, self._raw_spec)),
            input_signature=[tf.TensorSpec([None], tf.string, name=TRANSFORM_INPUT)])
        return {DEFAULT_SIGNATURE: classify.get_concrete_function(),
                PREDICT_SIGNATURE: predict.get_concrete_function(),
                RAW_SIGNATURE: self.raw_signature(),
                TRANSFORM_SIGNATURE: transform.get_concrete_function()}

    def raw_signature(self):
        """Signature a client calls with raw values, no ``tf.Example``.

        - tabular: one ``[N]`` tensor per raw feature the model uses
          (``SERVING_FEATURES``, dtype of the schema); NaN or ``''`` marks a
          missing value of a feature that may be empty.
        - image: ``images`` float32, ``[N, 28, 28]`` or ``[N, 28, 28, 1]``,
          pixel values 0..255. Any other shape, even one with 784 pixels
          (``[N, 784]``, ``[N, 56, 14, 1]``), fails with INVALID_ARGUMENT
          "images: expected shape [N, 28, 28] or [N, 28, 28, 1], got [...]".
        - text: ``text`` string ``[N]``; the first 64 tokens of each text
          count, and of those the Transformer's encoder reads the first 62
          WordPieces (see the module docstring for empty and long texts).
        """
        if self._modality == IMAGE:
            def raw(images):
                shape = tf.shape(images)
                tail = tf.strings.reduce_join(tf.strings.as_string(shape[1:]), separator=",")
                ok = tf.reduce_any(tf.equal(tail, IMAGE_SHAPES))
                # One formatted string: the message names the input, the
                # expected and the received shape.
                check = tf.debugging.Assert(ok, [tf.strings.format(
                    f"{RAW_IMAGES_INPUT}: expected shape [N, 28, 28] or [N, 28, 28, 1], "
                    "got {}", shape, summarize=-1)])
                with tf.control_dependencies([check]):
                    flat = tf.reshape(images, [shape[0], math.prod(F.IMAGE_SHAPE)])
                    pixels = tf.cast(tf.round(flat), tf.int64)
                return self.outputs({F.IMAGE_KEY: pixels})
            return tf.function(raw).get_concrete_function(
                tf.TensorSpec(None, tf.float32, name=RAW_IMAGES_INPUT))
        if self._modality == TEXT:
            # [N] -> the schema's shape ([N, 1]), as parse_example would give.
            spec = self._serving_spec[F.TEXT_KEY]
            return tf.function(lambda text: self.outputs({F.TEXT_KEY: _dense_to_raw(text, spec)})
                               ).get_concrete_function(
                tf.TensorSpec([None], tf.string, name=RAW_TEXT_INPUT))
        specs = self._serving_spec

        def raw(**features):
            return self.outputs({k: _dense_to_raw(features[k], specs[k]) for k in specs})
        return tf.function(raw).get_concrete_function(
            **{k: tf.TensorSpec([None], v.dtype, name=k) for k, v in specs.items()})


def mark_classify_signature(export_dir: str, name: str = DEFAULT_SIGNATURE) -> None:
    """Sets signature ``name``'s method to ``tensorflow/serving/classify``.

    TF Serving's Classify RPC (classifier.cc) requires that method name, input
    ``inputs`` (string) and outputs ``classes``/``scores``. The SavedModel
    fingerprint is recomputed afterwards, since it covers saved_model.pb.
    """
    pb_path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(pb_path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[name].method_name = CLASSIFY_METHOD
    # Replaced, not rewritten in place (core.uris.replace_file): ram://
    # appends on a rewrite, giving a SavedModel with two MetaGraphs.
    replace_file(pb_path, saved_model.SerializeToString())
    replace_file(os.path.join(export_dir, "fingerprint.pb"),
                 fingerprinting.CreateFingerprintDef(export_dir))


def export_serving_model(model: keras.Model, tft_output: tft.TFTransformOutput,
                         dataset: DatasetSpec, export_dir: str) -> None:
    """Writes the SavedModel with the four signatures of the module docstring
    to ``export_dir``; ``serving_default`` gets the classify method."""
    module = ServingModule(model, tft_output, dataset)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    mark_classify_signature(export_dir)
