"""The serving signatures ask only for the raw features the model uses and
check what they get: a taxi example without ``trip_start_timestamp`` (which
no model input comes from) or with a feature nobody knows is served the same,
and the raw image signature refuses every shape but ``[N, 28, 28]`` and
``[N, 28, 28, 1]`` with a message naming the input, the expected and the
received shape. Real data through real TFT graphs, untrained models."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfxp.core import features as F
from tfxp.models.export import RAW_SIGNATURE, SERVING_FEATURES
from tests import export_models
from tests.taxi_rows import to_example

CLEAN = "images: expected shape [N, 28, 28] or [N, 28, 28, 1], got [{}]"


@pytest.fixture(scope="module")
def taxi(tmp_path_factory):
    path, spec, rows = export_models.taxi_model(str(tmp_path_factory.mktemp("taxi_export")))
    return tf.saved_model.load(path), spec, rows


def test_the_signatures_parse_only_the_features_the_model_uses(taxi):
    loaded, spec, rows = taxi
    assert "trip_start_timestamp" in spec and "trip_start_timestamp" not in SERVING_FEATURES["tabular"]
    used = {k: v for k, v in spec.items() if k in F.TABULAR_MODEL_FEATURES}
    full = tf.constant([to_example(r, spec) for r in rows[:32]])
    only_used = tf.constant([to_example(r, used) for r in rows[:32]])
    extra = []
    for r in rows[:32]:
        example = tf.train.Example.FromString(to_example(r, used))
        example.features.feature["not_a_feature"].bytes_list.value.append(b"ignored")
        extra.append(example.SerializeToString())
    for name in ("serving_default", "predict"):
        fn = loaded.signatures[name]
        want = fn(inputs=full)["scores"].numpy()
        np.testing.assert_allclose(fn(inputs=only_used)["scores"].numpy(), want, rtol=1e-6)
        np.testing.assert_allclose(fn(inputs=tf.constant(extra))["scores"].numpy(), want,
                                   rtol=1e-6)
    raw_inputs = loaded.signatures[RAW_SIGNATURE].structured_input_signature[1]
    assert sorted(raw_inputs) == sorted(F.TABULAR_MODEL_FEATURES)


@pytest.fixture(scope="module")
def image_model(exported_image_model):
    return tf.saved_model.load(exported_image_model), exported_image_model


@pytest.mark.parametrize("shape", [(1, 56, 14, 1), (1, 784), (1, 28, 28, 3), (2, 28, 14),
                                   (28, 28), (1, 1, 28, 28, 1)])
def test_the_raw_image_signature_rejects_every_other_shape_cleanly(image_model, shape):
    loaded, _ = image_model
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        loaded.signatures[RAW_SIGNATURE](images=tf.zeros(shape))
    assert CLEAN.format(" ".join(str(d) for d in shape)) in err.value.message
    assert "2352" not in err.value.message and "784]" not in err.value.message.split("got")[0]


def test_the_raw_image_signature_accepts_n_28_28_with_or_without_channel(image_model):
    loaded, _ = image_model
    pixels = np.random.default_rng(1).integers(0, 256, (3, 28, 28)).astype(np.float32)
    fn = loaded.signatures[RAW_SIGNATURE]
    np.testing.assert_allclose(fn(images=pixels)["scores"].numpy(),
                               fn(images=pixels[..., None])["scores"].numpy(), rtol=1e-6)


def test_the_message_the_server_returns_for_a_bad_image_shape(image_model):
    """What a client reads: INVALID_ARGUMENT and the clean sentence. TF's
    runtime frames any in-graph error with the node and function names
    ("Graph execution error ... [[{{node ...}}]] [Op:...]"); the server keeps
    the error line alone (serving.errors.op_error_message)."""
    import grpc
    from tfxp.serving.errors import ServingError
    from tfxp.serving.manager import Servable

    _, path = image_model
    servable = Servable("cnn", 1, path)
    with pytest.raises(ServingError) as err:
        servable.call(RAW_SIGNATURE, {"images": np.zeros((1, 56, 14, 1), np.float32)})
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert CLEAN.format("1 56 14 1") in err.value.message
    for noise in ("Graph execution", "Detected at node", "{{node", "[Op:", "File \""):
        assert noise not in err.value.message


@pytest.fixture(scope="module")
def text_model(exported_text_model):
    return tf.saved_model.load(exported_text_model)


def test_texts_past_64_tokens_are_cut_and_empty_texts_are_all_padding(text_model):
    fn = text_model.signatures[RAW_SIGNATURE]
    first_64 = " ".join(["good", "plot"] * 32)
    texts = ["", "   \t ", "?!...", first_64, first_64 + " bad dull boring" * 50, "great film"]
    scores = fn(text=tf.constant(texts))["scores"].numpy()
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-6)  # whitespace = empty
    np.testing.assert_allclose(scores[2], scores[0], rtol=1e-6)  # punctuation only = empty
    np.testing.assert_allclose(scores[4], scores[3], rtol=1e-6)  # tokens 65.. are cut
    assert not np.allclose(scores[5], scores[0])  # real words are not padding


def test_text_outputs_do_not_depend_on_the_batch_or_its_order(text_model):
    fn = text_model.signatures[RAW_SIGNATURE]
    texts = np.array([b"good film", b"", b"boring dull plot " * 30, b"funny", b"bad acting"])
    batch = fn(text=tf.constant(texts))["scores"].numpy()
    order = np.array([3, 0, 4, 2, 1])
    np.testing.assert_allclose(fn(text=tf.constant(texts[order]))["scores"].numpy(),
                               batch[order], rtol=1e-5)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(fn(text=tf.constant([text]))["scores"].numpy()[0],
                                   batch[i], rtol=1e-5)
