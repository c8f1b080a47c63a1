"""A loopback web server for N generated feeds, fast enough not to be the bottleneck.

Run as its own process (``python bench/feedserver.py --feeds 1000``), so its CPU is never
counted as the bridge's. It prints ``READY [ports]`` once it listens.

- ``GET /feeds/<i>.xml`` serves feed ``i``. Responses are precomputed bytes (gzip too, when
  the client accepts it); ETag / If-None-Match and Last-Modified / If-Modified-Since are
  honoured (If-None-Match wins when both are sent, as RFC 9110 says). HTTP/1.1 keep-alive.
- ``POST /_ctl/add?feeds=0,5,9&items=1`` (or ``step=10`` for every tenth feed, or
  ``all=1``) publishes new items, which changes the feed's validators.
- ``--tls CERT KEY`` serves HTTPS; ``--port-per-feed`` gives every feed a listening port of
  its own, so a client treats each feed as a separate website (a connection and, with TLS,
  a handshake per feed, as with real feeds on different hosts). The control paths answer on
  every port.
- ``GET /wp-content/uploads/…`` answers with a 120 kB JPEG: the items' pictures, so the
  bridge can download them for upload.
- ``GET /_ctl/stats`` answers JSON: requests by status, bytes sent and this process's own
  CPU seconds. ``POST /_ctl/reset`` zeroes the counters.

asyncio with a bare ``Protocol`` and no HTTP library: per request it splits the head, looks
up two headers and writes a prepared buffer (measured at about 40 µs of CPU per 304).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import signal
import ssl
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

from feedgen import BASE_TIME, Item, make_item, picture, render_feed

MAX_HEAD_BYTES = 16 * 1024


@dataclass
class Feed:
    index: int
    window: int  # how many of the newest items the document shows
    origin: str  # where its pictures are served
    items: list[Item] = field(default_factory=list)  # newest first
    next_serial: int = 0
    modified: datetime = BASE_TIME
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    body: bytes = b""
    gzipped: bytes = b""

    def publish(self, count: int, now: datetime) -> None:
        for _ in range(count):
            self.items.insert(0, make_item(self.index, self.next_serial, now, pictures=self.origin))
            self.next_serial += 1
        del self.items[self.window :]
        self._render(now)

    def seed(self, count: int) -> None:
        self.items = [
            make_item(self.index, serial, pictures=self.origin) for serial in reversed(range(count))
        ]
        self.next_serial = count
        self._render(BASE_TIME + timedelta(hours=6 * count))

    def _render(self, now: datetime) -> None:
        self.modified = now
        self.body, self.content_type = render_feed(self.index, self.items, updated=now)
        self.gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        self.etag = f'"{self.index:x}-{self.next_serial:x}-{len(self.body):x}"'
        self.last_modified = format_datetime(now.astimezone(UTC), usegmt=True)


@dataclass
class Counters:
    by_status: dict[int | str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    connections: int = 0

    def count(self, status: int | str, size: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.bytes_sent += size


class Site:
    def __init__(self, feeds: int, items: int, window: int, origins: list[str]) -> None:
        self.feeds: list[Feed] = []
        for index in range(feeds):
            feed = Feed(index, window, origins[index % len(origins)])
            feed.seed(items)
            self.feeds.append(feed)
        self.picture = picture()
        self.counters = Counters()
        self._clock = BASE_TIME + timedelta(days=3650)

    def answer(self, method: str, target: str, headers: dict[str, str]) -> bytes:
        parts = urlsplit(target)
        if parts.path.startswith("/_ctl/"):
            return self._control(method, parts.path, parse_qs(parts.query))
        if method in ("GET", "HEAD") and parts.path.startswith("/wp-content/uploads/"):
            message = _response(200, {"Content-Type": "image/jpeg"}, self.picture)
            self.counters.count("picture 200", len(message))
            return message
        if method not in ("GET", "HEAD") or not parts.path.startswith("/feeds/"):
            return self._counted(404, {"Content-Type": "text/plain"}, b"not found")
        try:
            feed = self.feeds[int(parts.path.removeprefix("/feeds/").removesuffix(".xml"))]
        except (ValueError, IndexError):
            return self._counted(404, {"Content-Type": "text/plain"}, b"not found")
        validators = {"ETag": feed.etag, "Last-Modified": feed.last_modified}
        if _not_modified(feed, headers):
            return self._counted(304, validators, b"")
        response = {"Content-Type": feed.content_type, "Vary": "Accept-Encoding", **validators}
        body = feed.body
        if "gzip" in headers.get("accept-encoding", ""):
            response["Content-Encoding"] = "gzip"
            body = feed.gzipped
        return self._counted(200, response, b"" if method == "HEAD" else body, len(body))

    def _counted(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = None
    ) -> bytes:
        message = _response(status, headers, body, length)
        self.counters.count(status, len(message))
        return message

    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> bytes:
        if path == "/_ctl/stats":
            cpu = time.process_time()
            data = {
                "by_status": {str(k): v for k, v in self.counters.by_status.items()},
                "requests": sum(self.counters.by_status.values()),
                "bytes_sent": self.counters.bytes_sent,
                "connections": self.counters.connections,
                "cpu_seconds": cpu,
                "feeds": len(self.feeds),
            }
            return _json(data)
        if method != "POST":
            return _response(405, {"Content-Type": "text/plain"}, b"use POST")
        if path == "/_ctl/reset":
            self.counters = Counters()
            return _json({"ok": True})
        if path == "/_ctl/add":
            chosen = self._chosen(query)
            count = int(query.get("items", ["1"])[0])
            # Each publication moves the site's clock by a minute: Last-Modified always changes.
            self._clock += timedelta(minutes=1)
            for index in chosen:
                self.feeds[index].publish(count, self._clock)
            return _json({"feeds": len(chosen), "items": count})
        return _response(404, {"Content-Type": "text/plain"}, b"unknown control")

    def _chosen(self, query: dict[str, list[str]]) -> list[int]:
        if "all" in query:
            return list(range(len(self.feeds)))
        if "step" in query:
            return list(range(0, len(self.feeds), int(query["step"][0])))
        return [int(i) for i in query.get("feeds", [""])[0].split(",") if i]


def _not_modified(feed: Feed, headers: dict[str, str]) -> bool:
    if "if-none-match" in headers:
        tags = [tag.strip() for tag in headers["if-none-match"].split(",")]
        return feed.etag in tags or "*" in tags
    since = headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return feed.modified.replace(microsecond=0) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 405: "Method Not Allowed"}


def _response(
    status: int, headers: dict[str, str], body: bytes, length: int | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if status != 304:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


def _json(data: object) -> bytes:
    return _response(200, {"Content-Type": "application/json"}, json.dumps(data).encode())


class Connection(asyncio.Protocol):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.site.counters.connections += 1

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.transport.close()
                return
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
            request_line, *header_lines = head.split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            # Request bodies (only control POSTs send one, and they need none) are skipped.
            length = int(headers.get("content-length", "0"))
            self.buffer = self.buffer[length:]
            self.transport.write(self.site.answer(method, target, headers))
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return


async def serve(args: argparse.Namespace, tls: ssl.SSLContext | None) -> None:
    """Listen on one port per feed, or one in all (the first is ``--port``, 0 for any), until
    SIGTERM. Prints ``READY`` and the ports as a JSON list once every feed is generated."""
    loop = asyncio.get_running_loop()
    listeners = args.feeds if args.port_per_feed else 1
    port = args.port
    sites: list[Site] = []  # filled once the ports are known: pictures name their origin
    servers = []
    for number in range(listeners):
        servers.append(
            await loop.create_server(
                lambda: Connection(sites[0]),
                "127.0.0.1",
                port if number == 0 else 0,
                backlog=1024,
                ssl=tls,
            )
        )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    scheme = "https" if tls is not None else "http"
    origins = [f"{scheme}://127.0.0.1:{port}" for port in ports]
    sites.append(Site(args.feeds, args.items, args.window or args.items, origins))
    print(f"READY {json.dumps(ports)}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1)
    parser.add_argument("--items", type=int, default=20, help="items in each feed at start")
    parser.add_argument("--window", type=int, default=0, help="items a feed shows (0: --items)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-per-feed", action="store_true")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*args.tls)
    try:
        asyncio.run(serve(args, tls))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
