"""A loopback proxy in front of a real Mastodon API server, adding the quirks of other servers
and of bad networks: it can ignore Idempotency-Key (as GoToSocial, Takahē and Misskey do) and
lose the answer to a POST after the server has acted on it (a crash or a cut connection at the
worst moment)."""

from __future__ import annotations

import contextlib
import random
from http.server import BaseHTTPRequestHandler
from types import TracebackType

import httpx

from tests.loopback import Loopback, Served

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class QuirkyProxy(Served):
    def __init__(self, upstream: str, *, ignore_idempotency_key: bool = True) -> None:
        self.upstream = upstream
        self.ignore_idempotency_key = ignore_idempotency_key
        self.lose_answers_to_posts = 0  # lose this many answers to POST /api/v1/statuses
        self.empty_answers_to_posts = 0  # answer this many of them "200 {}" (the post is made)
        # Random faults on POST /api/v1/statuses: refuse with 503 before the server sees the
        # request, or let the server act and lose its answer. Rates are in [0, 1].
        self.unavailable_rate = 0.0
        self.lost_answer_rate = 0.0
        self.random = random.Random(0)
        self.posts_seen = 0  # POST /api/v1/statuses requests that arrived, answered or not
        self.requests: list[str] = []  # "GET /api/v2/instance": every request that arrived
        self._client = httpx.Client(base_url=upstream, timeout=30)
        self._loopback = Loopback(self._forward_quietly, keep_alive=True)

    @property
    def url(self) -> str:
        return self._loopback.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self._client.close()

    def _forward_quietly(self, request: BaseHTTPRequestHandler) -> None:
        # A bridge killed mid-request is what the crash trials do, not an error.
        with contextlib.suppress(ConnectionError):
            self._forward(request)

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self.ignore_idempotency_key:
            headers = {k: v for k, v in headers.items() if k.lower() != "idempotency-key"}
        self.requests.append(f"{request.command} {request.path.partition('?')[0]}")
        is_post = request.command == "POST" and request.path == "/api/v1/statuses"
        self.posts_seen += is_post
        if is_post and self.random.random() < self.unavailable_rate:
            self._reply(request, 503, b"<html><body>Service Unavailable</body></html>")
            return
        answer = self._client.request(request.command, request.path, headers=headers, content=body)
        lose = self.lose_answers_to_posts > 0 or self.random.random() < self.lost_answer_rate
        if is_post and lose:
            self.lose_answers_to_posts = max(0, self.lose_answers_to_posts - 1)
            request.close_connection = True  # the status exists; the bridge never hears so
            return
        if is_post and self.empty_answers_to_posts > 0:
            self.empty_answers_to_posts -= 1
            self._reply(request, 200, b"{}", content_type="application/json")
            return
        request.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-encoding":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(answer.content)))
        request.end_headers()
        request.wfile.write(answer.content)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "text/html"
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
