"""Small real SavedModels with the project's serving signatures, no pipeline.

Real data through the modality's real ``preprocessing_fn`` (TFT on Beam,
in-process), the family's real model builder (untrained weights) and the
real export (``models.export.export_serving_model``): the four signatures a
pushed model has, in about 10-20 s a model instead of a pipeline run. Used
where what is tested is the serving contract, not what the model learned
(``test_export_signatures``, ``test_score``).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
from tfx.utils import io_utils

from tfxp.core import features as F
from tfxp.core.datasets import get_dataset
from tfxp.models import preprocessing
from tfxp.models.export import export_serving_model
from tfxp.models.registry import get_family
from tfxp.models.training import resolve_hparams
from tfxp.pipeline.schemas import schema_file
from tests.taxi_rows import read_rows, to_example


def transform(preprocessing_fn, rows, feature_spec, temp_dir) -> tft.TFTransformOutput:
    """Analyses ``rows`` (TFT instance dicts) with ``preprocessing_fn``;
    writes the transform graph and the raw schema, as TFX's Transform does
    (serving parses by the latter), under ``temp_dir/transform_output``."""
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(feature_spec)
    out_dir = os.path.join(temp_dir, "transform_output")
    with beam.Pipeline() as pipeline, tft_beam.Context(
            temp_dir=os.path.join(temp_dir, "tmp"), force_tf_compat_v1=False):
        data = pipeline | beam.Create(rows, reshuffle=False)
        transform_fn = (data, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        _ = metadata | "WriteRaw" >> tft_beam.WriteMetadata(
            os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline)
    return tft.TFTransformOutput(out_dir)


def export(family: str, dataset: str, tft_output: tft.TFTransformOutput, path: str) -> str:
    """Builds ``family``'s model (its default hparams) and exports it to ``path``."""
    hparams = resolve_hparams(get_family(family), get_dataset(dataset), tft_output)
    model = get_family(family).build_model(hparams)
    export_serving_model(model, tft_output, get_dataset(dataset), path)
    return path


def taxi_model(temp_dir: str) -> Tuple[str, Dict[str, Any], List[Dict[str, str]]]:
    """A Dense/taxi SavedModel (TFT analysed the first 300 taxi CSV rows).

    Returns:
      (its path, the curated schema's raw feature spec, the 300 CSV rows as
      ``{column: text}``).
    """
    schema = io_utils.parse_pbtxt_file(schema_file("chicago_taxi"), schema_pb2.Schema())
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    rows = read_rows(300)
    # TFT's instance dicts: numpy values, VarLen features as arrays.
    instances = []
    for row in rows:
        parsed = tf.io.parse_single_example(to_example(row, spec), spec)
        instances.append({k: (v.values.numpy() if isinstance(v, tf.SparseTensor) else v.numpy())
                          for k, v in parsed.items()})
    tft_output = transform(preprocessing.tabular_preprocessing_fn, instances, spec, temp_dir)
    return export("dense", "chicago_taxi", tft_output, os.path.join(temp_dir, "model")), spec, rows


def image_model(temp_dir: str) -> str:
    """A CNN/Fashion-MNIST SavedModel (TFT analysed 20 random 28x28 images)."""
    rng = np.random.default_rng(0)
    spec = {F.IMAGE_KEY: tf.io.FixedLenFeature([784], tf.int64),
            F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    rows = [{F.IMAGE_KEY: rng.integers(0, 256, 784), F.LABEL_KEY: i % 10} for i in range(20)]
    tft_output = transform(preprocessing.image_preprocessing_fn, rows, spec, temp_dir)
    return export("cnn", "fashion_mnist", tft_output, os.path.join(temp_dir, "model"))


TEXT_WORDS = "good bad plot acting funny dull great boring film story".split()


def text_model(temp_dir: str) -> str:
    """An LSTM/Rotten Tomatoes SavedModel (TFT analysed 40 texts of 12 of
    ``TEXT_WORDS``)."""
    spec = {F.TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
            F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    rng = np.random.default_rng(0)
    rows = [{F.TEXT_KEY: " ".join(rng.choice(TEXT_WORDS, 12)).encode(), F.LABEL_KEY: i % 2}
            for i in range(40)]
    tft_output = transform(preprocessing.text_preprocessing_fn, rows, spec, temp_dir)
    return export("lstm", "rotten_tomatoes", tft_output, os.path.join(temp_dir, "model"))
