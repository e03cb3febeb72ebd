"""Server-side batching of signature calls, after TF Serving's BatchingSession.

Concurrent requests for the same signature (and the same input dtypes and
per-example shapes) are queued, concatenated along dimension 0 into one call
of at most ``max_batch_size`` examples, and the outputs are split back.
Follows tensorflow_serving/batching/batching_session.cc and
batching/batching_util.cc, and the ``BatchingParameters`` proto
(servables/tensorflow/session_bundle_config.proto), which
``--batching_parameters_file`` reads:

- a request larger than ``max_batch_size`` fails with INVALID_ARGUMENT
  ("Task size N is larger than maximum input batch size M"), as TF Serving
  does without large-batch splitting;
- inputs whose 0th dimensions differ fail with INVALID_ARGUMENT;
- when ``max_enqueued_batches`` full batches are already waiting, a request
  fails with UNAVAILABLE ("The batch scheduling queue to which this task was
  submitted is full"), which clients retry;
- a batch runs when it is full or ``batch_timeout_micros`` after its first
  request arrived.
"""
from __future__ import annotations

import collections
import dataclasses
import re
import threading
import time
from typing import Callable, Deque, Dict, List, Optional

import grpc
import numpy as np

from tfxp.serving.errors import ServingError, invalid_argument, make_error
from tfxp.serving.flags import (DEFAULT_BATCH_TIMEOUT_MICROS, DEFAULT_MAX_BATCH_SIZE,
                                DEFAULT_MAX_ENQUEUED_BATCHES, DEFAULT_NUM_BATCH_THREADS)

Arrays = Dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """``BatchingParameters`` fields the server honours.

    Attributes:
      max_batch_size: examples per batched call (TF Serving default 1000).
      batch_timeout_micros: how long the first request of a batch waits for
        more, in microseconds (TF Serving default 0: run what is queued).
      max_enqueued_batches: queue bound, in batches of ``max_batch_size``;
        beyond it requests get UNAVAILABLE (TF Serving default 100).
      num_batch_threads: batches that may run at once (TF Serving default:
        number of CPUs; here 2, the machines' core count).
    """
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS
    max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
    num_batch_threads: int = DEFAULT_NUM_BATCH_THREADS

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0, got "
                             f"{self.batch_timeout_micros}")

    @classmethod
    def from_text(cls, text: str) -> "BatchingOptions":
        """Parses a ``BatchingParameters`` text proto (``--batching_parameters_file``).

        Reads ``max_batch_size``, ``batch_timeout_micros``,
        ``max_enqueued_batches`` and ``num_batch_threads``, each written
        ``name { value: N }``; other fields (``allowed_batch_sizes``,
        ``pad_variable_length_inputs``, ...) are ignored.

        Raises:
          ValueError: a field's value is not an integer, or out of range.
        """
        values = {}
        for field in dataclasses.fields(cls):
            match = re.search(rf"\b{field.name}\s*:?\s*\{{\s*value\s*:\s*([^\s}}]+)\s*\}}", text)
            if match:
                try:
                    values[field.name] = int(match.group(1))
                except ValueError:
                    raise ValueError(f"{field.name}: expected an integer, got "
                                     f"{match.group(1)!r}") from None
        return cls(**values)


class _Task:
    __slots__ = ("inputs", "size", "done", "result", "error", "enqueued")

    def __init__(self, inputs: Arrays, size: int):
        self.inputs = inputs
        self.size = size
        self.done = threading.Event()
        self.result: Optional[Arrays] = None
        self.error: Optional[BaseException] = None
        self.enqueued = time.monotonic()


