"""``tfxp serve`` and ``tfxp predict``.

- ``serve``: starts ``serving.server.ModelServer`` on ``<workspace>/serving``
  (one model per subfolder, named after it; ``--log-requests RATE`` logs that
  share of their requests under ``<workspace>/request_logs/<model>/`` for
  ``tfxp drift``) or on ``--model_config_file``; the
  server flags (``serving.flags``) are tensorflow_model_server's (``--port``, ``--rest_api_port``,
  ``--file_system_poll_wait_seconds``, ``--enable_batching``, ...).
- ``predict``: sends CSV rows (tabular), PNG files or IDX slices (images) or
  lines of text (text) as ``tf.Example``s in a Classify request without a
  signature name (so to ``serving_default``, whose ``classes`` are the label
  names and ``scores`` the probabilities) over gRPC (or REST ``:classify``
  with ``--rest``) and prints each input's top classes with their label names
  and probabilities.

Registering the sub-commands imports only ``serving.flags`` (standard library);
TensorFlow, gRPC and numpy load when a command runs, so ``tfxp --help`` stays
fast.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Dict, List

from tfxp.core.errors import EXIT_FAILED, UsageError
from tfxp.core.signatures import RAW_SIGNATURE  # its inputs name the raw features' dtypes
from tfxp.core.workspace import DEFAULT_WORKSPACE, Workspace

if TYPE_CHECKING:
    import numpy as np

DEFAULT_GRPC_TARGET = "localhost:8500"
DEFAULT_REST_URL = "http://localhost:8501"


def register(subparsers) -> None:
    """Adds ``serve`` and ``predict`` to ``tfxp``'s sub-command parsers."""
    from tfxp.serving.flags import add_server_flags

    fmt = argparse.ArgumentDefaultsHelpFormatter
    serve = subparsers.add_parser(
        "serve", formatter_class=fmt,
        help="serve the workspace's pushed models (TF Serving gRPC + REST protocol)")
    serve.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                       help="workspace whose serving/ folder holds one folder per model")
    serve.add_argument("--log-requests", type=float, default=0.0, metavar="RATE",
                       help="log this share (0..1) of each workspace model's requests as "
                       "PredictionLog TFRecords under <workspace>/request_logs/<model>/, "
                       "which `tfxp drift` reads (0: off)")
    add_server_flags(serve, models_required=False)
    serve.set_defaults(func=cmd_serve)

    predict = subparsers.add_parser(
        "predict", formatter_class=fmt,
        help="send CSV rows, images or text lines to a served model; print top classes")
    predict.add_argument("--model", required=True, help="served model name, e.g. dense")
    predict.add_argument("--server", default=DEFAULT_GRPC_TARGET, help="gRPC host:port")
    predict.add_argument("--rest", action="store_true", help="use the REST API instead")
    predict.add_argument("--rest-url", default=DEFAULT_REST_URL, help="REST base URL")
    version = predict.add_mutually_exclusive_group()
    version.add_argument("--version", type=int, help="model version (none: the latest)")
    version.add_argument("--label", help="model version label")
    predict.add_argument("--top", type=int, default=3, help="classes shown per input")
    predict.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="CSV file with a header row (tabular models)")
    source.add_argument("--png", nargs="+", help="28x28 greyscale PNG files (image models)")
    source.add_argument("--idx", help="IDX image file, optionally .gz (e.g. fashion-mnist "
                        "t10k-images-idx3-ubyte.gz)")
    source.add_argument("--text", help="text file, one input per line (text models); "
                        "'-' reads stdin")
    predict.add_argument("--rows", default="0:5",
                         help="slice START:END of CSV rows, IDX images or text lines")
    predict.set_defaults(func=cmd_predict)


# ------------------------------------------------------------------ serve

