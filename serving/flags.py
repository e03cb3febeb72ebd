"""The model server's command-line flags and their defaults, and nothing else.

The flags are ``tensorflow_model_server``'s (model_servers/main.cc), plus
ours (``--host``, ``--max_request_bytes`` and the batching knobs). Every
flag main.cc defines is taken, so that a command line copied from a real
deployment starts this server: the ones without an equivalent here
(``ACCEPTED_NOT_IMPLEMENTED``) are parsed with their type, and each one given
is logged once as accepted but not implemented (``not_implemented_given``).
This module imports only the standard library and ``core.signatures``, so
that ``tfxp --help`` and ``tfxp serve --help`` build their parsers without
loading TensorFlow or gRPC; ``serving.main`` turns parsed flags into a server.
"""
from __future__ import annotations

import argparse
from typing import List

from tfxp.core.signatures import SERVING_TAGS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = 8500
DEFAULT_REST_PORT = 8501
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_GRPC_THREADS = 16
DEFAULT_REST_THREADS = 8              # TF Serving: 4 x CPUs; here the machines' 2 cores
DEFAULT_REST_TIMEOUT_MS = 30000       # main.cc --rest_api_timeout_in_ms
# main.cc: --max_num_load_retries 5, --load_retry_interval_micros 1 min.
DEFAULT_MAX_NUM_LOAD_RETRIES = 5
DEFAULT_LOAD_RETRY_INTERVAL_MICROS = 60 * 1000 * 1000
DEFAULT_LOAD_RETRY_INTERVAL_S = DEFAULT_LOAD_RETRY_INTERVAL_MICROS / 1e6

# BatchingParameters defaults (``serving.batching.BatchingOptions``).
DEFAULT_MAX_BATCH_SIZE = 1000         # TF Serving's default
DEFAULT_BATCH_TIMEOUT_MICROS = 0      # TF Serving's default: run what is queued
DEFAULT_MAX_ENQUEUED_BATCHES = 100    # TF Serving's default
DEFAULT_NUM_BATCH_THREADS = 2         # TF Serving: number of CPUs; here the machines' 2 cores


def _flag_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# main.cc flags with no equivalent here: accepted with their type, logged
# when given, otherwise ignored. (name -> type; bool flags take
# ``--flag``, ``--flag=true`` or ``--flag=false``, as TensorFlow's flags do.)
ACCEPTED_NOT_IMPLEMENTED = {
    "grpc_socket_path": str,
    "enable_per_model_batching_parameters": bool,
    "num_load_threads": int,
    "num_unload_threads": int,
    "flush_filesystem_caches": bool,
    "tensorflow_session_parallelism": int,
    "tensorflow_session_config_file": str,
    "tensorflow_intra_op_parallelism": int,
    "tensorflow_inter_op_parallelism": int,
    "use_alts_credentials": bool,
    "ssl_config_file": str,
    "platform_config_file": str,
    "per_process_gpu_memory_fraction": float,
    "num_request_iterations_for_warmup": int,
    "remove_unused_fields_from_bundle_metagraph": bool,
    "prefer_tflite_model": bool,
    "num_tflite_pools": int,
    "num_tflite_interpreters_per_pool": int,
    "enable_signature_method_name_check": bool,
    "xla_cpu_compilation_enabled": bool,
    "enable_profiler": bool,
    "thread_pool_factory_config_file": str,
    "mixed_precision": str,
    "skip_initialize_tpu": bool,
}


def not_implemented_given(args: argparse.Namespace) -> List[str]:
    """The ``ACCEPTED_NOT_IMPLEMENTED`` flags set on the command line."""
    return [name for name in ACCEPTED_NOT_IMPLEMENTED if getattr(args, name, None) is not None]


