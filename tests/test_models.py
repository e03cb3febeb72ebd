"""Builders of the image and text families: input/output contract, learning,
and that padding (id 0) never changes a text model's prediction."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfxp.core import features as F
from tfxp.models.registry import get_family

NUM_CLASSES = 3
VOCAB, MAX_TOKENS = 50, 12
IMAGE_FAMILIES = ("cnn", "resnet")
TEXT_FAMILIES = ("lstm", "transformer")


# The Transformer's own architecture (pretrained_encoder null), small; the
# default, pre-trained encoder is tested in tests/test_pretrained_encoder.py.
OWN_TRANSFORMER = {"pretrained_encoder": None, "embedding_dim": 16, "num_heads": 2,
                   "ff_dim": 32, "num_blocks": 2, "learning_rate": 2e-4,
                   "lr_schedule": None, "weight_decay": 0.0}


def _hparams(family: str, **overrides):
    """Registry defaults plus what ``resolve_hparams`` would add, dropout off
    so that a training-mode forward pass is deterministic."""
    hparams = dict(get_family(family).hparams, num_classes=NUM_CLASSES, dropout=0.0,
                   **(OWN_TRANSFORMER if family == "transformer" else {}))
    if family in IMAGE_FAMILIES:
        hparams.update(input_name=F.transformed_name(F.IMAGE_KEY), input_shape=F.IMAGE_SHAPE)
    else:
        hparams.update(input_name=F.transformed_name(F.TOKENS_KEY),
                       vocab_size=VOCAB, max_tokens=MAX_TOKENS)
    hparams.update(overrides)
    return hparams


def _batch(family: str, n: int = 8):
    rng = np.random.default_rng(0)
    if family in IMAGE_FAMILIES:
        x = rng.random((n,) + F.IMAGE_SHAPE, dtype=np.float32)
    else:
        x = rng.integers(1, VOCAB, size=(n, MAX_TOKENS), dtype=np.int64)
        lengths = rng.integers(1, MAX_TOKENS + 1, size=n)
        x[np.arange(MAX_TOKENS)[None, :] >= lengths[:, None]] = 0  # trailing padding
    return x, rng.integers(0, NUM_CLASSES, size=n, dtype=np.int64)


@pytest.mark.parametrize("family", IMAGE_FAMILIES + TEXT_FAMILIES)
def test_builder_contract_shapes_dtypes_and_softmax(family):
    hparams = _hparams(family)
    model = get_family(family).build_model(hparams)
    assert model.input_names == [hparams["input_name"]]
    expected_in = ((None,) + F.IMAGE_SHAPE, tf.float32) if family in IMAGE_FAMILIES \
        else ((None, MAX_TOKENS), tf.int64)
    assert (tuple(model.inputs[0].shape), model.inputs[0].dtype) == expected_in
    x, _ = _batch(family, n=5)
    probs = model({hparams["input_name"]: x}, training=False)
    assert probs.shape == (5, NUM_CLASSES) and probs.dtype == tf.float32
    np.testing.assert_allclose(tf.reduce_sum(probs, axis=1), np.ones(5), rtol=1e-5)
    assert model.optimizer is not None, "build_model must return a compiled model"


@pytest.mark.parametrize("family", IMAGE_FAMILIES + TEXT_FAMILIES)
def test_one_gradient_step_lowers_the_loss(family):
    """One step of the compiled optimizer on the compiled loss, run eagerly
    (tracing Keras' train_function would cost far more than the step)."""
    tf.keras.utils.set_random_seed(1)
    hparams = _hparams(family)
    model = get_family(family).build_model(hparams)
    x, y = _batch(family)
    inputs = {hparams["input_name"]: x}

    def loss():  # training mode: batch-norm uses batch statistics, as in the step
        return model.loss(y, model(inputs, training=True))

    with tf.GradientTape() as tape:
        before = loss()
    grads = tape.gradient(before, model.trainable_variables)
    assert all(g is not None for g in grads)
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
    assert float(loss()) < float(before)


def test_resnet_has_projection_shortcuts_and_halves_resolution():
    model = get_family("resnet").build_model(_hparams("resnet", stage_filters=[8, 16, 32],
                                                      blocks_per_stage=1))
    one_by_one = [l for l in model.layers if isinstance(l, tf.keras.layers.Conv2D)
                  and l.kernel_size == (1, 1)]
    assert [l.strides for l in one_by_one] == [(2, 2), (2, 2)]
    assert [l.output.shape[1] for l in one_by_one] == [14, 7]
    assert any(isinstance(l, tf.keras.layers.BatchNormalization) for l in model.layers)


@pytest.mark.parametrize("family", TEXT_FAMILIES)
def test_padding_embedding_does_not_change_text_predictions(family):
    """Overwriting the embedding of id 0 changes nothing: padding is masked in
    the recurrence / attention and in pooling. An all-padding row stays finite."""
    hparams = _hparams(family)
    model = get_family(family).build_model(hparams)
    x, _ = _batch(family)
    x[0] = 0  # an empty text
    inputs = {hparams["input_name"]: x}
    before = model(inputs, training=False).numpy()
    assert np.all(np.isfinite(before))
    tokens = [w for w in model.weights if "embedding" in w.name and w.shape[0] == VOCAB]
    assert len(tokens) == 1, [w.name for w in model.weights]
    tokens[0].assign(tf.tensor_scatter_nd_update(
        tokens[0], [[0]], 100.0 * tf.ones([1, tokens[0].shape[1]])))
    np.testing.assert_allclose(model(inputs, training=False).numpy(), before,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family, bad, message", [
    ("cnn", {"filters": [32]}, "must hold 2 ints"),
    ("resnet", {"stage_filters": []}, "stage"),
    ("transformer", {"embedding_dim": 30, "num_heads": 4}, "divisible"),
])
def test_bad_hparams_are_named_in_the_error(family, bad, message):
    with pytest.raises(ValueError, match=message):
        get_family(family).build_model(_hparams(family, **bad))