def cmd_serve(args: argparse.Namespace) -> int:
    from tfxp.serving.deploy.generate import find_models, models_config
    from tfxp.serving.main import server_from_args, version_text
    from tfxp.serving.server import run_until_signal

    if args.version:
        print(version_text())
        return 0
    config = None
    if not 0.0 <= args.log_requests <= 1.0:  # also refuses NaN
        raise UsageError(f"--log-requests must be in [0, 1], got {args.log_requests}")
    if args.log_requests and args.model_config_file:
        raise UsageError("--log-requests logs the workspace's models; with "
                         "--model_config_file set each model's logging_config there")
    if not args.model_config_file:
        ws = Workspace(args.workspace)
        try:
            models = find_models(ws.serving_dir)
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
        if not models:
            raise UsageError(f"no model folders in {os.path.join(args.workspace, 'serving')!r}; "
                             f"run the pipeline first")
        prefixes = ({name: os.path.abspath(ws.request_log_prefix(name)) for name in models}
                    if args.log_requests else None)
        config = models_config(models, log_prefixes=prefixes,
                               sampling_rate=args.log_requests or 1.0)
    try:
        server = server_from_args(args, config)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return run_until_signal(server)


# ------------------------------------------------------------------ predict

def _slice(spec: str) -> slice:

    try:
        start, _, end = spec.partition(":")
        return slice(int(start or 0), int(end) if end else None)
    except ValueError:
        raise UsageError(f"--rows {spec!r}: expected START:END, e.g. 0:5") from None


def _raw_dtypes(client, model: str, version, label) -> Dict[str, int]:
    meta = client.get_model_metadata(model, version=version, label=label)
    sigdef = meta.signature_defs.get(RAW_SIGNATURE)
    return {k: v.dtype for k, v in sigdef.inputs.items()} if sigdef else {}


def format_top(classes: np.ndarray, scores: np.ndarray, top: int) -> List[str]:
    """One line per input: its ``top`` classes as ``label probability``.

    ``classes``: label names, str or bytes ``[N, C]``; ``scores``: float
    ``[N, C]`` (a Classify answer's ``labels`` and ``scores``).
    """
    import numpy as np

    lines = []
    for i in range(scores.shape[0]):
        order = np.argsort(-scores[i])[:top]
        names = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                 for c in classes[i]]
        lines.append(f"#{i:<4} " + "  ".join(f"{names[j]} {scores[i, j]:.3f}" for j in order))
    return lines


def cmd_predict(args: argparse.Namespace) -> int:
    from tfxp.serving import inputs
    from tfxp.serving.client import RestClient, ServingClient
    from tfxp.serving.errors import ServingError

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    rows = _slice(args.rows)
    client = (RestClient(args.rest_url, timeout=args.timeout) if args.rest
              else ServingClient(args.server, timeout=args.timeout,
                                 max_message_bytes=64 * 1024 * 1024))
    numbered = []   # (row number, features) of a CSV, to name a row the model refuses
    try:
        if args.csv:
            numbered = inputs.numbered_csv_examples(
                args.csv, rows, _raw_dtypes(client, args.model, args.version, args.label))
            examples = [features for _, features in numbered]
        elif args.png:
            examples = inputs.png_examples(args.png)
        elif args.idx:
            from tfxp.components.tfds_builders.fashion_mnist import read_idx
            examples = inputs.image_examples(read_idx(args.idx)[rows])
        else:
            stream = sys.stdin if args.text == "-" else inputs.open_text(args.text)
            with stream:
                examples = [features for _, features in
                            inputs.iter_text_examples(stream, args.text)][rows]
        if not examples:
            raise UsageError("no inputs selected (check --rows)")
        result = client.classify(args.model, examples, version=args.version, label=args.label)
    except (OSError, ValueError) as err:
        raise UsageError(str(err)) from None
    except ServingError as err:
        feature = inputs.required_feature(err.message)
        row = feature and inputs.first_without(feature, numbered)
        print(f"tfxp: error: {err.code.name}: "
              f"{inputs.missing_required_message(f'{args.csv}: row {row}', feature)}"
              if row else f"tfxp: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if hasattr(client, "close"):
            client.close()
    for line in format_top(result.labels, result.scores, args.top):
        print(line)
    return 0
