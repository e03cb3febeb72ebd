"""The Dense builder: shapes, dtypes, and that training lowers the loss."""
import numpy as np
import tensorflow as tf

from tfxp.models.dense import build_model

HPARAMS = {"numeric_features": ["a_xf", "b_xf"],
           "categorical_features": {"c_xf": 5, "d_xf": 3},
           "hidden_units": [16, 8], "dropout": 0.0, "num_classes": 2,
           "learning_rate": 1e-2}


def _batch(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = {"a_xf": rng.normal(size=n).astype("float32"),
         "b_xf": rng.normal(size=n).astype("float32"),
         "c_xf": rng.integers(0, 5, n), "d_xf": rng.integers(0, 3, n)}
    y = ((x["a_xf"] + (x["c_xf"] == 2)) > 0.5).astype("int64")
    return x, y


def test_dense_maps_named_inputs_to_class_probabilities():
    model = build_model(HPARAMS)
    assert sorted(model.input_names) == ["a_xf", "b_xf", "c_xf", "d_xf"]
    x, _ = _batch(7)
    probs = model(x)
    assert probs.shape == (7, 2) and probs.dtype == tf.float32
    np.testing.assert_allclose(probs.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_dense_gradient_steps_lower_the_loss():
    tf.keras.utils.set_random_seed(1)
    model = build_model(HPARAMS)
    x, y = _batch()
    before = model.evaluate(x, y, verbose=0)[0]
    for _ in range(5):
        model.train_on_batch(x, y)
    assert model.evaluate(x, y, verbose=0)[0] < before


def test_categorical_embeddings_are_rows_of_one_table_at_each_features_offset():
    """With ``categorical_embedding_dim`` E the first weight is one table of
    5 + 3 rows (feature ``d_xf``'s id i is row 5 + i), and the first hidden
    layer sees ``[table[c], table[5 + d], a, b]``, checked against numpy."""
    import tf_keras as keras

    model = build_model({**HPARAMS, "categorical_embedding_dim": 4})
    table = model.weights[0]
    assert table.name.startswith("categorical_embeddings") and table.shape == (8, 4)
    concat = next(l for l in model.layers if isinstance(l, keras.layers.Concatenate))
    features = keras.Model(model.inputs, concat.output)
    x, _ = _batch(6)
    t = table.numpy()
    expected = np.concatenate([t[x["c_xf"]], t[5 + x["d_xf"]], x["a_xf"][:, None],
                               x["b_xf"][:, None]], axis=1)
    np.testing.assert_allclose(features(x).numpy(), expected, rtol=1e-6)


def test_embedded_dense_gradient_steps_lower_the_loss():
    tf.keras.utils.set_random_seed(1)
    model = build_model({**HPARAMS, "categorical_embedding_dim": 4})
    x, y = _batch()
    before = model.evaluate(x, y, verbose=0)[0]
    for _ in range(5):
        model.train_on_batch(x, y)
    assert model.evaluate(x, y, verbose=0)[0] < before