class Batcher:
    """Merges concurrent calls of one function into batched calls.

    ``run`` is called with ``{alias: array [B, ...]}`` and must return
    ``{alias: array [B, ...]}``; every input of one ``Batcher`` must have the
    same dtype and per-example shape (the caller keys batchers on them).
    """

    def __init__(self, run: Callable[[Arrays], Arrays], options: BatchingOptions):
        self._run = run
        self._options = options
        self._timeout = options.batch_timeout_micros / 1e6
        self._queue: Deque[_Task] = collections.deque()
        self._queued_examples = 0
        self._cv = threading.Condition()
        self._stopped = False
        self._threads = [threading.Thread(target=self._loop, daemon=True,
                                          name=f"batch-{i}")
                         for i in range(options.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs: Arrays) -> Arrays:
        """Runs ``inputs`` as part of a batch; blocks until its outputs are ready.

        Raises:
          ServingError: INVALID_ARGUMENT for unbatchable inputs or a request
            above ``max_batch_size``; UNAVAILABLE when the queue is full or
            the batcher was stopped; whatever ``run`` raised otherwise.
        """
        sizes = {k: (v.shape[0] if v.ndim else None) for k, v in inputs.items()}
        if any(s is None for s in sizes.values()):
            raise invalid_argument("Batching session Run() input tensors must have at "
                                   "least one dimension")
        if len(set(sizes.values())) > 1:
            raise invalid_argument("Batching session Run() input tensors must have equal "
                                   f"0th-dimension size; got {sizes}")
        size = next(iter(sizes.values()), 0)
        if size > self._options.max_batch_size:
            raise invalid_argument(f"Task size {size} is larger than maximum input batch "
                                   f"size {self._options.max_batch_size}")
        task = _Task(inputs, size)
        limit = self._options.max_batch_size * self._options.max_enqueued_batches
        with self._cv:
            if self._stopped:
                raise make_error(grpc.StatusCode.UNAVAILABLE, "Batcher is shut down")
            if self._queued_examples + size > limit:
                raise make_error(grpc.StatusCode.UNAVAILABLE,
                                 "The batch scheduling queue to which this task was "
                                 "submitted is full")
            self._queue.append(task)
            self._queued_examples += size
            self._cv.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result

    def stop(self) -> None:
        """Fails queued tasks with UNAVAILABLE and ends the threads."""
        with self._cv:
            self._stopped = True
            pending = list(self._queue)
            self._queue.clear()
            self._cv.notify_all()
        for task in pending:
            task.error = make_error(grpc.StatusCode.UNAVAILABLE, "Batcher is shut down")
            task.done.set()

    def _take_batch(self) -> List[_Task]:
        with self._cv:
            while not self._queue and not self._stopped:
                self._cv.wait()
            if self._stopped:
                return []
            deadline = self._queue[0].enqueued + self._timeout
            while (self._queued_examples < self._options.max_batch_size
                   and not self._stopped):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cv.wait(remaining)
            batch, total = [], 0
            while self._queue and total + self._queue[0].size <= self._options.max_batch_size:
                task = self._queue.popleft()
                batch.append(task)
                total += task.size
            self._queued_examples -= total
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                if self._stopped:
                    return
                continue
            try:
                self._run_batch(batch)
            except BaseException as err:  # noqa: BLE001 - handed to every waiter
                for task in batch:
                    task.error = err
            finally:
                for task in batch:
                    task.done.set()

    def _run_batch(self, batch: List[_Task]) -> None:
        if len(batch) == 1:
            batch[0].result = self._run(batch[0].inputs)
            return
        merged = {k: np.concatenate([t.inputs[k] for t in batch]) for k in batch[0].inputs}
        outputs = self._run(merged)
        total = sum(t.size for t in batch)
        for alias, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != total:
                raise ServingError(
                    grpc.StatusCode.INTERNAL,
                    f"Batched output tensor {alias!r} has 0th dimension "
                    f"{value.shape[0] if value.ndim else 'none'}, which is not the sum "
                    f"of the 0th dimension sizes of the input tensors ({total})")
        offset = 0
        for task in batch:
            task.result = {k: v[offset:offset + task.size] for k, v in outputs.items()}
            offset += task.size
