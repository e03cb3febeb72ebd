"""The HTTP server that carries the REST API (after model_servers/http_server.cc).

It owns only HTTP: the port, a bounded request thread pool
(``--rest_api_num_threads``), HTTP/1.1 keep-alive, and the checks made before
a body is read (paths outside ``/v1/`` answer 404; chunked bodies 411; a bad
``Content-Length`` 400; bodies over ``--max_request_bytes`` 429, as
RESOURCE_EXHAUSTED maps in http_server.cc). Routing and JSON belong to
``serving.rest.RestApiHandler``. Built on ``http.server`` from the standard
library.
"""
from __future__ import annotations

import concurrent.futures
import http.server
import json
import logging
import re
import threading
import urllib.parse
from typing import Any, Callable, Dict, Optional, Tuple

import grpc

from tfxp.serving.errors import HTTP_STATUS
from tfxp.serving.rest import RestApiHandler

log = logging.getLogger(__name__)


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    """One HTTP/1.1 connection: checks the body's framing and size, reads it
    and answers what ``RestApiHandler`` returns, as JSON."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    server_version = "tfx-pipelines-model-server"

    def do_GET(self):  # noqa: N802 - http.server names
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def log_message(self, fmt, *args):  # route access logs to logging, quietly
        log.debug("REST %s " + fmt, self.client_address[0], *args)

    def _handle(self, method: str) -> None:
        server: RestHttpServer = self.server  # type: ignore[assignment]
        path = urllib.parse.urlsplit(self.path).path
        page = server.pages.get(path) if method == "GET" else None
        if page is not None:  # e.g. the Prometheus metrics page (serving.metrics)
            self._reply_bytes(200, *page())
            return
        if not re.fullmatch(r"/v1/.*", path, re.IGNORECASE):
            self._reply(404, {"error": f"Not found: {method} {path}"})
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._reply(411, {"error": "chunked request bodies are not supported; send "
                                       "Content-Length"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(400, {"error": "invalid Content-Length"})
            return
        if length > server.max_request_bytes:
            # The body is not read; closing the connection discards it.
            self.close_connection = True
            self._reply(HTTP_STATUS[grpc.StatusCode.RESOURCE_EXHAUSTED], {
                "error": f"Request body of {length} bytes is larger than max "
                         f"({server.max_request_bytes})"})
            return
        body = self.rfile.read(length) if length else b""
        status, payload = server.api.process_request(method, path, body)
        self._reply(status, payload)

    def _reply(self, status: int, payload: Dict[str, Any]) -> None:
        self._reply_bytes(status, "application/json", json.dumps(payload).encode("utf-8"))

    def _reply_bytes(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class RestHttpServer(http.server.HTTPServer):
    """HTTPServer whose requests run on a bounded thread pool
    (``--rest_api_num_threads``), not a thread per connection.

    Binds ``address`` when built (``server_address`` then holds the port);
    ``start`` serves on a daemon thread, ``stop`` closes the port.
    """
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], api: RestApiHandler,
                 max_request_bytes: int, threads: int,
                 pages: Optional[Dict[str, Callable[[], Tuple[str, bytes]]]] = None):
        super().__init__(address, _RequestHandler)
        self.api = api
        # GET path -> () -> (content type, body), answered before the API.
        self.pages = dict(pages or {})
        self.max_request_bytes = max_request_bytes
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="rest")
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> "RestHttpServer":
        """Serves on a daemon thread named ``rest``."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True, name="rest")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving (if started) and closes the port and the pool."""
        if self._thread is not None:
            self.shutdown()
            self._thread = None
        self.server_close()

    def process_request(self, request, client_address):
        self._pool.submit(self._work, request, client_address)

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a broken connection must not kill the pool
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self):
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)
