"""Local paths and URIs (``gs://``, ``s3://``, ``ram://``) as one kind of path.

On Kubeflow every artifact lives under a pipeline root such as
``gs://bucket/root``; only ``tf.io.gfile`` (TFX's ``fileio``) can read it, and
``os.path`` helpers mangle it (``os.path.normpath('gs://b/x')`` is
``gs:/b/x``). These helpers tell the two apart and join them without
TensorFlow, so light modules (``serving.versions``) can use them too.
"""
from __future__ import annotations

import os
import posixpath


def is_uri(path: str) -> bool:
    """True for ``scheme://...`` paths, which only ``tf.io.gfile`` can reach."""
    return "://" in path


def join(base: str, *names: str) -> str:
    """``os.path.join`` for local paths; ``/``-joined for URIs."""
    if is_uri(base):
        return posixpath.join(base.rstrip("/"), *names)
    return os.path.join(base, *names)


def dirname(path: str) -> str:
    """``os.path.dirname`` for local paths; the URI's parent for URIs."""
    return posixpath.dirname(path) if is_uri(path) else os.path.dirname(path)


def abspath(path: str) -> str:
    """Local paths made absolute; URIs passed through unchanged."""
    return path if is_uri(path) else os.path.abspath(path)


def replace_file(path: str, data: bytes | str) -> None:
    """Writes ``data`` to ``path`` (local path or URI) whole, with
    ``tf.io.gfile``: to ``path + '.tmp'``, then renamed over ``path``.

    A reader never sees a partly written file (the rename is atomic on a
    local filesystem; an object store copies, then deletes, so the final
    object appears whole), and a file already at ``path`` is replaced. Plain
    rewriting is not enough on every filesystem: TF's ``ram://`` appends
    when a file is opened for writing again (``"wb"``) and when
    ``tf.io.gfile.copy`` overwrites, which doubled a rewritten
    ``saved_model.pb`` into two MetaGraphs.

    Raises:
      tf.errors.OpError: the folder is missing or not writable.
    """
    import tensorflow as tf

    tmp = path + ".tmp"
    if tf.io.gfile.exists(tmp):  # left by a crash; ram:// would append to it
        tf.io.gfile.remove(tmp)
    with tf.io.gfile.GFile(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)
