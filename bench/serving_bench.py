"""gRPC Predict on loopback against the in-process signature call, one run.

Usage:
  .venv/bin/python bench/serving_bench.py --model-dir WS/serving/dense/<version>
      [--duration 5] [--iters 500] [--clients 1,8,32] [--in-process-server]

Same model, same inputs (serialized tf.Examples built from the taxi CSV), side
by side:
- p50 / p99 latency of one example (batch 1);
- throughput (examples/s) with 1, 8 and 32 concurrent callers;
- the same over gRPC with server-side batching on (max batch 32, 1 ms timeout).

The server runs as a separate process (``python -m serving.server``), as in
deployment, unless ``--in-process-server``; each gRPC caller thread has its own
channel. Prints the ratios against the targets (p50 <= in-process + 1 ms;
8-client throughput >= 70% of the in-process maximum) and writes
``bench/results/serving.json``. Not a timed test: numbers depend on the
machine and its load.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import write_result  # noqa: E402
from pipeline import env  # noqa: E402,F401

import tensorflow as tf  # noqa: E402

MODEL = "bench"
P50_TARGET_MS = 1.0
QPS8_TARGET = 0.70


def _examples(model_dir: str, count: int) -> List[bytes]:
    from pipeline.datasets import taxi_csv_dir
    from serving.cli import RAW_SIGNATURE, _csv_examples
    from serving.client import serialize_examples
    from serving.manager import read_signature_defs

    raw = read_signature_defs(model_dir).get(RAW_SIGNATURE)
    dtypes = {k: v.dtype for k, v in raw.inputs.items()} if raw else {}
    rows = _csv_examples(os.path.join(taxi_csv_dir(), "data.csv"), slice(0, count), dtypes)
    return serialize_examples(rows)


def latency(call: Callable[[int], object], iters: int) -> Dict[str, float]:
    """p50/p99/mean of ``call(i)`` in milliseconds, after 20 warm-up calls."""
    for i in range(20):
        call(i)
    times = []
    for i in range(iters):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))],
            "mean_ms": statistics.fmean(times)}


def throughput(make_caller: Callable[[], Callable[[int], object]], clients: int,
               duration: float) -> float:
    """Calls per second of ``clients`` threads calling for ``duration`` seconds."""
    counts = [0] * clients
    stop = threading.Event()
    start_line = threading.Barrier(clients + 1)
    errors: List[BaseException] = []

    def run(slot: int):
        call = make_caller()
        call(slot)  # warm
        start_line.wait()
        i = 0
        try:
            while not stop.is_set():
                call(slot + i)
                i += 1
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        counts[slot] = i
    threads = [threading.Thread(target=run, args=(s,)) for s in range(clients)]
    for t in threads:
        t.start()
    start_line.wait()
    started = time.perf_counter()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} callers failed: {errors[0]}")
    return sum(counts) / (time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """The model server, as a subprocess or in this process."""

    def __init__(self, model_dir: str, batching: bool, in_process: bool):
        self._base = tempfile.mkdtemp(prefix="serving-bench-")
        os.symlink(os.path.abspath(model_dir), os.path.join(self._base, "1"))
        self.port = _free_port()
        flags = [f"--model_name={MODEL}", f"--model_base_path={self._base}",
                 f"--port={self.port}", "--rest_api_port=0", "--grpc_max_threads=64",
                 "--file_system_poll_wait_seconds=0"]
        if batching:
            flags += ["--enable_batching", "--max_batch_size=32",
                      "--batch_timeout_micros=1000", "--num_batch_threads=2"]
        self._process = self._server = None
        if in_process:
            from serving.server import add_server_flags, server_from_args
            parser = argparse.ArgumentParser()
            add_server_flags(parser)
            self._server = server_from_args(parser.parse_args(flags)).start()
        else:
            self._process = subprocess.Popen([sys.executable, "-m", "serving.server", *flags],
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        from serving.client import ServingClient
        with ServingClient(f"127.0.0.1:{self.port}", timeout=300, max_attempts=200,
                           initial_backoff=0.2) as client:
            client.wait_until_available(MODEL, timeout=300)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
        os.unlink(os.path.join(self._base, "1"))
        os.rmdir(self._base)


def _grpc_caller(port: int, examples: List[bytes]) -> Callable[[], Callable[[int], object]]:
    from serving.client import ServingClient

    def make():
        client = ServingClient(f"127.0.0.1:{port}", timeout=60)
        return lambda i: client.predict(MODEL, examples[i % len(examples):][:1])
    return make


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True,
                        help="a pushed SavedModel (WS/serving/<model>/<version>)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds per throughput measurement")
    parser.add_argument("--iters", type=int, default=500, help="calls per latency measurement")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--in-process-server", action="store_true",
                        help="run the server in this process (default: a subprocess)")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    examples = _examples(args.model_dir, 256)
    results: Dict[str, Dict] = {}

    function = tf.saved_model.load(args.model_dir).signatures["serving_default"]
    tensors = [tf.constant([e]) for e in examples]

    def local(i):
        return function(inputs=tensors[i % len(tensors)])
    results["in_process"] = {"latency": latency(local, args.iters), "qps": {
        n: throughput(lambda: local, n, args.duration) for n in clients}}
    print("in-process", results["in_process"], flush=True)

    for name, batching in (("grpc", False), ("grpc_batching", True)):
        server = _Server(args.model_dir, batching, args.in_process_server)
        try:
            make = _grpc_caller(server.port, examples)
            results[name] = {"latency": latency(make(), args.iters), "qps": {
                n: throughput(make, n, args.duration) for n in clients}}
        finally:
            server.close()
        print(name, results[name], flush=True)

    local_p50 = results["in_process"]["latency"]["p50_ms"]
    local_max = max(results["in_process"]["qps"].values())
    summary = {}
    for name in ("grpc", "grpc_batching"):
        r = results[name]
        summary[name] = {
            "p50_overhead_ms": r["latency"]["p50_ms"] - local_p50,
            "qps_vs_in_process_max": {n: q / local_max for n, q in r["qps"].items()},
        }
    targets = {"p50_overhead_ms_max": P50_TARGET_MS, "qps8_ratio_min": QPS8_TARGET}
    print(f"\n{'':16} {'p50 ms':>8} {'p99 ms':>8} " +
          " ".join(f"{f'qps@{n}':>9}" for n in clients))
    for name, r in results.items():
        print(f"{name:16} {r['latency']['p50_ms']:8.2f} {r['latency']['p99_ms']:8.2f} " +
              " ".join(f"{r['qps'][n]:9.1f}" for n in clients))
    for name, s in summary.items():
        ratio8 = s["qps_vs_in_process_max"].get(8)
        verdict_p50 = "meets" if s["p50_overhead_ms"] <= P50_TARGET_MS else "misses"
        line = (f"{name}: p50 = in-process + {s['p50_overhead_ms']:.2f} ms ({verdict_p50} "
                f"the +{P50_TARGET_MS:.0f} ms target)")
        if ratio8 is not None:
            verdict = "meets" if ratio8 >= QPS8_TARGET else "misses"
            line += (f"; 8 clients = {ratio8:.0%} of in-process max {local_max:.0f}/s "
                     f"({verdict} the {QPS8_TARGET:.0%} target)")
        print(line)
    path = write_result("serving", {"model_dir": os.path.abspath(args.model_dir),
                                    "duration_s": args.duration, "iters": args.iters,
                                    "server": "in-process" if args.in_process_server
                                    else "subprocess",
                                    "results": results, "ratios": summary, "targets": targets})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
