"""The HTTP server that carries the REST API (after model_servers/http_server.cc).

It owns only HTTP; routing and JSON belong to ``serving.rest.RestApiHandler``
(``process_request(method, path, body) -> (status, payload)``), as
``HttpRestApiHandler`` sits behind TF Serving's ``RestApiRequestDispatcher``.

Built on tornado's HTTP/1.1 server (``tornado.httpserver``), not the standard
library's ``http.server``. Why tornado:

- it is already in requirements.lock (Jupyter brings it; 6.5 runs on this
  stack's Python 3.10 and has no dependencies of its own), and it is a
  well-kept, widely deployed HTTP/1.1 implementation;
- connections live on one event loop, so an open keep-alive connection
  costs no thread: ``http.server`` held one of ``--rest_api_num_threads``
  threads per open connection, and 8 idle keep-alive clients blocked REST
  for everyone else;
- a response leaves in one write (status line, headers and body), and TCP
  is told to push it: ``http.server`` wrote headers and body separately, so
  on a reused connection the body waited ~40 ms for the client's delayed ACK;
- its connection layer (``HTTP1Connection``) enforces header size, idle and
  body timeouts, and lets this module answer before a body is read.
  aiohttp (also in the lock) would do as well, but brings several packages
  of its own (multidict, yarl, frozenlist, ...) and takes over the request
  cycle at a higher level.

Behaviour, with the TF Serving source it follows:

- One event-loop thread does the HTTP; requests run on a pool of
  ``--rest_api_num_threads`` threads (http_server.cc ``RequestExecutor``).
- Paths outside ``(?i)/v1/.*`` answer 404 (``kHTTPRestApiHandlerPathRegex``:
  the dispatcher takes nothing else; here with a JSON error).
- ``OPTIONS`` is the CORS preflight (``RestApiRequestDispatcher::
  ProcessRequest``): 200 when the ``Origin`` header names an ``http(s)://``
  origin, else FAILED_PRECONDITION "Origin header is missing in CORS
  preflight" (400); both with an empty body, as there. Every other method
  goes to the handler (PUT, DELETE, ...: "Malformed request", 400, JSON).
- ``--rest_api_enable_cors_support``: every ``/v1/`` response carries
  ``AddCORSHeaders``' three headers (http_rest_api_util.cc).
- ``--rest_api_timeout_in_ms`` (default 30 s): ``HttpRestApiHandler``'s
  ``RunOptions`` timeout. A request not answered in time gets
  DEADLINE_EXCEEDED (504, JSON); one still queued for a thread is dropped.
  The same bound closes a connection idle between requests, or one that
  does not deliver a request's headers or body in time (a client that sends
  nothing or a truncated body never holds anything for longer).

Limits of ours (TF Serving's net_http has none), all answered, none silent:

- a body over ``--max_request_bytes`` gets 413 (Content Too Large; a client
  reads RESOURCE_EXHAUSTED) with the JSON error, chunked bodies included. The
  body is read and dropped, so that the client sees the answer rather than a
  reset; one declared larger than ``_DRAIN_BYTES`` is answered at once and
  the connection closed;
- a header block over 64 KiB, a bad request line or a bad
  ``Content-Length``: tornado answers 400 or closes the connection;
- at most ``max_connections`` open connections; more are closed on accept.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Optional, Tuple

import grpc
import tornado.httpserver
import tornado.netutil
from tornado import httputil

from tfxp.serving.errors import HTTP_STATUS
from tfxp.serving.flags import DEFAULT_REST_TIMEOUT_MS
from tfxp.serving.rest import RestApiHandler

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = DEFAULT_REST_TIMEOUT_MS / 1000.0
DEFAULT_MAX_CONNECTIONS = 256
MAX_HEADER_BYTES = 64 * 1024    # tornado's default, named here
_MIN_DRAIN_BYTES = 16 * 1024 * 1024
_V1_PATH = re.compile(r"/v1/.*", re.IGNORECASE)  # kHTTPRestApiHandlerPathRegex
_ORIGIN = re.compile(r"https?://")
_CORS_HEADERS = (("Access-Control-Allow-Origin", "*"),  # http_rest_api_util.cc AddCORSHeaders
                 ("Access-Control-Allow-Methods", "POST, GET"),
                 ("Access-Control-Allow-Headers", "Content-Type"))
# A body over the limit is HTTP's 413 Content Too Large (RFC 9110 15.5.14),
# still RESOURCE_EXHAUSTED to a client (serving.errors.CODE_FOR_HTTP); other
# RESOURCE_EXHAUSTED answers (a full batch queue) stay 429.
_TOO_LARGE = 413


def _json(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload).encode("utf-8")


class RestHttpServer:
    """The REST port: binds ``address`` when built (``port`` then holds the
    port, also for port 0); ``start`` serves on a daemon thread, ``stop``
    closes the port and every connection.

    Args:
      address: ``(host, port)``.
      api: the REST handler.
      max_request_bytes: largest body accepted.
      threads: request threads (``--rest_api_num_threads``).
      timeout_s: ``--rest_api_timeout_in_ms`` in seconds (see the module doc).
      cors: ``--rest_api_enable_cors_support``.
      max_connections: open connections allowed at once.

    Raises (constructor):
      OSError: the port cannot be bound.
    """

    def __init__(self, address: Tuple[str, int], api: RestApiHandler,
                 max_request_bytes: int, threads: int, *,
                 timeout_s: float = DEFAULT_TIMEOUT_S, cors: bool = False,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 pages: Optional[Dict[str, Callable[[], Tuple[str, bytes]]]] = None):
        if timeout_s <= 0:
            raise ValueError(f"REST timeout must be > 0 seconds, got {timeout_s}")
        host, port = address
        self.api = api
        # GET path -> () -> (content type, body), answered before the API.
        self.pages = dict(pages or {})
        self.max_request_bytes = max_request_bytes
        self.drain_bytes = max(4 * max_request_bytes, _MIN_DRAIN_BYTES)
        self.timeout_s, self.cors, self.max_connections = timeout_s, cors, max_connections
        self._sockets = tornado.netutil.bind_sockets(port, host or None)
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="rest")
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopping: Optional[asyncio.Event] = None

    @property
    def port(self) -> int:
        return self._sockets[0].getsockname()[1]

    def start(self) -> "RestHttpServer":
        """Serves on a daemon thread named ``rest``; returns once it accepts."""
        ready, failed = threading.Event(), []

        def run():
            try:
                asyncio.run(self._serve(ready))
            except BaseException as err:  # noqa: BLE001 - handed to start(), or logged
                if not ready.is_set():
                    failed.append(err)
                    ready.set()
                else:
                    log.exception("the REST server stopped")
        self._thread = threading.Thread(target=run, daemon=True, name="rest")
        self._thread.start()
        ready.wait()
        if failed:
            self._thread = None
            raise failed[0]
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        server = _HttpServer(
            _Connections(self), max_connections=self.max_connections,
            idle_connection_timeout=self.timeout_s, body_timeout=self.timeout_s,
            max_header_size=MAX_HEADER_BYTES, max_body_size=self.max_request_bytes)
        server.add_sockets(self._sockets)
        ready.set()
        await self._stopping.wait()
        server.stop()
        try:
            await asyncio.wait_for(server.close_all_connections(), 5.0)
        except asyncio.TimeoutError:
            log.warning("REST connections still open after 5 s at shutdown")

    def stop(self) -> None:
        """Stops serving (if started) and closes the port, the connections and
        the pool."""
        if self._thread is not None:
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop has ended already (logged when it did)
                pass
            self._thread.join(timeout=30)
            self._thread = None
        else:
            for sock in self._sockets:
                sock.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def handle(self, method: str, path: str, body: bytes) -> Tuple[int, bytes]:
        """Runs on a pool thread: the handler's answer, encoded."""
        status, payload = self.api.process_request(method, path, body)
        return status, _json(payload)


