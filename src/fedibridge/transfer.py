"""Reading a website's answer safely: bounded in bytes as they are decompressed, and in time.

httpx decodes a compressed body one whole network read at a time, through as many layers as the
server names: a feed sent with ``Content-Encoding: gzip, gzip`` is 43 KB on the wire and 2.4 GB
in memory before any size check sees a byte. So bodies are read raw here and inflated by us:
one content coding at most (gzip or deflate), never more output than the caller's limit.

httpx's timeouts limit each network read, not the whole transfer: a website that sends a byte
every few seconds would hold a poll for ever. A ``Deadline`` bounds the whole transfer: the
time to connect and to wait for headers is capped by what is left of it, and a watchdog thread
cuts the connection of a body still arriving when the deadline passes, or when fedibridge is
asked to stop.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from fedibridge.errors import FedibridgeError

ACCEPT_ENCODING = "gzip, deflate"
"""Only what ``read_body`` can inflate with a bounded output (no br/zstd)."""

READ_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
_PIECE = 64 * 1024
_WATCH_EVERY = 0.2


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds for a whole transfer: a feed, a picture, an item's page (for its og:image);
    how long a poll waits for a slot of its website before it is left, and about how long
    after that the daemon tries it again (``plan.after_busy_website``)."""

    feed: float = 60.0
    picture: float = 60.0
    page: float = 20.0
    slot_wait: float = 10.0  # for a poll to get one of its website's slots
    # 10 s (7-13 s with jitter), after the poll's own 10 s wait for a slot: the feed is then
    # polled about 20 s after its time, inside the interval + 10 % it is due in even after
    # the trigger's jitter (up to 60 s at 15 minutes); 30 s made 3 of 10,000 feeds late
    # (bench/ websites-10000). A try that finds the same requests still there costs only a
    # worker's wait. An interval later (what was done before) left feeds of a 400-feed
    # website unpolled for two intervals (15 of 10,000).
    busy_retry: float = 10.0


class TransferFailed(FedibridgeError):
    """The answer could not be had within its limits; ``str`` completes "…: it <reason>"."""


class TooLarge(TransferFailed):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"is larger than {size_text(limit)}")


class TooSlow(TransferFailed):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"took longer than {seconds:g} seconds to arrive (the website was sending it too "
            "slowly or not at all)"
        )


class Stopped(TransferFailed):
    def __init__(self) -> None:
        super().__init__("was not read to its end: fedibridge is stopping")


class Undecodable(TransferFailed):
    """Compressed in a way fedibridge does not read, or damaged."""


class Deadline:
    """The whole transfer must be over ``seconds`` after this was made, or when ``stop`` is
    set. Use as a context around the request: from the moment a connection is made until the
    context ends, the watchdog cuts that connection once the deadline has passed."""

    def __init__(self, seconds: float, stop: threading.Event | None = None) -> None:
        self.seconds = seconds
        self.stop = stop
        self.cut = threading.Event()  # set by the watchdog when it cut the connection
        self._start = time.monotonic()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        _WATCHDOG.forget(self)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self._start)

    def over(self) -> bool:
        return self.left() <= 0 or (self.stop is not None and self.stop.is_set())

    def failure(self) -> TransferFailed | None:
        """Why the transfer must end now; None while it may go on."""
        if self.stop is not None and self.stop.is_set():
            return Stopped()
        if self.cut.is_set() or self.left() <= 0:
            return TooSlow(self.seconds)
        return None

    def check(self) -> None:
        failure = self.failure()
        if failure is not None:
            raise failure

    def extensions(self) -> dict[str, object]:
        """httpx request extensions: connect and header waits capped by the time left, and
        each new connection watched."""
        left = max(self.left(), 0.01)
        timeouts = {
            "connect": min(CONNECT_TIMEOUT, left),
            "read": min(READ_TIMEOUT, left),
            "write": min(READ_TIMEOUT, left),
            "pool": min(CONNECT_TIMEOUT, left),
        }
        return {"timeout": timeouts, "trace": self._trace}

    def watch(self, stream: object) -> None:
        """Watch the connection of this network stream (httpcore's) until the context ends."""
        get_extra_info = getattr(stream, "get_extra_info", None)
        sock = get_extra_info("socket") if get_extra_info is not None else None
        if isinstance(sock, socket.socket):
            _WATCHDOG.watch(self, sock)

    def _trace(self, name: str, info: dict[str, object]) -> None:
        # httpcore reports each new connection (and its TLS layer) as it is made: watched from
        # then on, a website that accepts but never answers is cut at the deadline too.
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.watch(info.get("return_value"))


