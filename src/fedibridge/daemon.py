"""`fedibridge run`: one APScheduler job per feed, first poll at start, a clean stop on SIGTERM.

On SIGTERM or SIGINT the scheduler fires no new job; a job that is running finishes the post in
flight, leaves the rest ``pending`` and returns. The process then exits 0. The longest wait is
one request timeout (30 s) for the fetch or post in flight.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from fedibridge.config import Settings
from fedibridge.cycle import Bridge
from fedibridge.state import StateLock

log = logging.getLogger("fedibridge")

MAX_PARALLEL_FEEDS = 4
MAX_JITTER_SECONDS = 60.0


def run_daemon(settings: Settings, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    with StateLock(settings.bridge.state_path):
        bridge = Bridge(settings, stop=stop)
        scheduler = _schedule(bridge)
        scheduler.start()
        log.info("started: polling %d feeds; stop with Ctrl+C or SIGTERM", len(settings.feeds))
        stop.wait()
        log.info("stopping: finishing the post in flight; the rest stays pending")
        scheduler.shutdown(wait=True)
        bridge.close()
    log.info("stopped")
    return 0


def _schedule(bridge: Bridge) -> BackgroundScheduler:
    settings = bridge.settings
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(min(MAX_PARALLEL_FEEDS, len(settings.feeds)))},
        # A poll that could not start on time (machine asleep, all workers busy) runs late
        # rather than never; overlapping polls of one feed are never useful.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    start = datetime.now(UTC)
    for position, name in enumerate(settings.feeds):
        interval = settings.interval_for(name)
        scheduler.add_job(
            _poll_job,
            "interval",
            args=(bridge, name),
            id=f"feed:{name}",
            seconds=interval.total_seconds(),
            jitter=min(interval.total_seconds() / 10, MAX_JITTER_SECONDS),
            # First poll right away, a second apart, so feeds of one website do not all knock
            # at the same moment.
            next_run_time=start + timedelta(seconds=position),
        )
    return scheduler


def _poll_job(bridge: Bridge, name: str) -> None:
    """Never raises: one feed's trouble must not stop the daemon or the other feeds."""
    try:
        report = bridge.run_feed(name)
    except Exception:
        log.exception("feed %s: unexpected error; the next poll will try again", name)
        return
    level = logging.INFO if report.ok else logging.WARNING
    posted = sum(1 for p in report.posts if p.status_url)
    log.log(level, "feed %s: %s; %d posted", name, "; ".join(report.lines) or "ok", posted)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
