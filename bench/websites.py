"""Many websites on loopback, answering like real ones: for the 10,000-feed scenario.

    python bench/websites.py --feeds 10000 --big 5x400,20x100

Every website is a loopback address of its own (127.10.x.y, all on one port), so the bridge
sees separate hosts: the ``--big`` ones carry hundreds of feeds each (a consortium's CMS),
every other feed has a website to itself. Answers take a random time: most a log-normal time
around ``--median`` seconds, ``--slow-share`` of them ``--slow`` seconds, and
``--silent-share`` never come (the connection stays open until the client gives up). A feed
answers 304 when the client sends its ETag back, else a small RSS document.

It prints ``READY {"port": P, "urls": [...]}`` once it listens. ``GET /_ctl/polls`` on
127.0.0.1:P answers JSON: per feed, the seconds (since start) at which requests arrived; per
website, the most requests it was answering at one time; and counts by outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import time

BODY = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Library {n}</title>'
    "<link>https://library{n}.example/</link>"
    + "".join(
        f"<item><title>Item {i}</title><link>https://library{{n}}.example/{i}</link>"
        f"<guid>https://library{{n}}.example/{i}</guid><description>Text {i}</description></item>"
        for i in range(3)
    )
    + "</channel></rss>"
)


class World:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.random = random.Random(args.seed)
        self.started = time.monotonic()
        self.hosts: list[str] = []
        self.feed_host: list[int] = []
        for count, feeds in (
            map(int, spec.split("x")) for spec in filter(None, args.big.split(","))
        ):
            for _ in range(count):
                self._host(feeds)
        while len(self.feed_host) < args.feeds:
            self._host(1)
        # Per feed: [seconds since start, "a" answered / "s" slow / "x" never answered].
        self.polls: list[list[tuple[float, str]]] = [[] for _ in range(args.feeds)]
        self.in_flight = [0] * len(self.hosts)
        self.most = [0] * len(self.hosts)
        self.outcomes = {"answered": 0, "slow": 0, "silent": 0}

    def _host(self, feeds: int) -> None:
        number = len(self.hosts)
        self.hosts.append(f"127.10.{number // 250}.{1 + number % 250}")
        self.feed_host += [number] * min(feeds, self.args.feeds - len(self.feed_host))

    def delay(self) -> float | None:
        draw = self.random.random()
        if draw < self.args.silent_share:
            self.outcomes["silent"] += 1
            return None
        if draw < self.args.silent_share + self.args.slow_share:
            self.outcomes["slow"] += 1
            return self.args.slow
        self.outcomes["answered"] += 1
        return self.random.lognormvariate(0, 0.6) * self.args.median


class Connection(asyncio.Protocol):
    def __init__(self, world: World, host: int | None) -> None:
        self.world = world
        self.host = host
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.waiting = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.host is not None:
            self.world.in_flight[self.host] -= self.waiting
        self.waiting = 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            self.request(target, headers)

    def request(self, target: str, headers: dict[str, str]) -> None:
        world = self.world
        if target == "/_ctl/polls":
            data = {
                "now": time.monotonic() - world.started,
                "polls": world.polls,
                "feed_host": world.feed_host,
                "most_at_once": world.most,
                "outcomes": world.outcomes,
            }
            self.send(200, {"Content-Type": "application/json"}, json.dumps(data).encode())
            return
        feed = int(target.removeprefix("/feeds/").removesuffix(".xml"))
        host = world.feed_host[feed]
        world.in_flight[host] += 1
        world.most[host] = max(world.most[host], world.in_flight[host])
        self.host = host
        self.waiting += 1
        delay = world.delay()
        kind = "x" if delay is None else "s" if delay == world.args.slow else "a"
        world.polls[feed].append((round(time.monotonic() - world.started, 3), kind))
        if delay is None:
            return  # never answers: the client's timeout ends it (connection_lost)
        etag = f'"feed-{feed}-v1"'
        if headers.get("if-none-match") == etag:
            answer = (304, {"ETag": etag}, b"")
        else:
            body = BODY.replace("{n}", str(feed)).encode()
            answer = (200, {"ETag": etag, "Content-Type": "application/rss+xml"}, body)
        asyncio.get_running_loop().call_later(delay, self.answer, *answer)

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.waiting and self.host is not None:
            self.world.in_flight[self.host] -= 1
            self.waiting -= 1
        self.send(status, headers, body)

    def send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Modified'}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if status != 304:
            lines.append(f"Content-Length: {len(body)}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


async def serve(args: argparse.Namespace) -> None:
    world = World(args)
    loop = asyncio.get_running_loop()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    servers = [await loop.create_server(lambda: Connection(world, None), "127.0.0.1", port)]
    for number, address in enumerate(world.hosts):
        servers.append(
            await loop.create_server(
                lambda number=number: Connection(world, number), address, port, backlog=64
            )
        )
    urls = [f"http://{world.hosts[h]}:{port}/feeds/{i}.xml" for i, h in enumerate(world.feed_host)]
    world.started = time.monotonic()
    print("READY " + json.dumps({"port": port, "urls": urls}), flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--big", default="5x400,20x100", help="COUNTxFEEDS,...: big websites")
    parser.add_argument("--median", type=float, default=0.3)
    parser.add_argument("--slow", type=float, default=5.0)
    parser.add_argument("--slow-share", type=float, default=0.05)
    parser.add_argument("--silent-share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=14)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
