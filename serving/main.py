"""The model server's command line: ``python -m tfxp.serving.main``.

Follows model_servers/main.cc (flags -> server options) and server.cc
(``BuildAndStart``: the model config from ``--model_config_file`` or
``--model_name``/``--model_base_path``, batching parameters, gRPC channel
arguments). The flags themselves are ``serving.flags``; the server they
build is ``serving.server.ModelServer``.

Run: ``python -m tfxp.serving.main --model_name=dense --model_base_path=/abs/path``
or ``--model_config_file=models.config`` (same flags as tensorflow_model_server;
``tfxp serve`` serves a workspace).
"""
from __future__ import annotations

# An entry point: the process environment (TF_USE_LEGACY_KERAS, log levels)
# is fixed before anything imports TensorFlow.
from tfxp.core import env  # noqa: F401

import argparse
import logging
import re
import sys
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

from tfxp.serving.flags import add_server_flags, not_implemented_given

if TYPE_CHECKING:  # the server's modules import TensorFlow: --help does not
    from tensorflow_serving.config import model_server_config_pb2

    from tfxp.serving.server import ModelServer

log = logging.getLogger(__name__)
# server.py's first docstring line, kept here so that --help imports nothing heavy.
DESCRIPTION = "A local model server that speaks TF Serving's gRPC and REST protocols."


def parse_channel_arguments(text: str) -> List[Tuple[str, Any]]:
    """``key=value,key=value`` (server.cc parseGrpcChannelArgs); integer
    values become ints.

    Raises:
      ValueError: an item without ``=``.
    """
    args = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"grpc channel argument {item!r} is not key=value")
        args.append((key.strip(), int(value) if re.fullmatch(r"-?\d+", value.strip())
                     else value.strip()))
    return args


def version_text() -> str:
    """What ``--version`` prints (main.cc: the ModelServer and TensorFlow versions)."""
    import importlib.metadata

    import tensorflow as tf

    api = importlib.metadata.version("tensorflow-serving-api")
    return (f"TensorFlow ModelServer: tfx-pipelines local server, TF Serving {api} protocol\n"
            f"TensorFlow Library: {tf.__version__}")


def server_from_args(args: argparse.Namespace,
                     config: Optional["model_server_config_pb2.ModelServerConfig"] = None
                     ) -> "ModelServer":
    """Builds (does not start) the server the flags describe.

    ``config`` is used when no ``--model_config_file`` is given.

    Each ``serving.flags.ACCEPTED_NOT_IMPLEMENTED`` flag given is logged
    once, as accepted but not implemented.

    Raises:
      ValueError: no models, unreadable files or bad flag values.
    """
    from tfxp.core import uris
    from tfxp.serving.batching import BatchingOptions
    from tfxp.serving.errors import ServingError
    from tfxp.serving.manager import parse_config, single_model_config
    from tfxp.serving.metrics import parse_monitoring_config
    from tfxp.serving.server import ModelServer

    for name in not_implemented_given(args):
        log.warning("--%s is accepted but not implemented by this server; ignored", name)
    if args.rest_api_timeout_in_ms <= 0:
        raise ValueError(f"--rest_api_timeout_in_ms must be > 0, got "
                         f"{args.rest_api_timeout_in_ms}")
    if args.model_config_file:
        try:
            with open(args.model_config_file) as f:
                config = parse_config(f.read())
        except OSError as err:
            raise ValueError(f"cannot read {args.model_config_file!r}: "
                             f"{err.strerror or err}") from None
    elif getattr(args, "model_base_path", None):
        # A URI (gs://...) stays one, as in main.cc.
        config = single_model_config(args.model_name, uris.abspath(args.model_base_path))
    if config is None:
        raise ValueError("nothing to serve: give --model_base_path or --model_config_file")
    batching = None
    if args.batching_parameters_file:
        try:
            with open(args.batching_parameters_file) as f:
                batching = BatchingOptions.from_text(f.read())
        except OSError as err:
            raise ValueError(f"--batching_parameters_file: cannot read "
                             f"{args.batching_parameters_file!r}: {err.strerror or err}") from None
    elif args.enable_batching:
        batching = BatchingOptions(args.max_batch_size, args.batch_timeout_micros,
                                   args.max_enqueued_batches, args.num_batch_threads)
    metrics_path = None
    if getattr(args, "monitoring_config_file", None):
        try:
            with open(args.monitoring_config_file) as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"--monitoring_config_file: cannot read "
                             f"{args.monitoring_config_file!r}: "
                             f"{getattr(err, 'strerror', None) or err}") from None
        metrics_path = parse_monitoring_config(text)
    if args.max_num_load_retries < 0:
        raise ValueError(f"--max_num_load_retries must be >= 0, got {args.max_num_load_retries}")
    if args.load_retry_interval_micros < 0:
        raise ValueError(f"--load_retry_interval_micros must be >= 0, got "
                         f"{args.load_retry_interval_micros}")
    try:
        return ModelServer(
            config, host=args.host, grpc_port=args.port,
            rest_port=args.rest_api_port or None,
            poll_seconds=args.file_system_poll_wait_seconds,
            max_request_bytes=args.max_request_bytes,
            grpc_threads=args.grpc_max_threads, rest_threads=args.rest_api_num_threads,
            rest_timeout_s=args.rest_api_timeout_in_ms / 1000.0,
            rest_cors=args.rest_api_enable_cors_support,
            batching=batching,
            tags=tuple(t for t in args.saved_model_tags.split(",") if t),
            allow_version_labels_for_unavailable_models=(
                args.allow_version_labels_for_unavailable_models),
            grpc_channel_arguments=parse_channel_arguments(args.grpc_channel_arguments),
            config_file=args.model_config_file,
            config_poll_seconds=args.model_config_file_poll_wait_seconds,
            max_num_load_retries=args.max_num_load_retries,
            load_retry_interval_s=args.load_retry_interval_micros / 1e6,
            enable_model_warmup=args.enable_model_warmup,
            enable_grpc_healthcheck_service=args.enable_grpc_healthcheck_service,
            metrics_path=metrics_path)
    except ServingError as err:
        raise ValueError(err.message) from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfxp.serving.main",
                                     description=DESCRIPTION)
    add_server_flags(parser)
    args = parser.parse_args(argv)
    if args.version:
        print(version_text())
        return 0
    from tfxp.serving.server import run_until_signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = server_from_args(args)
    except ValueError as err:  # a bad config file or value: one line, as tfxp serve
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    return run_until_signal(server)


if __name__ == "__main__":
    sys.exit(main())
