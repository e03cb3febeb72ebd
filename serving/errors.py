"""Status codes shared by the server and the clients, as TF Serving uses them.

TF Serving returns ``absl::Status`` codes unchanged as gRPC codes
(model_servers/grpc_status_util.cc: messages over 1024 bytes are cut and end
in ``...TRUNCATED``) and maps them to HTTP statuses for REST
(model_servers/http_server.cc, ``ToHTTPStatusCode``). Both tables live here so
the server and both clients agree.
"""
from __future__ import annotations

import re
from typing import Dict

import grpc

MAX_MESSAGE_CHARS = 1024  # grpc_status_util.cc kErrorMessageLimit

# http_server.cc ToHTTPStatusCode, verbatim.
HTTP_STATUS: Dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# The reverse, for the REST client. 400 is ambiguous (INVALID_ARGUMENT,
# FAILED_PRECONDITION, OUT_OF_RANGE); it reads as INVALID_ARGUMENT.
CODE_FOR_HTTP: Dict[int, grpc.StatusCode] = {
    200: grpc.StatusCode.OK, 499: grpc.StatusCode.CANCELLED,
    400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED, 500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED, 503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def code_from_number(number: int) -> grpc.StatusCode:
    """``tensorflow.error.Code`` / ``tf.errors.OpError.error_code`` -> gRPC code.

    The two enums share their numbers; an unknown number reads as UNKNOWN.
    """
    return _BY_NUMBER.get(int(number), grpc.StatusCode.UNKNOWN)


def truncate(message: str) -> str:
    """Cuts ``message`` like grpc_status_util.cc ToGRPCStatus."""
    if len(message) > MAX_MESSAGE_CHARS:
        return message[:MAX_MESSAGE_CHARS] + "...TRUNCATED"
    return message


class ServingError(Exception):
    """A request failed with a TF Serving status.

    Attributes:
      code: the ``grpc.StatusCode``.
      message: the status message (what TF Serving would say).
      http_status: the REST status code the server uses for ``code`` or, in
        the REST client, the status the server answered with.
    """

    def __init__(self, code: grpc.StatusCode, message: str, http_status: int | None = None):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else HTTP_STATUS.get(code, 500)


class NotFoundError(ServingError):
    """Unknown model, or a version that is not available (NOT_FOUND)."""


class InvalidArgumentError(ServingError):
    """Malformed request: missing name, bad alias, dtype, shape (INVALID_ARGUMENT)."""


class FailedPreconditionError(ServingError):
    """E.g. an unknown signature on Predict (FAILED_PRECONDITION)."""


class ResourceExhaustedError(ServingError):
    """A message above the size limit (RESOURCE_EXHAUSTED)."""


class UnavailableError(ServingError):
    """Server unreachable or batch queue full (UNAVAILABLE); clients retry it."""


class DeadlineExceededError(ServingError):
    """The call's deadline passed (DEADLINE_EXCEEDED)."""


_TYPED = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def make_error(code: grpc.StatusCode, message: str,
               http_status: int | None = None) -> ServingError:
    """The most specific ``ServingError`` subclass for ``code``."""
    return _TYPED.get(code, ServingError)(code, message, http_status)


_NODE_FRAME = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:[^\]]*\]")


def op_error_message(message: str) -> str:
    """TF's op error text without its graph framing, for a client to read.

    A ``tf.function`` call wraps an in-graph error as "Graph execution
    error:", a Python traceback of where the node was defined ("Detected at
    node X defined at ..."), the error, then ``[[{{node X}}]]`` and
    ``[Op:__inference_...]``. TF Serving's C++ session answers the error line
    alone; this keeps that line (and anything after it that is not a node or
    function name), e.g. "assertion failed: [images: expected shape [N, 28,
    28] or [N, 28, 28, 1], got] [1 56 14 1]".
    """
    lines = message.strip().splitlines()
    if lines and lines[0].startswith("Graph execution error"):
        # The traceback: its header, indented frames, or (a loaded SavedModel)
        # "<stack traces unavailable>"; the error follows its last line.
        framing = [i for i, line in enumerate(lines)
                   if i == 0 or line.startswith(("  ", "Detected at node",
                                                 "<stack traces unavailable>"))]
        lines = lines[framing[-1] + 1:]
    text = "\n".join(line for line in lines if line.strip())
    return _NODE_FRAME.sub("", text).strip() or message


def error_from_exception(err: BaseException) -> ServingError:
    """The status an exception amounts to, as TensorFlow's C++ ``Status`` would
    carry it (what a failed load reports in GetModelStatus).

    ``ServingError`` stays itself; a ``tf.errors.OpError`` anywhere in the
    exception's cause/context chain gives its code and message (TF's Python
    re-raises C++ errors, e.g. graph-import ``InvalidArgument``, as
    ``ValueError``); otherwise ``ValueError``/``TypeError`` read as
    INVALID_ARGUMENT, ``FileNotFoundError`` NOT_FOUND, ``PermissionError``
    PERMISSION_DENIED, ``MemoryError`` RESOURCE_EXHAUSTED, and the rest
    UNKNOWN.
    """
    if isinstance(err, ServingError):
        return err
    seen, current = set(), err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        number = getattr(current, "error_code", None)
        if isinstance(number, int) and isinstance(getattr(current, "message", None), str):
            return make_error(code_from_number(number), current.message)
        current = current.__cause__ or current.__context__
    for kinds, code in ((FileNotFoundError, grpc.StatusCode.NOT_FOUND),
                        (PermissionError, grpc.StatusCode.PERMISSION_DENIED),
                        (MemoryError, grpc.StatusCode.RESOURCE_EXHAUSTED),
                        ((ValueError, TypeError), grpc.StatusCode.INVALID_ARGUMENT)):
        if isinstance(err, kinds):
            return make_error(code, f"{type(err).__name__}: {err}")
    return make_error(grpc.StatusCode.UNKNOWN, f"{type(err).__name__}: {err}")


def not_found(message: str) -> ServingError:
    return make_error(grpc.StatusCode.NOT_FOUND, message)


def invalid_argument(message: str) -> ServingError:
    return make_error(grpc.StatusCode.INVALID_ARGUMENT, message)


def failed_precondition(message: str) -> ServingError:
    return make_error(grpc.StatusCode.FAILED_PRECONDITION, message)
