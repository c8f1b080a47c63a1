"""``fedibridge run`` with a scheduling change applied in this process only (what-if).

    BENCH_THREADS=32 BENCH_SPREAD=1 python bench/daemon_variant.py --config C run

BENCH_THREADS replaces daemon.MAX_PARALLEL_FEEDS (the polling threads); BENCH_SPREAD=1 spreads
the first round of polls evenly over each feed's interval, in the config's order, instead of
starting them a second apart; BENCH_SPREAD=host spreads the feeds of each website evenly over
the interval (each website starting at a phase of its own), so that a website's feeds never
come in a row. None of this changes src/: it measures a mechanism before anyone writes it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from apscheduler.schedulers.background import BackgroundScheduler

from fedibridge import daemon
from fedibridge.cli import main

threads = int(os.environ.get("BENCH_THREADS", "0"))
if threads:
    daemon.MAX_PARALLEL_FEEDS = threads
SPREAD = os.environ.get("BENCH_SPREAD", "")
if SPREAD:
    feeds = int(os.environ["BENCH_FEEDS"])
    original = BackgroundScheduler.add_job
    added = [0]
    per_host: dict[str, int] = {}
    start = datetime.now(UTC)

    def share_of(bridge: Any, name: str) -> float:
        if SPREAD != "host":
            return added[0] / feeds
        if not sizes:
            for feed in bridge.settings.feeds.values():
                website = urlsplit(feed.url).hostname or ""
                sizes[website] = sizes.get(website, 0) + 1
        host = urlsplit(bridge.settings.feeds[name].url).hostname or ""
        rank = per_host.setdefault(host, 0)
        per_host[host] += 1
        phase = int(hashlib.sha256(host.encode()).hexdigest()[:8], 16) / 2**32
        return (phase + rank / sizes[host]) % 1.0

    sizes: dict[str, int] = {}

    def add_job(self: BackgroundScheduler, *args: Any, **kwargs: Any) -> Any:
        if "seconds" in kwargs and "next_run_time" in kwargs:
            share = share_of(*kwargs["args"][:2])
            kwargs["next_run_time"] = start + timedelta(seconds=kwargs["seconds"] * share)
            added[0] += 1
        return original(self, *args, **kwargs)

    BackgroundScheduler.add_job = add_job  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
