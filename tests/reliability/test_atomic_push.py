"""A serving folder never holds a half-written model.

``serving.versions.push_atomically`` copies into a non-numeric temporary
folder, fsyncs, then renames it to the integer version. These tests kill
real push processes with SIGKILL at seeded random points of that sequence
(``tests.reliability.push_child``), and race pushers against each other,
then check what a model server would see: every integer folder is a complete
copy of a pushed model (same digest), the latest one loads with
``tf.saved_model.load`` and answers, and a rerun completes the push.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfxp.serving.versions import TMP_PREFIX, list_versions, push_atomically, saved_model_digest
from tests.conftest import PROJECT_ROOT

TRIALS = 20
SEED = 20261130
SIZE = 64


class _Linear(tf.Module):
    """``y = x @ w``: a real SavedModel of ~20 KB with a serving signature."""

    def __init__(self, seed: int):
        super().__init__()
        self.w = tf.Variable(tf.random.stateless_normal([SIZE, SIZE], seed=[seed, 0]))

    @tf.function(input_signature=[tf.TensorSpec([None, SIZE], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w)}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Four distinct SavedModels: ``[(path, digest, weights float32 [64, 64])]``."""
    out = []
    for seed in range(4):
        module = _Linear(seed)
        path = str(tmp_path_factory.mktemp(f"model{seed}"))
        tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
        out.append((path, saved_model_digest(path), module.w.numpy()))
    assert len({digest for _, digest, _ in out}) == 4
    return out


def _push_child(model: str, base: str, kill_at: int, now=None, slow=0.0) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.reliability.push_child", model, base, str(kill_at)]
    if now is not None:
        cmd += ["--now", str(now)]
    if slow:
        cmd += ["--slow", str(slow)]
    return subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _parse(stdout: str) -> dict:
    return dict(item.split("=") for item in stdout.split())


def _assert_serves(version_dir: str, weights: np.ndarray) -> None:
    """The version loads and its signature computes ``x @ weights``."""
    loaded = tf.saved_model.load(version_dir)
    x = np.arange(2 * SIZE, dtype=np.float32).reshape(2, SIZE) / SIZE
    y = loaded.signatures["serving_default"](x=tf.constant(x))["y"].numpy()
    np.testing.assert_allclose(y, x @ weights, rtol=1e-5, atol=1e-5)


def test_push_killed_at_random_points_never_leaves_a_partial_version(models, tmp_path):
    base = str(tmp_path / "serving" / "model")
    by_digest = {digest: weights for _, digest, weights in models}
    first, second = models[0], models[1]
    push_atomically(first[0], base)  # the version being served before the trials

    dry = _push_child(second[0], str(tmp_path / "dry"), 0)
    out, err = dry.communicate(timeout=120)
    assert dry.returncode == 0, err
    points = int(_parse(out)["points"])
    assert points >= 10, out  # copies, half-copies, fsyncs, rename

    rng = random.Random(SEED)
    killed_before_publish = killed_after_publish = 0
    for trial in range(TRIALS):
        previous = saved_model_digest(os.path.join(base, str(list_versions(base)[-1])))
        source, digest, _ = models[(trial + 1) % 2]
        assert digest != previous
        kill_at = rng.randint(1, points)
        child = _push_child(source, base, kill_at)
        child.communicate(timeout=120)
        assert child.returncode == -9, (trial, kill_at, child.returncode)

        # No integer folder is partial: each is a byte-exact pushed model.
        versions = list_versions(base)
        assert all(saved_model_digest(os.path.join(base, str(v))) in by_digest
                   for v in versions), (trial, kill_at)
        latest = saved_model_digest(os.path.join(base, str(versions[-1])))
        if latest == previous:
            killed_before_publish += 1
        else:
            assert latest == digest, (trial, kill_at)
            killed_after_publish += 1
        # What a server polling now would load still answers correctly.
        _assert_serves(os.path.join(base, str(versions[-1])), by_digest[latest])

        # A rerun completes the push and clears the dead push's temp folder.
        version, _ = push_atomically(source, base)
        assert version == list_versions(base)[-1]
        assert saved_model_digest(os.path.join(base, str(version))) == digest
        assert not [n for n in os.listdir(base) if n.startswith(TMP_PREFIX)]
    assert killed_before_publish and killed_after_publish, (
        killed_before_publish, killed_after_publish)
    _assert_serves(os.path.join(base, str(list_versions(base)[-1])),
                   by_digest[models[TRIALS % 2][1]])


def test_two_pushes_in_the_same_second_get_increasing_versions(models, tmp_path):
    base = str(tmp_path / "model")
    now = 1_700_000_000.5
    assert push_atomically(models[0][0], base, now=now) == (1_700_000_000, True)
    assert push_atomically(models[1][0], base, now=now) == (1_700_000_001, True)
    # The clock going backwards cannot lower a version either.
    assert push_atomically(models[0][0], base, now=now - 60) == (1_700_000_002, True)
    # Identical bytes as the latest: nothing written, the latest is reported.
    assert push_atomically(models[0][0], base, now=now) == (1_700_000_002, False)
    assert list_versions(base) == [1_700_000_000, 1_700_000_001, 1_700_000_002]


def test_concurrent_pushers_do_not_clobber_each_other(models, tmp_path):
    """Four processes push four models at the same ``now``: each lands whole in
    its own version, none deletes another's temporary folder."""
    base = str(tmp_path / "model")
    os.makedirs(base)
    now = time.time()
    children = [_push_child(path, base, 0, now=now, slow=0.05) for path, _, _ in models]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(_parse(out))
    pushed = sorted(int(r["version"]) for r in results)
    assert all(r["written"] == "1" for r in results)
    assert pushed == list_versions(base) and len(set(pushed)) == 4
    assert pushed == list(range(int(now), int(now) + 4))
    assert {saved_model_digest(os.path.join(base, str(v))) for v in pushed} == {
        digest for _, digest, _ in models}
    assert not [n for n in os.listdir(base) if n.startswith(TMP_PREFIX)]
