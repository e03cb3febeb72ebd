"""A push in a child process that SIGKILLs itself at a chosen point.

Run as ``python -m tests.reliability.push_child MODEL BASE KILL_AT [--now T]
[--slow S]``. It calls ``serving.versions.push_atomically(MODEL, BASE)`` with
the filesystem calls the push makes instrumented as numbered *kill points*:

- before each file copy, and half-way through it (half the bytes written);
- before each ``os.fsync``;
- before the ``os.rename`` that publishes the version, and right after it.

At point number ``KILL_AT`` (1-based) the process sends itself SIGKILL: the
same uncatchable ``kill -9`` an operator or the OOM killer delivers, but at a
reproducible place. ``KILL_AT`` 0 never kills; the process then prints
``points=<K> version=<V> written=<0|1>`` so the caller learns how many points
a push has. ``--slow S`` sleeps S seconds before each file copy, so that
concurrent pushers overlap. No TensorFlow is imported: the push is pure
filesystem work.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time

from tfxp.serving import versions


class KillPoints:
    """Counts instrumented calls and SIGKILLs the process at number ``kill_at``."""

    def __init__(self, kill_at: int, slow: float = 0.0):
        self.kill_at, self.slow, self.count = kill_at, slow, 0

    def point(self) -> None:
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self) -> None:
        real_copytree, real_fsync, real_rename = shutil.copytree, os.fsync, os.rename

        def copy2(src, dst, *, follow_symlinks=True):
            if self.slow:
                time.sleep(self.slow)
            self.point()
            with open(src, "rb") as f:
                data = f.read()
            with open(dst, "wb") as out:
                out.write(data[:len(data) // 2])
                out.flush()
                self.point()  # a half-written file on disk
                out.write(data[len(data) // 2:])
            shutil.copystat(src, dst)
            return dst

        def copytree(src, dst, *args, **kwargs):
            # copytree recurses through the module attribute with positional
            # (symlinks, ignore, copy_function, ...) arguments.
            if len(args) >= 3:
                args = args[:2] + (copy2,) + args[3:]
            else:
                kwargs["copy_function"] = copy2
            return real_copytree(src, dst, *args, **kwargs)

        def fsync(fd):
            self.point()
            return real_fsync(fd)

        def rename(src, dst, **kwargs):
            self.point()
            result = real_rename(src, dst, **kwargs)
            self.point()  # published, directory not yet fsynced
            return result

        shutil.copytree, os.fsync, os.rename = copytree, fsync, rename


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("base")
    parser.add_argument("kill_at", type=int)
    parser.add_argument("--now", type=float)
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args(argv)
    points = KillPoints(args.kill_at, args.slow)
    points.install()
    version, written = versions.push_atomically(args.model, args.base, now=args.now)
    print(f"points={points.count} version={version} written={int(written)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