def read_body(response: httpx.Response, limit: int, deadline: Deadline) -> bytes:
    """The body, inflated, at most ``limit`` bytes, before the deadline.

    Raises TooLarge, TooSlow, Stopped or Undecodable; network trouble stays httpx's."""
    inflate = _inflater(response.headers.get("Content-Encoding", ""))
    deadline.watch(response.extensions.get("network_stream"))  # a reused connection
    body = bytearray()
    try:
        for raw in response.iter_raw(_PIECE):
            deadline.check()
            for piece in inflate(raw, limit + 1 - len(body)):
                body += piece
                if len(body) > limit:
                    raise TooLarge(limit)
    except httpx.HTTPError:
        deadline.check()  # the watchdog's cut, told as such
        raise
    deadline.check()  # a body delimited by the connection's end looks complete when cut
    return bytes(body)


def inflate_all(pieces: Iterable[bytes], coding: str, limit: int, seconds: float) -> bytes:
    """A whole answer from its raw ``pieces``: inflated with one content coding at most, never
    beyond ``limit`` bytes, and read within ``seconds`` (checked as each piece arrives, so a
    trickle ends one network read timeout after that at worst). For answers read outside
    httpx (Mastodon.py's requests). Raises TooLarge, TooSlow or Undecodable."""
    inflate = _inflater(coding)
    until = time.monotonic() + seconds
    body = bytearray()
    for raw in pieces:
        if time.monotonic() > until:
            raise TooSlow(seconds)
        for piece in inflate(raw, limit + 1 - len(body)):
            body += piece
            if len(body) > limit:
                raise TooLarge(limit)
    return bytes(body)


# ---- inflating -----------------------------------------------------------------------------

_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _inflater(header: str) -> _Inflate:
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 1:
        raise Undecodable(
            f"is compressed {len(codings)} times over ({', '.join(codings)}); fedibridge reads "
            "one layer of compression only"
        )
    if not codings:
        return _Inflate(None)
    if codings[0] in ("gzip", "x-gzip"):
        return _Inflate(_GZIP_WBITS)
    if codings[0] == "deflate":
        return _Inflate(zlib.MAX_WBITS)
    raise Undecodable(f"is compressed as {codings[0]!r}, which fedibridge does not read")


class _Inflate:
    """Inflate with a bounded output: each call yields at most ``room`` bytes in all."""

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits
        self._zlib = zlib.decompressobj(wbits) if wbits is not None else None
        self._started = False

    def __call__(self, data: bytes, room: int) -> Iterator[bytes]:
        if self._zlib is None:
            yield data[:room]
            return
        while data and room > 0:
            piece = self._decompress(data, min(room, _PIECE))
            room -= len(piece)
            yield piece
            if self._zlib.eof:  # a gzip body may hold several members, one after another
                data = self._zlib.unused_data
                if data and self._wbits is not None:
                    self._zlib = zlib.decompressobj(self._wbits)
            else:
                data = self._zlib.unconsumed_tail
            if not piece and not data:
                return

    def _decompress(self, data: bytes, most: int) -> bytes:
        assert self._zlib is not None
        try:
            piece = self._zlib.decompress(data, most)
        except zlib.error:
            # "deflate" is sent both with its zlib header and without (raw): try the other.
            if self._wbits == zlib.MAX_WBITS and not self._started:
                self._wbits = -zlib.MAX_WBITS
                self._zlib = zlib.decompressobj(self._wbits)
                return self._decompress(data, most)
            raise Undecodable("arrived damaged (its compression could not be undone)") from None
        self._started = True
        return piece


