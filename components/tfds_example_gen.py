"""``TfdsExampleGen``: a TFX ExampleGen that ingests any TensorFlow Datasets dataset.

It resolves ``tfds.builder(dataset_name, config=..., data_dir=...)``, prepares
the dataset when needed (``download_and_prepare``; offline builders read
``manual_dir``), reads the requested TFDS splits in parallel with
``tfds.beam.ReadFromTFDS`` and writes them as ``tf.Example`` splits ``train``,
optionally ``validation``, and ``eval`` through TFX's ExampleGen machinery (``BaseExampleGenExecutor``:
gzipped TFRecords, payload format, split names in MLMD).

The same component serves:
- the project's offline builders (``components.tfds_builders``:
  ``tfxp_fashion_mnist``, ``tfxp_rotten_tomatoes``), prepared from local files;
- TFDS catalog datasets (``mnist``, ``cifar10``, ``imdb_reviews``, ...), which
  TFDS downloads when the machine has internet, or which were prepared
  beforehand into ``data_dir`` (local or ``gs://``) with ``tfds build``.

Feature conversion (generic, driven by the builder's ``FeaturesDict``):
- integer and bool tensors (``Image`` pixels, ``ClassLabel``, ints) ->
  ``int64_list``; floats -> ``float_list``; strings (``Text``, bytes) ->
  ``bytes_list``, UTF-8;
- every tensor is flattened row-major, so a 28x28x1 ``Image`` becomes 784
  int64 values (the pipeline's ``image`` contract) and a 32x32x3 one 3,072;
  a tensor whose shape is not fixed by the dataset (e.g. images of varying
  size) also gets ``<name>_shape`` (int64, its actual shape);
- nested ``FeaturesDict`` keys are joined with ``_`` (``objects_label``).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, driver
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from tfxp.components import tfds_builders

DATASET_NAME_KEY = "dataset_name"
DATA_DIR_KEY = "data_dir"
TFDS_CONFIG_KEY = "tfds_config"
MANUAL_DIR_KEY = "manual_dir"


class TfdsNotAvailableError(RuntimeError):
    """The TFDS dataset cannot be found or prepared; the message says how to get it."""


def load_builder(dataset_name: str, data_dir: str, config: Optional[str] = None,
                 manual_dir: Optional[str] = None) -> tfds.core.DatasetBuilder:
    """Returns the prepared TFDS builder for ``dataset_name``.

    Prepares it first when ``data_dir`` does not hold it yet: offline builders
    read their files from ``manual_dir``; catalog builders download (needs
    internet). Preparing is skipped, and nothing is read from the network,
    when the data is already in ``data_dir``.

    Args:
      dataset_name: TFDS name, e.g. ``'tfxp_fashion_mnist'`` or ``'mnist'``.
      data_dir: TFDS data folder (local path or ``gs://...``).
      config: builder config name (e.g. ``'plain_text'``), None for the default.
      manual_dir: folder with the files of an offline builder.
    Raises:
      TfdsNotAvailableError: unknown name; catalog dataset neither prepared nor
        downloadable.
      FileNotFoundError: an offline builder's files are missing from
        ``manual_dir`` (the message says to run ``scripts/get_data.sh``).
    """
    offline = {b.name: b for b in tfds_builders.OFFLINE_BUILDERS.values()}
    kwargs = {"data_dir": data_dir}
    if config:
        kwargs["config"] = config
    try:
        builder = tfds.builder(dataset_name, **kwargs)
    except tfds.core.registered.DatasetNotFoundError:
        raise TfdsNotAvailableError(
            f"unknown TFDS dataset {dataset_name!r}: it is neither one of this "
            f"project's offline builders ({', '.join(sorted(offline))}; project "
            f"datasets {', '.join(tfds_builders.OFFLINE_BUILDERS)}) nor in the "
            f"catalog of tensorflow-datasets {tfds.__version__}. Catalog datasets "
            f"(e.g. mnist, cifar10, imdb_reviews) need internet, or a data_dir "
            f"{data_dir!r} where `tfds build` prepared them") from None
    if builder.name in offline:
        if (not manual_dir or not tf.io.gfile.isdir(manual_dir)
                or not tf.io.gfile.listdir(manual_dir)):
            raise FileNotFoundError(
                f"manual_dir {manual_dir!r} of TFDS dataset {builder.name!r} does not "
                f"exist or is empty; run scripts/get_data.sh to fetch its files. "
                f"{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        return builder
    try:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
            if manual_dir else None)
    except Exception as err:  # noqa: BLE001 - re-raised with how to fix it
        raise TfdsNotAvailableError(
            f"TFDS catalog dataset {builder.name!r} is not prepared in data_dir "
            f"{data_dir!r} and could not be downloaded ({type(err).__name__}: "
            f"{err}). Catalog datasets need internet, or a data_dir prepared with "
            f"`tfds build {builder.name} --data_dir ...`; offline datasets of this "
            f"project: {', '.join(tfds_builders.OFFLINE_BUILDERS)}") from err
    return builder


def _flatten(nested: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "_"))
        else:
            flat[name] = value
    return flat


def _values(value: Any) -> np.ndarray:
    """Any numpy / ragged / scalar TFDS value -> flat 1-D numpy array."""
    if hasattr(value, "to_list"):  # tf.RaggedTensorValue of variable-length features
        value = value.to_list()
    if isinstance(value, list):
        return np.asarray(list(_iter_leaves(value)))
    return np.asarray(value).reshape(-1)


def _iter_leaves(items: Iterable[Any]):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _iter_leaves(item)
        else:
            yield item


class ExampleEncoder:
    """Converts one TFDS example (numpy, as ``tfds.as_numpy`` gives it) to ``tf.Example``.

    Built from the dataset's ``FeaturesDict``: each flattened feature's TF
    dtype decides its ``tf.train.Feature`` kind (see the module docstring).
    Picklable, so Beam can ship it to workers.
    """

    def __init__(self, features: tfds.features.FeaturesDict):
        info = _flatten(features.get_tensor_info())
        self.kinds = {}
        self.variable_shape = set()
        for name, tensor_info in info.items():
            dtype = tf.as_dtype(tensor_info.dtype)
            if dtype == tf.string:
                self.kinds[name] = "bytes"
            elif dtype.is_integer or dtype.is_bool:
                self.kinds[name] = "int64"
            elif dtype.is_floating:
                self.kinds[name] = "float"
            else:
                raise TypeError(f"TFDS feature {name!r} has dtype {dtype.name}; "
                                f"expected an integer, bool, float or string tensor")
            if any(d is None for d in tensor_info.shape):
                self.variable_shape.add(name)
        clashes = sorted({f"{n}_shape" for n in self.variable_shape} & set(self.kinds))
        if clashes:
            raise ValueError(f"TFDS features {clashes} clash with the shape features "
                             f"this encoder adds")

    def __call__(self, example: Dict[str, Any]) -> tf.train.Example:
        flat = _flatten(example)
        out = tf.train.Example()
        features = out.features.feature
        for name, kind in self.kinds.items():
            if name not in flat:
                raise KeyError(f"TFDS example lacks feature {name!r}; has {sorted(flat)}")
            value = flat[name]
            values = _values(value)
            if kind == "bytes":
                features[name].bytes_list.value.extend(
                    v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values)
            elif kind == "int64":
                features[name].int64_list.value.extend(values.astype(np.int64).tolist())
            else:
                features[name].float_list.value.extend(values.astype(np.float32).tolist())
            if name in self.variable_shape:
                features[f"{name}_shape"].int64_list.value.extend(np.shape(value))
        return out


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TfdsToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                   split_pattern: str) -> beam.pvalue.PCollection:
    """Reads TFDS split ``split_pattern`` (e.g. ``'train'``, ``'test[:10%]'``)
    of the dataset in ``exec_properties`` as ``tf.Example``s."""
    builder = load_builder(exec_properties[DATASET_NAME_KEY],
                           exec_properties[DATA_DIR_KEY],
                           exec_properties.get(TFDS_CONFIG_KEY) or None,
                           exec_properties.get(MANUAL_DIR_KEY) or None)
    encoder = ExampleEncoder(builder.info.features)
    return (pipeline
            | "ReadFromTFDS" >> tfds.beam.ReadFromTFDS(builder, split=split_pattern)
            | "ToNumpy" >> beam.Map(tfds.as_numpy)
            | "ToTFExample" >> beam.Map(encoder))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """ExampleGen executor whose input splits are TFDS split names."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TfdsToExample


class TfdsExampleGenSpec(types.ComponentSpec):
    """``QueryBasedExampleGenSpec`` plus the TFDS dataset's coordinates."""

    PARAMETERS = {
        **standard_component_specs.QueryBasedExampleGenSpec.PARAMETERS,
        DATASET_NAME_KEY: ExecutionParameter(type=str),
        DATA_DIR_KEY: ExecutionParameter(type=str),
        TFDS_CONFIG_KEY: ExecutionParameter(type=str, optional=True),
        MANUAL_DIR_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY:
            ChannelParameter(type=standard_artifacts.Examples),
    }


class TfdsExampleGen(base_beam_component.BaseBeamComponent):
    """ExampleGen over a TensorFlow Datasets dataset.

    Output: ``examples`` (``Examples`` artifact) with splits ``train``,
    optionally ``validation``, and ``eval``, gzipped TFRecords of ``tf.Example`` (see the module docstring for
    the feature conversion).

    Example::

        TfdsExampleGen(dataset_name="tfxp_fashion_mnist", data_dir="data/tfds",
                       manual_dir="data/fashion_mnist")
        TfdsExampleGen(dataset_name="imdb_reviews", data_dir="gs://bucket/tfds",
                       config="plain_text")  # catalog dataset, needs internet
    """

    SPEC_CLASS = TfdsExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    # Resolves span/version of the (query-like) split patterns, as for BigQuery.
    DRIVER_CLASS = driver.QueryBasedDriver

    def __init__(self, dataset_name: str, data_dir: str, config: Optional[str] = None,
                 train_split: str = "train", eval_split: str = "test",
                 manual_dir: Optional[str] = None,
                 validation_split: Optional[str] = None):
        """Args:
          dataset_name: TFDS builder name (``tfds_builders.tfds_name`` maps the
            project's dataset names to their offline builders).
          data_dir: TFDS data folder, local or ``gs://``; prepared data there is
            reused.
          config: TFDS builder config name; None for the builder's default.
          train_split, eval_split: TFDS split expressions for the output splits
            ``train`` and ``eval``, e.g. ``'train[:90%]'`` / ``'test'``.
          manual_dir: files of an offline builder (``scripts/get_data.sh``).
          validation_split: TFDS split expression for an output split
            ``validation`` (between ``train`` and ``eval``), e.g.
            ``'train[90%:]'``; None writes only ``train`` and ``eval``.
        Raises:
          ValueError: an empty dataset name, data_dir or split.
        """
        for arg, value in (("dataset_name", dataset_name), ("data_dir", data_dir),
                           ("train_split", train_split), ("eval_split", eval_split),
                           ("validation_split", "-" if validation_split is None
                            else validation_split)):
            if not value:
                raise ValueError(f"TfdsExampleGen {arg} must be non-empty, got {value!r}")
        patterns = [("train", train_split), ("validation", validation_split),
                    ("eval", eval_split)]
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=name, pattern=pattern)
            for name, pattern in patterns if pattern is not None])
        spec = TfdsExampleGenSpec(
            input_config=input_config,
            output_config=example_gen_pb2.Output(),  # output splits = input splits
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            dataset_name=dataset_name, data_dir=data_dir, tfds_config=config,
            manual_dir=manual_dir,
            examples=types.Channel(type=standard_artifacts.Examples))
        super().__init__(spec=spec)
