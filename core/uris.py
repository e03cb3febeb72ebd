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
