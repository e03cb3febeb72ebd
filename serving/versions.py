"""The model-folder layout TF Serving reads, and the atomic push into it.

Layout (TF Serving's file_system_storage_path_source.cc): every direct child
of ``model_base_path`` whose name is an integer is a version of the model;
anything else (our temporary ``.push-*`` folders included) is ignored.

TFX's own Pusher copies files straight into ``<base>/<unix time>``, so a
server polling during the copy can see a half-written version, and two pushes
within one second collide. ``push_atomically`` instead copies into a
non-numeric temporary folder on the same filesystem, fsyncs every file, then
``os.rename``s it to the integer version: POSIX rename is atomic, so a reader
sees no version or a complete one.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
import uuid
from typing import List, Optional

TMP_PREFIX = ".push-"
# A temporary folder whose owner cannot be checked (another host) is taken
# for abandoned once it has not changed for this long.
STALE_AFTER_S = 3600.0
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def list_versions(base_path: str) -> List[int]:
    """Integer version folders under ``base_path``, ascending; [] if none."""
    if not os.path.isdir(base_path):
        return []
    return sorted(int(name) for name in os.listdir(base_path)
                  if name.isdigit() and os.path.isdir(os.path.join(base_path, name)))


def saved_model_digest(model_dir: str) -> str:
    """SHA-256 hex digest over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(model_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, model_dir).encode())
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


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
    if len(parts) == 3 and parts[0] == host and parts[1].isdigit():
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


def push_atomically(model_dir: str, base_path: str,
                    now: Optional[float] = None) -> tuple[int, bool]:
    """Publishes the SavedModel at ``model_dir`` as a new version of ``base_path``.

    The version is ``max(int(now), latest + 1)``: Unix seconds like TFX's
    Pusher, yet strictly increasing even for two pushes in the same second.
    If the latest version already holds identical bytes, nothing is written.

    Args:
      model_dir: a SavedModel folder (must hold ``saved_model.pb``).
      base_path: the model's base path; created if missing.
      now: Unix time in seconds; defaults to ``time.time()``.
    Returns:
      ``(version, pushed)``: the version now serving this model, and whether
      this call wrote it (False when it was already the latest).
    Raises:
      FileNotFoundError: ``model_dir`` holds no SavedModel.
    """
    if not any(os.path.isfile(os.path.join(model_dir, f)) for f in SAVED_MODEL_FILES):
        raise FileNotFoundError(f"no saved_model.pb in {model_dir!r}")
    os.makedirs(base_path, exist_ok=True)
    clean_partial_pushes(base_path)
    versions = list_versions(base_path)
    digest = saved_model_digest(model_dir)
    if versions and saved_model_digest(
            os.path.join(base_path, str(versions[-1]))) == digest:
        return versions[-1], False
    tmp = os.path.join(base_path, _tmp_name())
    shutil.copytree(model_dir, tmp)
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