class _HttpServer(tornado.httpserver.HTTPServer):
    """tornado's server, refusing connections over ``max_connections``."""

    def initialize(self, *args, max_connections: int = DEFAULT_MAX_CONNECTIONS, **kwargs):
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections

    def handle_stream(self, stream, address) -> None:
        if len(self._connections) >= self.max_connections:
            log.warning("REST: %d connections open; closing the one from %s",
                        len(self._connections), address[0] if address else "?")
            stream.close()
            return
        super().handle_stream(stream, address)


class _Connections(httputil.HTTPServerConnectionDelegate):
    def __init__(self, server: RestHttpServer):
        self._server = server

    def start_request(self, server_conn, request_conn) -> httputil.HTTPMessageDelegate:
        return _Exchange(self._server, request_conn)

    def on_close(self, server_conn) -> None:
        pass


class _Exchange(httputil.HTTPMessageDelegate):
    """One request and its answer, on the event loop thread."""

    def __init__(self, server: RestHttpServer, connection):
        self._server, self._conn = server, connection
        self._method = self._path = ""
        self._headers: Optional[httputil.HTTPHeaders] = None
        self._chunks: list = []
        self._size = 0
        self._declared: Optional[int] = None
        self._too_large = self._answered = self._closed = False
        self._task: Optional[asyncio.Future] = None

    # --- reading (tornado calls these) ---

    def headers_received(self, start_line, headers):
        self._method = start_line.method
        self._path = urllib.parse.urlsplit(start_line.path).path
        self._headers = headers
        try:
            length = int(headers.get("Content-Length", ""))
        except ValueError:
            length = None  # absent, or malformed: tornado answers 400 itself
        if length is not None and length > self._server.max_request_bytes:
            self._too_large, self._declared = True, length
            self._conn.set_max_body_size(length)  # ours to refuse, not tornado's
            if length > self._server.drain_bytes:
                self._refuse_too_large()  # not worth reading; closes after the answer
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            self._conn.set_max_body_size(self._server.drain_bytes)
        return None

    def data_received(self, chunk: bytes):
        if self._too_large:
            return None
        self._size += len(chunk)
        if self._size > self._server.max_request_bytes:
            self._too_large, self._chunks = True, []
        else:
            self._chunks.append(chunk)
        return None

    def finish(self) -> None:
        if self._answered:
            return
        page = self._server.pages.get(self._path) if self._method == "GET" else None
        if self._too_large:
            self._refuse_too_large()
        elif page is not None:  # e.g. the Prometheus metrics page (serving.metrics)
            content_type, data = page()
            self._answer(200, data, content_type=content_type, cors=False)
        elif not _V1_PATH.fullmatch(self._path):
            self._answer(404, _json({"error": f"Not found: {self._method} {self._path}"}),
                         cors=False)
        elif self._method == "OPTIONS":
            # The CORS preflight (http_server.cc): the body stays empty.
            origin = self._headers.get("Origin", "") if self._headers else ""
            self._answer(200 if _ORIGIN.search(origin) else
                         HTTP_STATUS[grpc.StatusCode.FAILED_PRECONDITION], b"",
                         content_type=None)
        else:
            self._task = asyncio.ensure_future(self._process(b"".join(self._chunks)))
            self._chunks = []

    def on_connection_close(self) -> None:
        self._closed = True

    # --- answering ---

    async def _process(self, body: bytes) -> None:
        server = self._server
        try:
            future = server.pool.submit(server.handle, self._method, self._path, body)
            status, data = await asyncio.wait_for(asyncio.wrap_future(future),
                                                  server.timeout_s)
        except asyncio.TimeoutError:
            status = HTTP_STATUS[grpc.StatusCode.DEADLINE_EXCEEDED]
            data = _json({"error": f"Timed out waiting for notification "
                                   f"(--rest_api_timeout_in_ms="
                                   f"{server.timeout_s * 1000:.0f})"})
        except RuntimeError:  # the pool is shut down: the server is stopping
            status = HTTP_STATUS[grpc.StatusCode.UNAVAILABLE]
            data = _json({"error": "The server is shutting down"})
        except Exception as err:  # noqa: BLE001 - answered, never a dead connection
            log.exception("REST request failed")
            status, data = 500, _json({"error": f"{type(err).__name__}: {err}"})
        self._answer(status, data)

    def _refuse_too_large(self) -> None:
        size = self._declared if self._declared is not None else f"more than {self._size}"
        self._answer(_TOO_LARGE, _json({
            "error": f"Request body of {size} bytes is larger than max "
                     f"({self._server.max_request_bytes})"}))

    def _answer(self, status: int, data: bytes, *, content_type: Optional[str] =
                "application/json", cors: bool = True) -> None:
        """Writes the whole response in one write; nothing if the client left."""
        if self._answered:
            return
        self._answered = True
        if self._closed:
            log.debug("REST %s %s: client gone before the %d answer", self._method,
                      self._path, status)
            return
        headers = httputil.HTTPHeaders()
        if content_type:
            headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(data))
        headers["Date"] = httputil.format_timestamp(time.time())
        if cors and self._server.cors:
            for name, value in _CORS_HEADERS:
                headers[name] = value
        start_line = httputil.ResponseStartLine(
            "HTTP/1.1", status, httputil.responses.get(status, "Unknown"))
        self._conn.write_headers(start_line, headers, data if self._method != "HEAD" else None)
        self._conn.finish()  # also sets TCP_NODELAY, so the last segment leaves now
        log.debug("REST %s %s %d", self._method, self._path, status)