def test_blessing_thresholds_exceed_what_a_one_class_model_scores(data_dir):
    """A collapsed model (one class for every input) is never blessed: binary
    tasks are blessed on AUC, where constant scores give 0.5; multi-class tasks
    on accuracy, where one class scores its share of the real eval labels."""
    import os
    from tfxp.components.tfds_builders import fashion_mnist as fm
    from tfxp.models.registry import FAMILIES
    from tfxp.core.datasets import get_dataset

    labels = fm.read_idx(os.path.join(data_dir, "fashion_mnist", fm.FILES["test"][1]))
    one_class_accuracy = {"fashion_mnist": np.bincount(labels).max() / labels.size}
    for family in FAMILIES.values():
        dataset = get_dataset(family.default_dataset)
        collapsed = 0.5 if dataset.num_classes == 2 else one_class_accuracy[dataset.name]
        assert family.metric_threshold >= collapsed + 0.1, (family.name, collapsed)


def test_cosine_schedule_warms_up_to_the_rate_then_decays_to_zero():
    from tfxp.models.common import learning_rate_schedule

    cosine = {"name": "cosine", "warmup_steps": 400}
    rate = learning_rate_schedule({"learning_rate": 2e-3, "lr_schedule": cosine,
                                   "total_steps": 4680})
    values = [float(rate(step)) for step in (0, 200, 400, 2540, 4680)]
    assert values == pytest.approx([1e-4, 1.05e-3, 2e-3, 1e-3, 0.0], abs=1e-6)
    # A short run warms up for a tenth of its steps, not 400.
    short = learning_rate_schedule({"learning_rate": 2e-3, "lr_schedule": cosine,
                                    "total_steps": 15})
    assert float(short(1)) == pytest.approx(2e-3)
    assert learning_rate_schedule({"learning_rate": 1e-3}) == 1e-3


def test_weight_decay_shrinks_kernels_by_rate_times_decay_and_spares_biases_and_norms():
    """AdamW (``weight_decay`` > 0): a step with zero gradients moves no
    weight through Adam (its moments are zero) and multiplies each kernel
    and embedding by ``1 - learning_rate * weight_decay``; biases and layer
    norm scales/offsets stay (``models.common.compile_classifier``)."""
    import tf_keras as keras

    hparams = _hparams("transformer", weight_decay=0.5, learning_rate=0.01)
    model = get_family("transformer").build_model(hparams)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    before = {w.name: w.numpy() for w in model.trainable_variables}
    model.optimizer.apply_gradients(
        [(tf.zeros_like(w), w) for w in model.trainable_variables])
    spared = ("bias", "gamma", "beta")
    decayed = 0
    for w in model.trainable_variables:
        if any(s in w.name for s in spared):
            np.testing.assert_array_equal(w.numpy(), before[w.name], err_msg=w.name)
        else:
            np.testing.assert_allclose(w.numpy(), before[w.name] * (1 - 0.01 * 0.5),
                                       rtol=1e-6, err_msg=w.name)
            decayed += 1
    assert decayed >= 8  # embeddings, attention and feed-forward kernels, the head
    plain = get_family("transformer").build_model(_hparams("transformer"))
    assert type(plain.optimizer) is keras.optimizers.Adam


def test_embedding_dropout_acts_in_training_only():
    hparams = _hparams("transformer", embedding_dropout=0.5)
    model = get_family("transformer").build_model(hparams)
    x, _ = _batch("transformer")
    inputs = {hparams["input_name"]: x}
    inference = [model(inputs, training=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    assert not np.allclose(model(inputs, training=True).numpy(), inference[0])
