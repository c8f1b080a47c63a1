"""The status page's HTTP side: ``/`` (the page), ``/healthz`` and ``/metrics``, read-only.

A standard-library ``ThreadingHTTPServer`` in a daemon thread of ``fedibridge run``; no web
framework, because three read-only GET routes need none. Each request opens the state database
read-only for just that request (connections are not shared between threads), takes a
snapshot and renders it. Nothing is logged per request: who looks at the page is nobody's
business, and it keeps the log to what the bridge does.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fedibridge import snapshot
from fedibridge.activity import DaemonView
from fedibridge.config import Settings
from fedibridge.errors import ConfigError, StateError
from fedibridge.health import Health, check
from fedibridge.metrics import CONTENT_TYPE as METRICS_TYPE
from fedibridge.metrics import render_metrics
from fedibridge.state import State
from fedibridge.status_page import STYLE_HASH, render_page

log = logging.getLogger("fedibridge")

Clock = Callable[[], datetime]

# Only the page's own style block may apply; nothing may load, frame or submit anything.
CSP = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _now() -> datetime:
    return datetime.now(UTC)


class StatusServer:
    """Serves the status of ``settings``' bridge on ``host:port`` until ``close()``."""

    def __init__(
        self,
        settings: Settings,
        host: str,
        port: int,
        *,
        view: DaemonView | None = None,
        clock: Clock = _now,
    ) -> None:
        self.settings = settings
        self.view = view
        self.clock = clock
        server_class = _IPv6Server if ":" in host else _Server
        try:
            self._httpd = server_class((host, port), _Handler)
        except OSError as error:
            raise ConfigError(
                [
                    f"bridge.status_listen: cannot serve the status page on {host}:{port} "
                    f"({error.strerror}). Choose another port, or stop the program using it."
                ]
            ) from None
        self._httpd.status = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="status-page",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}/"

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what the routes answer --------------------------------------------------

    def page(self) -> str:
        return render_page(self._snapshot())

    def metrics(self) -> str:
        return render_metrics(self._snapshot())

    def health(self) -> Health:
        try:
            state = State.open_readonly(self.settings.bridge.state_path)
        except StateError as error:
            return Health(False, f"unhealthy: {error}")
        try:
            return check(self.settings, state, self.clock())
        finally:
            state.close()

    def _snapshot(self) -> snapshot.StatusSnapshot:
        state = State.open_readonly(self.settings.bridge.state_path)
        try:
            return snapshot.take(self.settings, state, self.clock(), self.view)
        finally:
            state.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    status: StatusServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A bug in the page must show in the bridge's log, not vanish on stderr.
        log.exception("the status page failed", extra={"event": "status_page.error"})


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "fedibridge"
    sys_version = ""
    timeout = 10  # a client that sends nothing does not hold a thread for ever

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: see the module's docstring

    def _answer(self, *, body: bool) -> None:
        status = self.server.status
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", status.page(), body)
            elif path == "/healthz":
                health = status.health()
                code = HTTPStatus.OK if health.healthy else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(code, "text/plain; charset=utf-8", health.reason + "\n", body)
            elif path == "/metrics":
                self._send(HTTPStatus.OK, METRICS_TYPE, status.metrics(), body)
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, "image/x-icon", "", body)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", "not found\n", body)
        except StateError as error:
            message = f"The status cannot be shown: {error}\n"
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", message, body)

    def _send(self, code: HTTPStatus, content_type: str, text: str, body: bool) -> None:
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if code != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body and code != HTTPStatus.NO_CONTENT:
            self.wfile.write(data)
