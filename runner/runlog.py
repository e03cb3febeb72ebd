"""Progress lines and a per-run log file for local pipeline runs.

``run_logging`` wraps one ``LocalDagRunner`` run:

- **Progress.** LocalDagRunner logs ``Component %s is running.`` and
  ``Component %s is finished.`` for every node, and the launcher logs ``A
  cached execution %d is used.`` on a cache hit (tfx/orchestration/local/
  local_dag_runner.py and portable/launcher.py at v1.16.0). ``ProgressHandler``
  turns those records into one start and one finish line per component, with
  its duration, e.g. ``[tfxp 01:05:53] Trainer: done in 374.9s (7/9)``.
- **Log file.** Everything the process writes to file descriptors 1 and 2
  (Python prints such as Keras' per-epoch lines, Python warnings, TF's C++
  logs, subprocesses like the module-file wheel build) is copied verbatim into
  ``<workspace>/logs/<run id>.log``, together with the INFO records of the
  third-party loggers (absl/TFX, TensorFlow, Beam).
- **Quiet console.** Unless ``verbose``, third-party log records below ERROR
  stay out of the console (they still reach the file), and so does the
  wheel-build chatter that ``setuptools`` prints when TFX packages the module
  file (see ``ConsoleFilter``).

The run id is only known once MLMD holds the run, so the file is written as
``logs/<pipeline>-<local time>.log`` and ``RunLog.finish`` renames it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
from typing import Callable, Iterator, List, Optional, TextIO

# Loggers of the libraries under the pipeline; their records go to the log
# file and, unless verbose, only ERROR+ of them to the console.
THIRD_PARTY_LOGGERS = ("absl", "tensorflow", "apache_beam", "tfx", "google",
                       "tensorflow_transform", "tensorflow_model_analysis",
                       "tensorflow_data_validation")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s:%(name)s:%(message)s"
PROGRESS_PREFIX = "[tfxp"

_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_CACHED = "A cached execution %d is used."
_SKIPPED = "Skipping component %s."


def progress_line(clock_s: float, component: str, event: str) -> str:
    """One progress line: ``[tfxp HH:MM:SS] <component>: <event>``.

    Args:
      clock_s: wall-clock time, seconds since the epoch (local time shown).
    """
    return f"{PROGRESS_PREFIX} {time.strftime('%H:%M:%S', time.localtime(clock_s))}] " \
           f"{component}: {event}"


class ProgressHandler(logging.Handler):
    """Writes component start/finish lines from LocalDagRunner's log records.

    Attach it to the ``absl`` logger at INFO. ``write`` receives whole lines
    without the trailing newline. ``total`` (number of pipeline nodes) adds an
    ``(i/total)`` counter to finish lines.
    """

    def __init__(self, write: Callable[[str], None], total: Optional[int] = None,
                 clock: Callable[[], float] = time.time):
        super().__init__(logging.INFO)
        self._write, self.total, self._clock = write, total, clock
        self.current: Optional[str] = None
        self._started = 0.0
        self._cached = False
        self.finished: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            args = record.args if isinstance(record.args, tuple) else ()
            if record.msg == _RUNNING and args:
                self.current, self._started, self._cached = str(args[0]), self._clock(), False
                self._write(progress_line(self._started, self.current, "started"))
            elif record.msg == _CACHED and self.current:
                self._cached = True
            elif record.msg == _FINISHED and args:
                now = self._clock()
                self.finished.append(str(args[0]))
                self._write(progress_line(
                    now, str(args[0]), f"{'cached' if self._cached else 'done'} in "
                    f"{now - self._started:.1f}s{self._counter()}"))
                self.current = None
            elif record.msg == _SKIPPED and args:
                self._write(progress_line(self._clock(), str(args[0]), "skipped"))
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)

    def _counter(self) -> str:
        return f" ({len(self.finished)}/{self.total})" if self.total else ""

    def failed(self, error: BaseException) -> None:
        """Writes the line of the component that was running when ``error``
        rose (nothing if none was, or it was reported already)."""
        if self.current is None:
            return
        now = self._clock()
        first_line = (str(error).splitlines() or [""])[0][:200]
        self._write(progress_line(now, self.current, f"FAILED after "
                                  f"{now - self._started:.1f}s: {type(error).__name__}: "
                                  f"{first_line}"))
        self.current = None


class ConsoleFilter:
    """Decides which captured output lines reach the console in quiet mode.

    Dropped (they still go to the log file):
    - the ``setup.py bdist_wheel`` output TFX triggers to package the module
      file (tfx/components/util/udf_utils.py runs it as a subprocess): from
      ``running bdist_wheel`` to its last line ``removing <tmp dir>`` on
      stdout, and ``warning: <cmd>: byte-compiling is disabled`` on stderr;
    - pip's lines when Transform and Trainer install that wheel into a temp
      folder (``Looking in indexes``, ``Processing .../_wheels/tfx_user_code_...``,
      ``Installing collected packages: tfx-user-code-...``, ``Successfully
      installed tfx-user-code-...``);
    - the XLA plugin-registration lines TF prints when it loads
      (``Unable to register cuDNN factory`` ...);
    - a blank line right after a dropped line.
    At most ``max_block`` lines are dropped as one wheel-build block, so an
    unexpected format cannot silence the console for the rest of the run.
    """
    WHEEL_START = re.compile(r"^running bdist_wheel\s*$")
    WHEEL_END = re.compile(r"^removing /")
    NOISE = re.compile(
        r"^warning: \w+: byte-compiling is disabled, skipping\.\s*$"
        r"|^Looking in (indexes|links): "
        r"|^Processing \S*/_wheels/tfx_user_code_"
        r"|^(Installing collected packages: |Successfully installed )tfx-user-code-"
        r"|Unable to register cu(DNN|FFT|BLAS) factory"
        r"|TF-TRT Warning: Could not find TensorRT")

    def __init__(self, max_block: int = 200):
        self._in_block, self._block_lines, self._max = False, 0, max_block
        self._dropped_last = False

    def passes(self, line: str) -> bool:
        """``line`` without its newline -> True if it should be shown."""
        drop = False
        if self._in_block:
            drop = True
            self._block_lines += 1
            if self.WHEEL_END.match(line) or self._block_lines >= self._max:
                self._in_block = False
        elif self.WHEEL_START.match(line):
            self._in_block, self._block_lines, drop = True, 0, True
        elif self.NOISE.search(line) or (self._dropped_last and not line.strip()):
            drop = True
        self._dropped_last = drop and bool(line.strip())
        return not drop


class _FdTee:
    """Redirects a file descriptor into a pipe; a thread copies every line to
    the log file and, if ``console_filter`` passes it, to the original fd."""

    def __init__(self, fd: int, log: "RunLog", console_filter: Optional[ConsoleFilter]):
        self.fd, self._log, self._filter = fd, log, console_filter
        self._console_ok = True
        self.saved = os.dup(fd)
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self._read_end = read_end
        self._thread = threading.Thread(target=self._pump, daemon=True,
                                        name=f"tfxp-tee-{fd}")
        self._thread.start()

    def _emit(self, raw: bytes) -> None:
        try:
            self._log.write_bytes(raw)
        except OSError:  # e.g. disk full: keep the console going
            pass
        text = raw.decode("utf-8", "replace").rstrip("\n")
        if self._console_ok and (self._filter is None or self._filter.passes(text)):
            try:
                os.write(self.saved, raw)
            except OSError:  # console gone (closed pipe): keep draining into the log
                self._console_ok = False

    def _pump(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._emit(line + b"\n")
        if pending:
            self._emit(pending)
        os.close(self._read_end)

    def close(self, timeout_s: float = 5.0) -> None:
        """Restores the fd. Subprocesses still holding the pipe (none after a
        finished Beam run) only delay the copy thread by ``timeout_s``."""
        os.dup2(self.saved, self.fd)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():  # else the thread may still write to it
            os.close(self.saved)


class _StreamCopy:
    """Stands in for ``sys.stdout``/``sys.stderr`` when they do not write to
    fds 1/2 (pytest's capture, notebooks): writes go to the stream and the log."""

    def __init__(self, stream: TextIO, log: "RunLog"):
        self._stream, self._log = stream, log

    def write(self, text: str) -> int:
        self._log.write_bytes(text.encode("utf-8", "replace"))
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _writes_to_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return False


class RunLog:
    """The log file of one run; see the module docstring.

    Attributes:
      path: current path of the log file (changes on ``finish``).
      progress: the ``ProgressHandler`` of the run.
    """

    def __init__(self, path: str, progress: ProgressHandler):
        self.path = path
        self.progress = progress
        self._lock = threading.Lock()
        self._file = open(path, "ab", buffering=0)

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(data)

    def write_line(self, line: str) -> None:
        self.write_bytes((line + "\n").encode("utf-8", "replace"))

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def finish(self, run_id: Optional[str]) -> str:
        """Renames the file to ``<run id>.log`` (kept as is for None); returns
        the final path. Call after the ``run_logging`` block has exited."""
        if run_id:
            target = os.path.join(os.path.dirname(self.path), f"{run_id}.log")
            os.replace(self.path, target)
            self.path = target
        return self.path


class _FileHandler(logging.Handler):
    """Formats records into the run's log file, below ``below`` only (the
    console handler's records reach the file through the fd copy)."""

    def __init__(self, log: RunLog, below: int):
        super().__init__(logging.INFO)
        self._log, self._below = log, below
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self._below:
            try:
                self._log.write_line(self.format(record))
            except Exception:  # noqa: BLE001
                self.handleError(record)


def log_path_for(log_dir: str, pipeline_name: str, clock_s: Optional[float] = None) -> str:
    """``<log_dir>/<pipeline>-<YYYYmmdd-HHMMSS>.log`` (local time), the name a
    log has until the run id is known."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock_s or time.time()))
    return os.path.join(log_dir, f"{pipeline_name}-{stamp}.log")


@contextlib.contextmanager
def run_logging(log_dir: str, pipeline_name: str, *, total_components: Optional[int] = None,
                verbose: Optional[bool] = None,
                progress_stream: Optional[TextIO] = None) -> Iterator[RunLog]:
    """Captures the run's output into a log file and prints progress lines.

    Args:
      log_dir: folder for the log (created); usually ``<workspace>/logs``.
      pipeline_name: names the log file until ``RunLog.finish``.
      total_components: number of pipeline nodes, for the ``(i/n)`` counter.
      verbose: show third-party INFO/WARNING records and the wheel-build
        output on the console; None means ``core.env.is_verbose()``.
      progress_stream: where progress lines go; None means ``sys.stdout``
        at the time of each line.
    Yields:
      The ``RunLog``; on an exception the line of the failed component is
      printed and logged, and the exception propagates. Code that catches the
      exception inside the block calls ``log.progress.failed(err)`` itself.
    """
    from tfxp.core import env

    verbose = env.is_verbose() if verbose is None else verbose
    os.makedirs(log_dir, exist_ok=True)

    def write_progress(line: str) -> None:
        # sys.stdout reaches the log through the fd copy or its _StreamCopy.
        if progress_stream is not None:
            log.write_line(line)
        stream = progress_stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    from absl import logging as absl_logging

    progress = ProgressHandler(write_progress, total_components)
    log = RunLog(log_path_for(log_dir, pipeline_name), progress)
    tees, replaced, saved = [], [], []
    absl_verbosity = absl_logging.get_verbosity()
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for name, fd in (("stdout", 1), ("stderr", 2)):
            try:
                tees.append(_FdTee(fd, log, None if verbose else ConsoleFilter()))
            except OSError:  # no such fd (embedded interpreter)
                pass
            stream = getattr(sys, name)
            if not _writes_to_fd(stream, fd):
                replaced.append((name, stream))
                setattr(sys, name, _StreamCopy(stream, log))
        console_level = logging.INFO if verbose else logging.ERROR
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(console_level)
        console.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        to_file = _FileHandler(log, below=console_level)
        for name in THIRD_PARTY_LOGGERS:
            logger = logging.getLogger(name)
            saved.append((logger, logger.level, logger.propagate, list(logger.handlers)))
            logger.setLevel(logging.INFO)
            logger.propagate = False
            logger.handlers = [to_file, console] + ([progress] if name == "absl" else [])
        # Through absl's verbosity flag, not just the logger level: TF's
        # SavedModel export (autotrackable._trackable_children, in Transform
        # and Trainer) sets the flag to FATAL and back to its previous value,
        # which would otherwise drop the absl logger to WARNING mid-run.
        absl_logging.set_verbosity(absl_logging.INFO)
        log.write_line(f"# tfxp run log: pipeline {pipeline_name}, started "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
        yield log
    except BaseException as err:
        progress.failed(err)
        raise
    finally:
        absl_logging.set_verbosity(absl_verbosity)
        for logger, level, propagate, handlers in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers = handlers
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for name, stream in replaced:
            setattr(sys, name, stream)
        for tee in reversed(tees):
            tee.close()
        log.close()
