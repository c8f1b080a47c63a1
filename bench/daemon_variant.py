"""``fedibridge run`` with a scheduling change applied in this process only (what-if).

    BENCH_THREADS=32 BENCH_SPREAD=1 python bench/daemon_variant.py --config C run

BENCH_THREADS replaces daemon.MAX_PARALLEL_FEEDS (the polling threads); BENCH_SPREAD=1 spreads
the first round of polls evenly over each feed's interval instead of starting them a second
apart. Neither changes src/: they measure a mechanism before anyone writes it properly.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from fedibridge import daemon
from fedibridge.cli import main

threads = int(os.environ.get("BENCH_THREADS", "0"))
if threads:
    daemon.MAX_PARALLEL_FEEDS = threads
if os.environ.get("BENCH_SPREAD") == "1":
    feeds = int(os.environ["BENCH_FEEDS"])
    original = BackgroundScheduler.add_job
    added = [0]
    start = datetime.now(UTC)

    def add_job(self: BackgroundScheduler, *args: Any, **kwargs: Any) -> Any:
        if "seconds" in kwargs and "next_run_time" in kwargs:
            share = added[0] / feeds
            kwargs["next_run_time"] = start + timedelta(seconds=kwargs["seconds"] * share)
            added[0] += 1
        return original(self, *args, **kwargs)

    BackgroundScheduler.add_job = add_job  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
