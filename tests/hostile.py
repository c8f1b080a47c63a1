"""A website on loopback that misbehaves on purpose: bombs, trickles, odd redirects.

Each path is one misbehaviour (see ``HostileSite._answer``); ``/feed.rss`` is a good feed, so
tests can check that the good one is still served beside the bad ones.
"""

from __future__ import annotations

import functools
import random
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler

from tests.loopback import Loopback, Served

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@functools.cache
def gzipped_zeros(size: int, layers: int = 1) -> bytes:
    """``size`` zero bytes, gzip-compressed ``layers`` times (a decompression bomb)."""
    data = _gzip_stream(iter(lambda: bytes(1024 * 1024), None), size)
    for _ in range(layers - 1):
        data = _gzip_stream(iter([data]), len(data))
    return data


def _gzip_stream(chunks: object, size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out, done = [], 0
    for chunk in chunks:  # type: ignore[attr-defined]
        piece = chunk[: size - done]
        out.append(compressor.compress(piece))
        done += len(piece)
        if done >= size:
            break
    out.append(compressor.flush())
    return b"".join(out)


@functools.cache
def big_png(size: int = 9 * 1024 * 1024) -> bytes:
    return PNG + random.Random(size).randbytes(size - len(PNG))


class HostileSite(Served):
    """Use as a context manager; ``url(path)`` names each misbehaviour."""

    def __init__(
        self, feed: bytes = b"", *, trickle_every: float = 0.2, bomb_size: int = 200 * 1024 * 1024
    ) -> None:
        self.feed = feed
        self.trickle_every = trickle_every
        self.bomb_size = bomb_size  # bytes once inflated
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_at_once = 0
        self._closing = threading.Event()
        self._loopback = Loopback(self._handle)

    def url(self, path: str) -> str:
        return self._loopback.url + path

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        super().__exit__(None, None, None)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.seen.append(request.path)
            self._in_flight += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        try:
            self._answer(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bridge hung up, as it should
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path
        if path.startswith("/feed"):
            self._send(request, 200, self.feed, {"Content-Type": "application/rss+xml"})
        elif path.startswith("/bomb-gzip-gzip"):
            body = gzipped_zeros(self.bomb_size, layers=2)
            self._send(request, 200, body, {"Content-Encoding": "gzip, gzip"})
        elif path.startswith("/bomb-gzip"):
            body = gzipped_zeros(self.bomb_size)
            self._send(request, 200, body, {"Content-Encoding": "gzip"})
        elif path.startswith("/brotli"):
            self._send(request, 200, b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br"})
        elif path.startswith("/trickle"):
            self._trickle(request)
        elif path.startswith("/silent"):
            self._closing.wait(120)  # headers never come
        elif path.startswith("/gopher"):
            self._send(request, 302, b"", {"Location": "gopher://example.org/1/feed"})
        elif path.startswith("/html-picture"):
            self._send(
                request, 200, b"<html><body>Sorry</body></html>", {"Content-Type": "text/html"}
            )
        elif path.startswith("/big-picture"):  # as large as mastodon-mock takes, incompressible
            self._send(request, 200, big_png(), {"Content-Type": "image/png"})
        elif path.startswith("/picture"):
            self._send(request, 200, PNG, {"Content-Type": "image/png"})
        else:
            self._send(request, 404, b"not found", {})

    def _trickle(self, request: BaseHTTPRequestHandler) -> None:
        """Headers at once, then one byte at a time, for ever (until the bridge hangs up)."""
        request.send_response(200)
        request.send_header(
            "Content-Type", "image/png" if "picture" in request.path else "application/rss+xml"
        )
        request.end_headers()
        request.wfile.flush()
        while not self._closing.is_set():
            request.wfile.write(b"<")
            request.wfile.flush()
            time.sleep(self.trickle_every)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
