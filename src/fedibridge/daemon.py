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

MAX_PARALLEL_FEEDS = 4
MAX_JITTER_SECONDS = 60.0
# A reminder that could not go out at its time (quiet hours, the server's budget, a backoff)
# is tried again this often until it goes out or its event starts.
REMINDER_RETRY = timedelta(minutes=5)
# The reminder thread looks at the state at least this often (a poll also wakes it).
REMINDER_LOOK = timedelta(minutes=1)


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
    reminders = _Reminders(bridge, stop)
    scheduler = _schedule(bridge, tally, reminders.wake)
    # Bound before the first poll, so a port in use stops the start with a clear message.
    page = _status_page(bridge.settings, _SchedulerView(scheduler, tally))
    scheduler.start()
    reminders.start()
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
    reminders.wake.set()
    scheduler.shutdown(wait=True)
    reminders.join()
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


class _Reminders(threading.Thread):
    """Posts reminders of events at their minute. They live in the state, so they survive
    restarts; this thread sleeps until the next one is due (or a poll wakes it, having
    scheduled new ones), then posts what is due. It never touches the scheduler: a job that
    did could deadlock with its shutdown."""

    def __init__(self, bridge: Bridge, stop: threading.Event) -> None:
        super().__init__(name="reminders", daemon=True)
        self.bridge = bridge
        self.stop = stop
        self.wake = threading.Event()
        self.feeds = [name for name, feed in bridge.settings.feeds.items() if feed.reminds]
        self._held: dict[str, datetime] = {}  # feed → not before (its reminder could not go)

    def run(self) -> None:
        if not self.feeds:
            return
        while not self.stop.is_set():
            wait = self._round(datetime.now(UTC))
            self.wake.wait(wait.total_seconds())
            self.wake.clear()

    def _round(self, now: datetime) -> timedelta:
        """Post what is due; how long to sleep until the next reminder."""
        soonest = now + REMINDER_LOOK
        for name in self.feeds:
            if self.stop.is_set():
                break
            due = self._next(name)
            if due is not None and due <= now and self._held.get(name, now) <= now:
                _remind(self.bridge, name)
                due = self._next(name)
                if due is not None and due <= datetime.now(UTC):  # it could not go out
                    self._held[name] = now + REMINDER_RETRY
                    due = self._held[name]
            if due is not None:
                soonest = min(soonest, max(due, self._held.get(name, due)))
        return max(soonest - datetime.now(UTC), timedelta(0))

    def _next(self, name: str) -> datetime | None:
        try:
            return self.bridge.next_reminder(name)
        except Exception:
            log.exception("feed %s: cannot read its reminders", name)
            return None


def _remind(bridge: Bridge, name: str) -> None:
    """Never raises, like a poll."""
    try:
        report = bridge.run_reminders(name)
    except Exception:
        log.exception(
            "feed %s: unexpected error while reminding; it is tried again later",
            name,
            extra={"event": "reminder.crashed", "fields": {"feed": name}},
        )
        return
    posted = sum(1 for p in report.posts if p.status_url)
    if report.lines or posted:
        summary = "; ".join(report.lines) or "ok"
        level = logging.INFO if report.ok else logging.WARNING
        message = f"feed {name}: reminders: {summary}; {posted} posted"
        event(log, level, "feed.reminded", message, feed=name, ok=report.ok, posted=posted)


def _schedule(
    bridge: Bridge, tally: PollTally, reminders_wake: threading.Event
) -> BackgroundScheduler:
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
            args=(bridge, name, tally, reminders_wake),
            id=f"feed:{name}",
            seconds=interval.total_seconds(),
            jitter=min(interval.total_seconds() / 10, MAX_JITTER_SECONDS),
            # First poll right away, a second apart, so feeds of one website do not all knock
            # at the same moment.
            next_run_time=start + timedelta(seconds=position),
        )
    return scheduler


def _poll_job(bridge: Bridge, name: str, tally: PollTally, reminders_wake: threading.Event) -> None:
    """Never raises: one feed's trouble must not stop the daemon or the other feeds."""
    try:
        report = bridge.run_feed(name)
        if bridge.settings.feeds[name].reminds:
            reminders_wake.set()  # it may have scheduled new reminders
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
