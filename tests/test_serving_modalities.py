"""Serving the image (CNN/Fashion-MNIST) and text (LSTM/Rotten Tomatoes)
models the real pipeline pushed (``image_run``/``text_run``): Predict over
gRPC and REST equals the in-process SavedModel call at batch 1 and 64 on
``serving_default`` and ``predict``, a default Classify and the metadata
match the SavedModel, the pipeline's infra validation
blessed them, and ``tfxp predict`` reads IDX slices, PNG files and text lines.
"""
from __future__ import annotations

import glob
import os
import shutil
import types

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.tools import saved_model_utils

from tfxp.components.infra_validator import read_examples
from tfxp.components.tfds_builders.fashion_mnist import read_idx
from tfxp.serving.client import RestClient, ServingClient
from tfxp.serving.manager import single_model_config
from tfxp.serving.server import ModelServer
from tests.serving_checks import assert_same, in_process


@pytest.fixture(scope="module", params=["image", "text"])
def served(request, tmp_path_factory):
    """The run's pushed model as version 1 of a server; 64 eval examples."""
    config, summary = request.getfixturevalue(f"{request.param}_run")
    assert summary.pushed_path, "the pipeline pushed nothing"
    base = tmp_path_factory.mktemp(f"{request.param}_serving") / config.model_name
    shutil.copytree(summary.pushed_path, base / "1")
    splits = sorted(glob.glob(os.path.join(config.pipeline_root, "*", "examples", "*",
                                           "Split-eval")))
    server = ModelServer(single_model_config(config.model_name, str(base)), grpc_port=0,
                         rest_port=0, poll_seconds=0).start()
    yield types.SimpleNamespace(
        modality=request.param, name=config.model_name, config=config, summary=summary,
        server=server, examples=read_examples(splits[-1], 64),
        reference=tf.saved_model.load(summary.pushed_path))
    server.stop()


@pytest.mark.parametrize("signature", ["serving_default", "predict"])
@pytest.mark.parametrize("batch", [1, 64])
def test_grpc_and_rest_predict_equal_the_in_process_call(served, batch, signature):
    examples = served.examples[:batch]
    expected = in_process(served.reference, examples, signature)
    with ServingClient(served.server.grpc_target, timeout=60) as client:
        assert_same(client.predict(served.name, examples, signature=signature), expected)
    assert_same(RestClient(served.server.rest_url, timeout=60).predict(
        served.name, examples, signature=signature), expected)


def test_default_classify_and_metadata_match_the_savedmodel(served):
    """Classify without a signature name (gRPC and REST) runs serving_default:
    label names and the in-process ``predict`` signature's scores."""
    expected = in_process(served.reference, served.examples[:16], "predict")
    labels = [[c.decode() for c in row] for row in expected["classes"]]
    with ServingClient(served.server.grpc_target, timeout=60) as client:
        answers = [client.classify(served.name, served.examples[:16]),
                   RestClient(served.server.rest_url, timeout=60).classify(
                       served.name, served.examples[:16])]
        metadata = client.get_model_metadata(served.name)
    for answer in answers:
        np.testing.assert_allclose(answer.scores, expected["scores"], rtol=1e-6, atol=1e-7)
        assert answer.labels.tolist() == labels
    assert labels[0] == list(served.config.dataset_spec.label_names)
    assert metadata.signature_defs == dict(saved_model_utils.get_meta_graph_def(
        served.summary.pushed_path, "serve").signature_def)
    assert {name: sig.method_name for name, sig in metadata.signature_defs.items()
            if not name.startswith("__")} == {  # __saved_model_init_op
        "serving_default": "tensorflow/serving/classify",
        "predict": "tensorflow/serving/predict",
        "serving_raw": "tensorflow/serving/predict",
        "transform_features": "tensorflow/serving/predict"}


def test_the_pipeline_infra_validated_the_model(served):
    from tfxp.observability import mlmd

    store = mlmd.open_store(served.config.metadata_path)
    run = store.get_context_by_type_and_name("pipeline_run", served.summary.run_id)
    [blessing] = [a for a in store.get_artifacts_by_context(run.id)
                  if store.get_artifact_types_by_id([a.type_id])[0].name == "InfraBlessing"]
    assert blessing.custom_properties["blessed"].int_value == 1, \
        blessing.custom_properties["reason"].string_value


def _cli_lines(served, args, capsys):
    from tfxp.cli.main import main

    assert main(["predict", "--model", served.name, "--server", served.server.grpc_target,
                 "--top", "1", *args]) == 0
    return capsys.readouterr().out.strip().splitlines()


def test_cli_predict_names_the_in_process_top_class(served, tmp_path, data_dir, capsys):
    from tfxp.core import features as F

    if served.modality == "image":
        images = read_idx(os.path.join(data_dir, "fashion_mnist",
                                       "t10k-images-idx3-ubyte.gz"))[:3]
        pngs = []
        for i, image in enumerate(images):
            pngs.append(str(tmp_path / f"{i}.png"))
            tf.io.write_file(pngs[-1], tf.io.encode_png(image[..., np.newaxis]))
        outputs = [_cli_lines(served, ["--idx", os.path.join(
                       data_dir, "fashion_mnist", "t10k-images-idx3-ubyte.gz"),
                       "--rows", "0:3"], capsys),
                   _cli_lines(served, ["--png", *pngs], capsys)]
        features = [{F.IMAGE_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
            value=img.reshape(-1).tolist()))} for img in images]
    else:
        lines = ["A moving, beautifully acted film.", "Dull and far too long.",
                 "The cast is wonderful but the script is a mess."]
        (tmp_path / "reviews.txt").write_text("\n".join(lines) + "\n")
        outputs = [_cli_lines(served, ["--text", str(tmp_path / "reviews.txt")], capsys)]
        features = [{F.TEXT_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[line.encode()]))} for line in lines]
    examples = [tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()
                for f in features]
    top = in_process(served.reference, examples, "predict")["top_class"]
    for output in outputs:
        assert len(output) == 3
        for i, line in enumerate(output):
            assert line.startswith(f"#{i} ")
            assert f" {top[i].decode()} " in line + " "
