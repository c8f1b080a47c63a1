"""A real HTTP server on loopback that serves feeds the way a library's website does.

It honours ETag / If-None-Match and Last-Modified / If-Modified-Since, can answer with any
status and headers, and records every request so tests can assert what the bridge sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

from tests.loopback import Loopback, Served


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True  # send ETag / Last-Modified and honour them
    delay: float = 0.0  # seconds before answering, like a slow shared host
    last_modified: float = 1_700_000_000.0


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


class FeedServer(Served):
    """Serve ``routes[path]``; unknown paths get 404. Use as a context manager."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_at_once = 0  # the most requests this server was answering at one time
        self._loopback = Loopback(self._handle)

    @property
    def base_url(self) -> str:
        return self._loopback.url

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, body: bytes, **route_options: object) -> str:
        """Serve ``body`` at ``path`` (replacing what was there) and return its URL."""
        self.routes[path] = Route(body=body, **route_options)  # type: ignore[arg-type]
        return self.url(path)

    def requests_to(self, path: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(
                SeenRequest("GET", request.path, {k.lower(): v for k, v in request.headers.items()})
            )
            self._in_flight += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        try:
            self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(request.path)
        if route is not None and route.delay:
            time.sleep(route.delay)
        if route is None:
            self._reply(request, 404, b"not found", {"Content-Type": "text/plain"})
            return
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.status == 200 and route.conditional:
            etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
            last_modified = formatdate(route.last_modified, usegmt=True)
            headers |= {"ETag": etag, "Last-Modified": last_modified}
            if request.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in request.headers
                and request.headers.get("If-Modified-Since") == last_modified
            ):
                self._reply(request, 304, b"", {"ETag": etag})
                return
        self._reply(request, route.status, route.body, headers)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        if status != 304:
            request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if status != 304:
            request.wfile.write(body)
