"""Training-input augmentation (``models.training.augment``): each image is
flipped and shifted on its own, within the configured bounds, and labels
and other features pass through untouched. The serving graph never sees
it: ``run_fn`` maps it over the training dataset only."""
import numpy as np
import tensorflow as tf

from tfxp.models.training import augment

KEY = "image_xf"


def _batch(n=64):
    x = np.zeros((n, 28, 28, 1), np.float32)
    x[:, 10:18, 3:7, 0] = 1.0  # a bar left of centre: its mirror is at columns 21..24
    return {KEY: tf.constant(x), "other": tf.range(n)}, tf.range(n)


def test_flips_mirror_some_images_and_keep_the_others():
    features, labels = _batch()
    out, out_labels = augment({"horizontal_flip": True})(features, labels)
    image, original = out[KEY].numpy(), features[KEY].numpy()
    mirrored = original[:, :, ::-1]
    is_same = [np.array_equal(a, b) for a, b in zip(image, original)]
    is_mirror = [np.array_equal(a, b) for a, b in zip(image, mirrored)]
    assert all(s or m for s, m in zip(is_same, is_mirror))
    assert 0 < sum(is_mirror) < len(image)  # per image, not per batch
    np.testing.assert_array_equal(out_labels.numpy(), labels.numpy())
    np.testing.assert_array_equal(out["other"].numpy(), features["other"].numpy())


def test_shifts_move_each_image_by_at_most_the_configured_pixels():
    features, labels = _batch()
    image = augment({"shift_pixels": 2})(features, labels)[0][KEY].numpy()
    columns = [np.argwhere(i[..., 0] > 0.5)[:, 1] for i in image]
    rows = [np.argwhere(i[..., 0] > 0.5)[:, 0] for i in image]
    assert all(1 <= c.min() and c.max() <= 8 for c in columns)  # 3..6 moved by <= 2
    assert all(8 <= r.min() and r.max() <= 19 for r in rows)    # 10..17 moved by <= 2
    assert len({(c.min(), r.min()) for c, r in zip(columns, rows)}) > 1
    np.testing.assert_allclose(image.sum(axis=(1, 2, 3)), 32.0, rtol=1e-4)
