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

from fedibridge.activity import PollCount, PollTally
from fedibridge.config import Settings, listen_address
from fedibridge.cycle import Bridge
from fedibridge.logs import event
from fedibridge.state import StateLock
from fedibridge.web import StatusServer

log = logging.getLogger("fedibridge")

# Polling threads. Most of a poll is waiting for the website (0.3 s typically, 5 s for some,
# 30 s for one that never answers), so 10,000 feeds every 15 minutes keep about 10 polls in
# flight on average, more in bursts: 32 threads keep every poll on time there, for about 1 MB
# of memory (bench/ websites-10000; docs/design.md, "Polling many feeds").
MAX_PARALLEL_FEEDS = 32
MAX_JITTER_SECONDS = 60.0


def run_daemon(settings: Settings, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    with StateLock(settings.bridge.state_path):
        bridge = Bridge(settings, stop=stop)
        try:
            _serve(bridge, stop)
        finally:
            bridge.close()
    event(log, logging.INFO, "daemon.stopped", "stopped")
    return 0


def _serve(bridge: Bridge, stop: threading.Event) -> None:
    tally = PollTally()
    scheduler = _schedule(bridge, tally)
    # Bound before the first poll, so a port in use stops the start with a clear message.
    page = _status_page(bridge.settings, _SchedulerView(scheduler, tally))
    scheduler.start()
    feeds = len(bridge.settings.feeds)
    event(
        log,
        logging.INFO,
        "daemon.started",
        f"started: polling {feeds} feeds; stop with Ctrl+C or SIGTERM",
        feeds=feeds,
    )
    stop.wait()
    event(
        log,
        logging.INFO,
        "daemon.stopping",
        "stopping: finishing the post in flight; the rest stays pending",
    )
    scheduler.shutdown(wait=True)
    if page is not None:
        page.close()


def _status_page(settings: Settings, view: _SchedulerView) -> StatusServer | None:
    if settings.bridge.status_listen is None:
        return None
    host, port = listen_address(settings.bridge.status_listen)
    page = StatusServer(settings, host, port, view=view).start()
    event(log, logging.INFO, "status_page.started", f"status page at {page.url}", url=page.url)
    return page


class _SchedulerView:
    """What the status page may know of the scheduler (``activity.DaemonView``)."""

    def __init__(self, scheduler: BackgroundScheduler, tally: PollTally) -> None:
        self._scheduler = scheduler
        self._tally = tally

    def next_poll(self, feed: str) -> datetime | None:
        job = self._scheduler.get_job(f"feed:{feed}")
        moment: datetime | None = job.next_run_time if job is not None else None
        return moment

    def polls(self) -> dict[str, PollCount]:
        return self._tally.counts()


def _schedule(bridge: Bridge, tally: PollTally) -> BackgroundScheduler:
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
            args=(bridge, name, tally),
            id=f"feed:{name}",
            seconds=interval.total_seconds(),
            jitter=min(interval.total_seconds() / 10, MAX_JITTER_SECONDS),
            # First poll right away, a second apart, so feeds of one website do not all knock
            # at the same moment.
            next_run_time=start + timedelta(seconds=position),
        )
    return scheduler


def _poll_job(bridge: Bridge, name: str, tally: PollTally) -> None:
    """Never raises: one feed's trouble must not stop the daemon or the other feeds."""
    try:
        report = bridge.run_feed(name)
    except Exception:
        tally.record(name, ok=False)
        log.exception(
            "feed %s: unexpected error; the next poll will try again",
            name,
            extra={"event": "feed.crashed", "fields": {"feed": name}},
        )
        return
    if not bridge.settings.feeds[name].paused:  # a paused feed's job polls nothing
        tally.record(name, ok=report.ok)
    level = logging.INFO if report.ok else logging.WARNING
    posted = sum(1 for p in report.posts if p.status_url)
    summary = "; ".join(report.lines) or "ok"
    message = f"feed {name}: {summary}; {posted} posted"
    event(log, level, "feed.polled", message, feed=name, ok=report.ok, posted=posted)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