# ---- every answer, whoever reads it ------------------------------------------------------


ANSWER_LIMIT = 32 * 1024 * 1024
"""The most any answer may inflate to, whoever reads it (a fediverse server's, too)."""


class AnswerRefused(httpx.DecodingError):
    """An answer refused by ``BoundedTransport``: an httpx error, so every caller that handles
    a broken answer handles this one too. ``reason`` completes "…: it <reason>"."""

    def __init__(self, reason: str, request: httpx.Request) -> None:
        self.reason = reason
        super().__init__(f"the answer {reason}", request=request)


class BoundedTransport(httpx.BaseTransport):
    """Wraps httpx's transport: every answer is inflated here, one content coding at most and
    never beyond ``limit`` bytes, instead of by httpx (whole reads, any number of layers)."""

    def __init__(self, inner: httpx.BaseTransport, limit: int = ANSWER_LIMIT) -> None:
        self._inner = inner
        self._limit = limit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        coding = response.headers.get("Content-Encoding", "")
        try:
            inflate = _inflater(coding)
        except Undecodable as error:
            response.close()
            raise AnswerRefused(str(error), request) from None
        if not coding:
            return response
        headers = [
            (name, value)
            for name, value in response.headers.raw
            if name.lower() not in (b"content-encoding", b"content-length")
        ]
        assert isinstance(response.stream, httpx.SyncByteStream)
        stream = _Inflating(response.stream, inflate, self._limit, request)
        return httpx.Response(
            response.status_code, headers=headers, stream=stream, extensions=response.extensions
        )

    def close(self) -> None:
        self._inner.close()


class _Inflating(httpx.SyncByteStream):
    def __init__(
        self, raw: httpx.SyncByteStream, inflate: _Inflate, limit: int, request: httpx.Request
    ) -> None:
        self._raw = raw
        self._inflate = inflate
        self._limit = limit
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        try:
            for raw in self._raw:
                for piece in self._inflate(raw, self._limit + 1 - size):
                    size += len(piece)
                    if size > self._limit:
                        raise AnswerRefused(
                            f"is larger than {size_text(self._limit)}", self._request
                        )
                    yield piece
        except Undecodable as error:
            raise AnswerRefused(str(error), self._request) from None

    def close(self) -> None:
        self._raw.close()


# ---- cutting slow transfers ----------------------------------------------------------------


class _Watchdog:
    """One thread for the whole process: every 0.2 s, cuts connections past their deadline."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watched: dict[Deadline, socket.socket] = {}
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline, sock: socket.socket) -> None:
        with self._changed:
            self._watched[deadline] = sock
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fedibridge-transfer-watchdog", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def forget(self, deadline: Deadline) -> None:
        with self._changed:
            self._watched.pop(deadline, None)

    def _run(self) -> None:
        with self._changed:
            while True:
                if not self._watched:
                    self._changed.wait()
                self._changed.wait(_WATCH_EVERY)
                for deadline, sock in list(self._watched.items()):
                    if deadline.over():
                        deadline.cut.set()
                        del self._watched[deadline]
                        _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for TLS: it wakes the thread blocked reading it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


# ---- one website, a few transfers at a time ------------------------------------------------


class WebsiteBusy(FedibridgeError):
    pass


class Websites:
    """At most ``per_host`` transfers at a time to one website (feeds, pages and pictures):
    library sites often live on small shared hosting. A request that finds them all taken
    waits at most ``wait`` seconds, so a stuck website holds no more than its own slots."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, url: str, wait: float) -> Iterator[None]:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self._per_host))
        if not semaphore.acquire(timeout=wait):
            raise WebsiteBusy(
                f"the website {host} was still busy with fedibridge's other requests after "
                f"{wait:g} seconds (at most {self._per_host} at a time per website)"
            )
        try:
            yield
        finally:
            semaphore.release()


def size_text(count: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= factor:
            return f"{count / factor:g} {unit}"
    return f"{count} bytes"
