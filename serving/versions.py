"""The model-folder layout TF Serving reads, and the atomic push into it.

Layout (TF Serving's file_system_storage_path_source.cc): every direct child
of ``model_base_path`` whose name is an integer is a version of the model;
anything else (our temporary ``.push-*`` folders included) is ignored.

Paths are local paths or URIs (``gs://``, ``s3://``, ``ram://``: anything
with ``://``); URIs are read and written through ``tf.io.gfile``, the layer
TFX's executors and TF Serving's own ``Env`` use, so a Kubeflow pipeline
whose root is a bucket pushes into the bucket.

TFX's own Pusher copies files straight into ``<base>/<unix time>``, so a
server polling during the copy can see a half-written version, and two pushes
within one second collide. ``push_atomically`` instead:

- **local base path:** copies into a non-numeric temporary folder on the
  same filesystem, fsyncs every file, then ``os.rename``s it to the integer
  version: POSIX rename is atomic, so a reader sees no version or a complete
  one.
- **URI base path:** object stores have no atomic rename (GCS "renames" a
  folder object by object), so the files are written straight into the final
  integer folder, every file but ``saved_model.pb`` first and
  ``saved_model.pb`` last. That is the file TF's loader checks before it
  reads anything (``MaybeSavedModelDirectory`` in tensorflow/cc/saved_model/
  loader.cc: a folder without it is "SavedModel not found"), and an object
  is visible only once its upload completed, so a folder holding
  ``saved_model.pb`` holds the whole model. A push that fails midway removes
  what it wrote, ``saved_model.pb`` never among it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import time
import uuid
from typing import Dict, List, Optional, Tuple

from tfxp.core.uris import dirname, is_uri, join

TMP_PREFIX = ".push-"
# A temporary folder whose owner cannot be checked (another host) is taken
# for abandoned once it has not changed for this long.
STALE_AFTER_S = 3600.0
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def _gfile():
    # Imported only for URIs: a local push imports no TensorFlow
    # (tests/reliability/push_child.py times the filesystem work alone).
    import tensorflow as tf
    return tf.io.gfile


# A version folder's name: base-10 ASCII digits, as TF Serving's
# ParseVersionNumber (safe_strto64) reads them. ``str.isdigit`` is not that
# test: it accepts "²" or Arabic-Indic digits, which ``int`` then rejects or
# reads as a number TF Serving would never see.
_VERSION_NAME = re.compile(r"[0-9]+")
_INT64_MAX = (1 << 63) - 1


def version_number(name: str) -> Optional[int]:
    """The version a child named ``name`` stands for, or None.

    Only canonical names count (``"7"``, not ``"007"``): a version's folder
    is found again as ``<base>/<str(version)>`` everywhere in this project.
    TF Serving would also read ``"007"`` (and ``"+7"``) as 7; ignoring such a
    name is the safe side, and the server logs it (``scan_versions``).
    """
    if not _VERSION_NAME.fullmatch(name):
        return None
    value = int(name)
    if value > _INT64_MAX or str(value) != name:
        return None
    return value


def scan_versions(base_path: str) -> Tuple[List[int], List[str]]:
    """``(versions ascending, ignored child names sorted)`` under ``base_path``.

    A child is a version when ``version_number`` reads its name (and, for a
    local path, it is a folder); every other child is ignored, as
    file_system_storage_path_source.cc skips names it cannot parse, and
    reported in the second list, except our own ``.push-*`` temporaries and
    other hidden names. For URIs, as that source does, a child is the part of
    a listed name before the first ``/`` (object stores may list nested
    names, or folders with a trailing ``/``), and is not checked to be a
    folder, which would cost one request per child. A missing base path is
    ``([], [])``.
    """
    if is_uri(base_path):
        gfile = _gfile()
        if not gfile.isdir(base_path):
            return [], []
        names = {name.split("/", 1)[0] for name in gfile.listdir(base_path)}
        is_dir = None
    else:
        if not os.path.isdir(base_path):
            return [], []
        names = set(os.listdir(base_path))
        is_dir = lambda name: os.path.isdir(os.path.join(base_path, name))  # noqa: E731
    versions, ignored = [], []
    for name in names:
        version = version_number(name)
        if version is not None and (is_dir is None or is_dir(name)):
            versions.append(version)
        elif not name.startswith("."):
            ignored.append(name)
    return sorted(versions), sorted(ignored)


def list_versions(base_path: str) -> List[int]:
    """Integer version folders under ``base_path``, ascending; [] if none
    (``scan_versions`` without the ignored names)."""
    return scan_versions(base_path)[0]


def has_saved_model(model_dir: str) -> bool:
    """Whether ``model_dir`` holds ``saved_model.pb`` or ``.pbtxt``: TF's
    ``MaybeSavedModelDirectory``, the check its loader makes first."""
    if is_uri(model_dir):
        gfile = _gfile()
        return any(gfile.exists(join(model_dir, name)) for name in SAVED_MODEL_FILES)
    return any(os.path.isfile(os.path.join(model_dir, name)) for name in SAVED_MODEL_FILES)


def relative_files(model_dir: str) -> List[str]:
    """Every file under ``model_dir``, as sorted ``/``-separated relative paths."""
    if is_uri(model_dir):
        top, walk, sep = model_dir.rstrip("/"), _gfile().walk, "/"
    else:
        top, walk, sep = model_dir, os.walk, os.sep
    out = []
    for root, _, files in walk(top):
        rel = root[len(top):].strip(sep + "/").replace(sep, "/")
        out.extend(f"{rel}/{name}" if rel else name for name in files)
    return sorted(out)


def _open(path: str):
    return _gfile().GFile(path, "rb") if is_uri(path) else open(path, "rb")


def saved_model_digest(model_dir: str) -> str:
    """SHA-256 hex digest over every file's relative path and bytes; equal
    for equal trees whether local or behind a URI."""
    digest = hashlib.sha256()
    for rel in relative_files(model_dir):
        digest.update(rel.encode())
        with _open(join(model_dir, *rel.split("/"))) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def copy_tree(src: str, dst: str) -> None:
    """Copies every file under ``src`` into ``dst`` (local paths or URIs)
    through tf.io.gfile; empty folders are not copied.

    Raises:
      tf.errors.OpError: a read or write failed, or a file exists in ``dst``.
    """
    _copy_files(src, relative_files(src), dst, [])


def _copy_files(model_dir: str, files: List[str], target: str, written: List[str]) -> None:
    """Copies ``files`` (relative, in this order) from ``model_dir`` to
    ``target`` through tf.io.gfile, appending each finished copy to ``written``.
    An existing file is never overwritten (a racing pusher's error, not ours
    to clobber)."""
    gfile = _gfile()
    for rel in files:
        dst = join(target, *rel.split("/"))
        gfile.makedirs(dirname(dst))
        gfile.copy(join(model_dir, *rel.split("/")), dst, overwrite=False)
        written.append(dst)


def _fsync_tree(path: str) -> None:
    for root, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _tmp_name() -> str:
    """``.push-<host>-<pid>-<random>``: names the pushing process."""
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{TMP_PREFIX}{host}-{os.getpid()}-{uuid.uuid4().hex}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _abandoned(base_path: str, name: str, now: float) -> bool:
    """True when the temporary folder ``name``'s pushing process is gone.

    The owner is known from the name on this host (its pid no longer runs);
    for other hosts, or names without an owner, the folder must have been
    untouched for ``STALE_AFTER_S``. A concurrent push's folder is never
    taken, so two pushers cannot delete each other's work.
    """
    parts = name[len(TMP_PREFIX):].split("-")
    host = socket.gethostname().replace("-", "_") or "host"
    if len(parts) == 3 and parts[0] == host and _VERSION_NAME.fullmatch(parts[1]):
        return not _pid_alive(int(parts[1]))
    try:
        return now - os.path.getmtime(os.path.join(base_path, name)) > STALE_AFTER_S
    except FileNotFoundError:
        return False


def clean_partial_pushes(base_path: str) -> List[str]:
    """Removes temporary folders of interrupted pushes; returns their names.

    Only abandoned ones (see ``_abandoned``): folders of pushes still running
    in other processes are left alone.
    """
    removed = []
    now = time.time()
    if os.path.isdir(base_path):
        for name in os.listdir(base_path):
            if name.startswith(TMP_PREFIX) and _abandoned(base_path, name, now):
                shutil.rmtree(os.path.join(base_path, name), ignore_errors=True)
                removed.append(name)
    return removed


def _digest_with(model_dir: str, extra_files: Dict[str, bytes]) -> str:
    """``saved_model_digest`` of ``model_dir`` with ``extra_files`` (relative
    path -> bytes) added or replacing files: the digest the pushed folder
    will have."""
    if not extra_files:
        return saved_model_digest(model_dir)
    digest = hashlib.sha256()
    for rel in sorted(set(relative_files(model_dir)) | set(extra_files)):
        digest.update(rel.encode())
        if rel in extra_files:
            digest.update(extra_files[rel])
            continue
        with _open(join(model_dir, *rel.split("/"))) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _write_extra(target: str, extra_files: Dict[str, bytes]) -> List[str]:
    """Writes ``extra_files`` under ``target`` (local or URI); returns paths."""
    written = []
    for rel, data in sorted(extra_files.items()):
        path = join(target, *rel.split("/"))
        if is_uri(path):
            _gfile().makedirs(dirname(path))
            with _gfile().GFile(path, "wb") as f:
                f.write(data)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.remove(path)  # a copied file (or link) is replaced, not written through
            with open(path, "wb") as f:
                f.write(data)
        written.append(path)
    return written


def push_atomically(model_dir: str, base_path: str,
                    now: Optional[float] = None,
                    extra_files: Optional[Dict[str, bytes]] = None) -> tuple[int, bool]:
    """Publishes the SavedModel at ``model_dir`` as a new version of ``base_path``.

    The version is ``max(int(now), latest + 1)``: Unix seconds like TFX's
    Pusher, yet strictly increasing even for two pushes in the same second.
    If the latest version already holds identical bytes, nothing is written.
    A local ``base_path`` gets the version by an atomic rename, a URI one
    file by file with ``saved_model.pb`` last (see the module docstring).

    Args:
      model_dir: a SavedModel folder (must hold ``saved_model.pb``); local
        path or URI.
      base_path: the model's base path, local path or URI; created if missing.
      now: Unix time in seconds; defaults to ``time.time()``.
      extra_files: ``{relative path: bytes}`` written into the version with
        the model, e.g. ``assets.extra/tf_serving_warmup_requests``
        (``serving.warmup``); they are part of the same atomic publication
        (written before ``saved_model.pb`` on object stores).
    Returns:
      ``(version, pushed)``: the version now serving this model, and whether
      this call wrote it (False when it was already the latest).
    Raises:
      FileNotFoundError: ``model_dir`` holds no SavedModel.
      tf.errors.OpError: a URI could not be read or written; what this call
        wrote of the version is removed first.
    """
    if not has_saved_model(model_dir):
        raise FileNotFoundError(f"no saved_model.pb in {model_dir!r}")
    extra_files = dict(extra_files or {})
    for rel in extra_files:
        if rel in SAVED_MODEL_FILES or rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"extra file {rel!r} must be a relative path inside the version "
                             f"and not the SavedModel file")
    if is_uri(base_path):
        return _push_to_object_store(model_dir, base_path, now, extra_files)
    os.makedirs(base_path, exist_ok=True)
    clean_partial_pushes(base_path)
    versions = list_versions(base_path)
    digest = _digest_with(model_dir, extra_files)
    if versions and saved_model_digest(
            os.path.join(base_path, str(versions[-1]))) == digest:
        return versions[-1], False
    tmp = os.path.join(base_path, _tmp_name())
    if is_uri(model_dir):  # e.g. a gs:// pipeline root, serving base on a volume
        copy_tree(model_dir, tmp)
    else:
        shutil.copytree(model_dir, tmp)
    _write_extra(tmp, extra_files)
    _fsync_tree(tmp)
    while True:
        versions = list_versions(base_path)
        version = max(int(now if now is not None else time.time()),
                      (versions[-1] + 1) if versions else 0)
        target = os.path.join(base_path, str(version))
        try:
            # rename(2) onto an existing non-empty folder fails, so a racing
            # pusher that took this number first makes us retry, not clobber.
            os.rename(tmp, target)
            break
        except OSError:
            if not os.path.exists(target):
                raise
    dir_fd = os.open(base_path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return version, True


def _push_to_object_store(model_dir: str, base_path: str, now: Optional[float],
                          extra_files: Dict[str, bytes]) -> tuple[int, bool]:
    """``push_atomically`` for a URI base path: no rename, ``saved_model.pb`` last.

    The identical-bytes check compares with the latest version that holds a
    ``saved_model.pb`` (the one a server loads); a version number is never
    reused, even one a failed push left without ``saved_model.pb``. Two
    pushers racing for one number on an object store are caught only by the
    existence check before writing (no atomic create), which TFX's own
    Pusher does not have either.
    """
    gfile = _gfile()
    gfile.makedirs(base_path)
    files = relative_files(model_dir)
    versions = list_versions(base_path)
    ready = [v for v in versions if has_saved_model(join(base_path, str(v)))]
    if ready and saved_model_digest(join(base_path, str(ready[-1]))) == \
            _digest_with(model_dir, extra_files):
        return ready[-1], False
    version = max(int(now if now is not None else time.time()),
                  (versions[-1] + 1) if versions else 0)
    while gfile.exists(join(base_path, str(version))):
        version += 1
    target = join(base_path, str(version))
    last = {name: rank for rank, name in enumerate(reversed(SAVED_MODEL_FILES), 1)}
    written: List[str] = []
    try:
        files = [rel for rel in files if rel not in extra_files]
        written.extend(_write_extra(target, extra_files))
        _copy_files(model_dir, sorted(files, key=lambda rel: (last.get(rel, 0), rel)),
                    target, written)
    except BaseException:
        for path in reversed(written):  # saved_model.pb, if written, goes first
            try:
                gfile.remove(path)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        raise
    return version, True
