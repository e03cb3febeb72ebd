"""Comparisons shared by the serving tests: served answers vs in-process calls."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

RTOL, ATOL = 1e-6, 1e-7


def in_process(reference, examples, signature="serving_default"):
    """``signature`` of a ``tf.saved_model.load``-ed model called directly on
    serialized examples: ``{alias: ndarray}``."""
    outputs = reference.signatures[signature](inputs=tf.constant(examples, dtype=tf.string))
    return {k: v.numpy() for k, v in outputs.items()}


def assert_same(served, expected):
    """Same aliases, shapes and dtypes; strings equal, numbers
    ``allclose(rtol=1e-6, atol=1e-7)``."""
    assert set(served) == set(expected)
    for key, value in expected.items():
        assert served[key].shape == value.shape, key
        if value.dtype == object:
            assert served[key].tolist() == value.tolist(), key
        else:
            assert served[key].dtype == value.dtype, key
            np.testing.assert_allclose(served[key], value, rtol=RTOL, atol=ATOL, err_msg=key)
