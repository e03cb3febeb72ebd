"""``tfxp drift`` on 10k and 100k logged requests: wall time and peak memory.

For each size, the request log is written by the server's own writer
(``serving.request_log.RequestLogger``: PredictionLog TFRecords, rotated by
size) from real Classify requests, one taxi row each, as ``tfxp predict
--csv`` sends them (the 15,002 rows of the taxi CSV, cycled; the answers are
constant, ``tfxp drift`` reads only the requests). Then ``tfxp drift --model
dense --logs <that folder> --window none`` runs as a child process of its own,
as a cron job would run it; its wall time is taken around the process and its
peak resident memory from ``os.wait4`` (the child's own ``ru_maxrss``, in KiB
on Linux), so the figure covers the whole command: TensorFlow and TFDV
imports, reading and decoding the logs, TFDV statistics, validation, the page
and the run report's rewrite. Targets (issue 17): 100k requests in under 2
minutes and under 2 GB.

The workspace must hold a pushed ``dense`` model (MLMD, statistics, schema);
``--prepare`` runs a 30-step pipeline into it first when it has none.

    .venv/bin/python bench/drift_bench.py --workspace /tmp/drift-ws [--prepare]
        [--sizes 10000,100000]

Writes ``bench/results/drift.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (print_rows, reproduce_command, row, tfxp_path,  # noqa: E402
                          write_result)

TARGET_S = 120.0
TARGET_BYTES = 2 * 1024 ** 3
PREPARE_CONFIG = {"model": "dense", "train_steps": 30, "eval_steps": 3, "epochs": 2,
                  "hparams": {"learning_rate": 0.01, "dropout": 0.1}}


def _pushed_version(workspace: str):
    from tfxp.observability import mlmd
    from tfxp.core.workspace import Workspace
    try:
        pushed = mlmd.pushes(mlmd.open_store(Workspace(workspace).metadata_path), "dense")
    except FileNotFoundError:
        return None
    return max((p.version for p in pushed), default=None)


def prepare(workspace: str) -> int:
    """A pushed dense model in ``workspace``: runs a 30-step pipeline if none."""
    version = _pushed_version(workspace)
    if version is None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(dict(PREPARE_CONFIG, workspace=workspace), f)
        subprocess.run([tfxp_path(), "run", "--config", f.name], check=True)
        version = _pushed_version(workspace)
    if version is None:
        raise SystemExit(f"no dense version pushed in {workspace}; the 30-step run was not "
                         f"blessed, run it again")
    return version


def write_logs(folder: str, count: int, version: int) -> Dict[str, float]:
    """``count`` logged Classify requests of taxi rows under ``folder`` with
    the server's RequestLogger; returns seconds and bytes written."""
    from tensorflow_serving.apis import classification_pb2, model_pb2
    from tensorflow_serving.config import model_server_config_pb2

    from tests.drift_logs import schema_types, served_example
    from tests.taxi_rows import read_rows
    from tfxp.core.features import SERVING_FEATURES
    from tfxp.serving.request_log import RequestLogger

    types = schema_types()
    requests, response = [], classification_pb2.ClassificationResponse()
    result = response.result.classifications.add()
    for label in (b"not_big_tipper", b"big_tipper"):
        result.classes.add(label=label, score=0.5)
    for taxi_row in read_rows():
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = "dense"
        request.input.example_list.examples.add().ParseFromString(
            served_example(taxi_row, types, SERVING_FEATURES["tabular"]))
        requests.append(request)
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name="dense", base_path="/unused")
    model.logging_config.log_collector_config.filename_prefix = os.path.join(folder, "dense")
    model.logging_config.sampling_config.sampling_rate = 1.0
    spec = model_pb2.ModelSpec(name="dense", signature_name="serving_default")
    spec.version.value = version
    start = time.perf_counter()
    logger = RequestLogger(queue_size=count + 1)
    logger.configure(config)
    for i in range(count):
        logger.submit("classify", "dense", spec, requests[i % len(requests)], response)
    if not logger.flush(timeout=600):
        raise RuntimeError("the request logger did not write everything in 10 minutes")
    logger.close()
    size = sum(os.path.getsize(p) for p in logger.files("dense"))
    return {"seconds": time.perf_counter() - start, "bytes": size,
            "files": len(logger.files("dense"))}


def run_drift(workspace: str, folder: str) -> Dict[str, object]:
    """One ``tfxp drift`` process: wall seconds, peak RSS bytes, exit code, output."""
    argv = [tfxp_path(), "drift", "--model", "dense", "--workspace", workspace,
            "--logs", folder, "--window", "none"]
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024,
            "exit_code": process.returncode, "output": output.splitlines()[-40:]}


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", required=True,
                        help="workspace with a pushed dense model (see --prepare)")
    parser.add_argument("--prepare", action="store_true",
                        help="run a 30-step dense pipeline into --workspace if it has no "
                        "pushed version")
    parser.add_argument("--sizes", default="10000,100000",
                        help="logged requests per run, comma-separated")
    args = parser.parse_args(argv)
    from tfxp.core import env  # noqa: F401  (before TensorFlow)

    version = prepare(args.workspace) if args.prepare else _pushed_version(args.workspace)
    if version is None:
        raise SystemExit(f"no dense version pushed in {args.workspace}; pass --prepare")
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before = list(os.getloadavg())
    runs: List[Dict[str, object]] = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        for size in sizes:
            folder = os.path.join(tmp, f"logs-{size}")
            written = write_logs(folder, size, version)
            print(f"{size} requests logged in {written['seconds']:.1f} s "
                  f"({written['bytes'] / 1e6:.1f} MB, {written['files']} file(s))", flush=True)
            measured = run_drift(args.workspace, folder)
            measured.update(requests=size, logs=written, loadavg=list(os.getloadavg()))
            print(f"  tfxp drift: {measured['seconds']:.1f} s, peak RSS "
                  f"{measured['peak_rss_bytes'] / 2 ** 20:.0f} MiB, exit "
                  f"{measured['exit_code']}", flush=True)
            if measured["exit_code"] not in (0, 3, 4):
                print("\n".join(measured["output"]), file=sys.stderr)
                raise SystemExit(f"tfxp drift failed on {size} requests")
            runs.append(measured)
            label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
            big = size >= 100_000
            rows.append(row(f"tfxp drift wall, {label} logged requests", measured["seconds"],
                            None, "s", f"< {TARGET_S:.0f} s" if big else None, False))
            rows.append(row(f"tfxp drift peak RSS, {label} logged requests",
                            measured["peak_rss_bytes"] / 2 ** 20, None, "MiB",
                            "< 2048 MiB" if big else None, False))
    print_rows(rows)
    path = write_result("drift", {"command": reproduce_command(), "version": version,
                                  "loadavg_before": load_before, "runs": runs, "rows": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