def add_server_flags(parser: argparse.ArgumentParser, *, models_required: bool = True) -> None:
    """The ``tensorflow_model_server`` flags this server takes, plus ours
    (``--host``, ``--max_request_bytes`` and the batching knobs)."""
    if models_required:
        parser.add_argument("--model_name", default="default",
                            help="name of the model (with --model_base_path)")
        parser.add_argument("--model_base_path", help="folder of integer version folders")
    parser.add_argument("--model_config_file",
                        help="ModelServerConfig text proto" + (
                            "; overrides --model_name" if models_required else
                            "; overrides the workspace's serving folder"))
    parser.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0,
                        help="re-read --model_config_file this often (0 = never)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="interface to bind (0.0.0.0 exposes the server)")
    parser.add_argument("--port", type=int, default=DEFAULT_GRPC_PORT, help="gRPC port")
    parser.add_argument("--rest_api_port", type=int, default=DEFAULT_REST_PORT,
                        help="REST port (0 disables REST)")
    parser.add_argument("--file_system_poll_wait_seconds", type=float,
                        default=DEFAULT_POLL_SECONDS,
                        help="seconds between polls of the base paths for new versions")
    parser.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="largest gRPC request / REST body accepted, in bytes")
    parser.add_argument("--grpc_max_threads", type=int, default=DEFAULT_GRPC_THREADS,
                        help="gRPC request threads")
    parser.add_argument("--rest_api_num_threads", type=int, default=DEFAULT_REST_THREADS,
                        help="REST request threads")
    parser.add_argument("--rest_api_timeout_in_ms", type=int, default=DEFAULT_REST_TIMEOUT_MS,
                        help="REST: deadline of a request, and how long a connection may "
                             "stay idle or take to send a request")
    parser.add_argument("--rest_api_enable_cors_support", type=_flag_bool, nargs="?",
                        const=True, default=False,
                        help="REST: CORS headers on every response")
    parser.add_argument("--grpc_channel_arguments", default="",
                        help="extra gRPC server options: key=value,key=value")
    parser.add_argument("--saved_model_tags", default=",".join(SERVING_TAGS),
                        help="comma-separated meta graph tags to load")
    parser.add_argument("--allow_version_labels_for_unavailable_models", type=_flag_bool,
                        nargs="?", const=True, default=False)
    parser.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True,
                        default=False, help="batch concurrent requests server-side")
    parser.add_argument("--batching_parameters_file",
                        help="BatchingParameters text proto (implies --enable_batching)")
    parser.add_argument("--max_batch_size", type=int, default=DEFAULT_MAX_BATCH_SIZE)
    parser.add_argument("--batch_timeout_micros", type=int,
                        default=DEFAULT_BATCH_TIMEOUT_MICROS)
    parser.add_argument("--max_enqueued_batches", type=int,
                        default=DEFAULT_MAX_ENQUEUED_BATCHES)
    parser.add_argument("--num_batch_threads", type=int, default=DEFAULT_NUM_BATCH_THREADS)
    # Operations (main.cc): load retries, warm-up, health, monitoring.
    parser.add_argument("--max_num_load_retries", type=int,
                        default=DEFAULT_MAX_NUM_LOAD_RETRIES,
                        help="retries after a failed model load")
    parser.add_argument("--load_retry_interval_micros", type=int,
                        default=DEFAULT_LOAD_RETRY_INTERVAL_MICROS,
                        help="microseconds between load retries")
    parser.add_argument("--enable_model_warmup", type=_flag_bool, nargs="?", const=True,
                        default=True,
                        help="run assets.extra/tf_serving_warmup_requests before a "
                             "version serves")
    parser.add_argument("--enable_grpc_healthcheck_service", type=_flag_bool, nargs="?",
                        const=True, default=False,
                        help="serve grpc.health.v1.Health: SERVING once every model "
                             "has an available version")
    parser.add_argument("--monitoring_config_file",
                        help="MonitoringConfig text proto (prometheus_config { enable: "
                             "true path: ... }); metrics are served on the REST port")
    parser.add_argument("--version", type=_flag_bool, nargs="?", const=True, default=False,
                        help="print the version and exit")
    compat = parser.add_argument_group(
        "tensorflow_model_server flags accepted for compatibility, not implemented "
        "(each one given is logged and ignored)")
    for name, kind in ACCEPTED_NOT_IMPLEMENTED.items():
        if kind is bool:
            compat.add_argument(f"--{name}", type=_flag_bool, nargs="?", const=True,
                                default=None, metavar="BOOL")
        else:
            compat.add_argument(f"--{name}", type=kind, default=None,
                                metavar=kind.__name__.upper())

