"""`fedibridge run`: one APScheduler job per feed, first poll at start, a clean stop on SIGTERM.

On SIGTERM or SIGINT the scheduler fires no new job; a job that is running finishes the post in
flight, leaves the rest ``pending`` and returns; a website transfer in flight is cut at once.
The process then exits 0. Whatever is still running after STOP_GRACE seconds (a server that
does not answer a post) is abandoned: the process exits 0 anyway, within 30 s of the signal,
and the outbox makes that safe (an attempted post is looked for before it is sent again).

A state database that cannot be written (full disk, read-only volume) stops the daemon with
exit code 2 and a message naming the file; nothing half-done is recorded.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from urllib.parse import urlsplit

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from fedibridge.activity import PollCount, PollTally
from fedibridge.config import Settings, listen_address
from fedibridge.cycle import Bridge
from fedibridge.errors import StateError
from fedibridge.logs import event
from fedibridge.plan import after_busy_website, first_polls
from fedibridge.report import FeedReport
from fedibridge.state import StateLock
from fedibridge.transfer import Timing
from fedibridge.web import StatusServer

log = logging.getLogger("fedibridge")

# Polling threads. Most of a poll is waiting for the website (0.3 s typically, 5 s for some,
# 30 s for one that never answers), so 10,000 feeds every 15 minutes keep about 10 polls in
# flight on average, more in bursts: 32 threads keep every poll on time there, for about 1 MB
# of memory (bench/ websites-10000; docs/design.md, "Polling many feeds").
MAX_PARALLEL_FEEDS = 32
MAX_JITTER_SECONDS = 60.0
# A reminder that could not go out at its time (quiet hours, the server's budget, a backoff)
# is tried again this often until it goes out or its event starts.
REMINDER_RETRY = timedelta(minutes=5)
# The reminder thread looks at the state at least this often (a poll also wakes it).
REMINDER_LOOK = timedelta(minutes=1)
STOP_GRACE = 20.0
"""Seconds the polls in flight get to finish after SIGTERM; the promise to staff is 30 s."""

EXIT_OK = 0
EXIT_STATE = 2


def run_daemon(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    force_exit: bool = False,
    timing: Timing | None = None,
) -> int:
    """Poll until stopped. ``force_exit`` (the command line): when a poll is still stuck after
    STOP_GRACE, end the process at once rather than wait for it. ``timing``: the deadlines
    and waits of transfers (tests shorten them)."""
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    with StateLock(settings.bridge.state_path):
        bridge = Bridge(settings, stop=stop, timing=timing)
        watch = _Watch(stop)
        abandoned = _serve(bridge, watch)
        code = EXIT_STATE if watch.state_error is not None else EXIT_OK
        if abandoned and force_exit:
            _exit_now(code)
        bridge.close()
    event(log, logging.INFO, "daemon.stopped", "stopped")
    return code


class _Watch:
    """What the polls share with the daemon: how many are in flight, and a broken state."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.state_error: StateError | None = None
        self.reminders = threading.Event()  # set: the reminder thread has something to look at
        self._in_flight = 0
        self._idle = threading.Condition()

    def started(self) -> None:
        with self._idle:
            self._in_flight += 1

    def ended(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def state_failed(self, error: StateError) -> None:
        if self.state_error is None:
            self.state_error = error
            event(log, logging.ERROR, "state.failed", f"stopping: {error}")
        self.stop.set()

    def wait_idle(self, seconds: float) -> int:
        """Polls still in flight after waiting up to ``seconds`` for them."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=seconds)
            return self._in_flight


def _serve(bridge: Bridge, watch: _Watch) -> int:
    """Run until stopped; the number of polls abandoned because they did not end in time."""
    stop = watch.stop
    tally = PollTally()
    reminders = _Reminders(bridge, stop, watch.reminders)
    scheduler = _schedule(bridge, tally, watch)
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
    stopping = time.monotonic()
    reminders.wake.set()
    scheduler.shutdown(wait=False)
    abandoned = watch.wait_idle(STOP_GRACE)
    reminders.join(timeout=max(0.0, STOP_GRACE - (time.monotonic() - stopping)))
    abandoned += reminders.is_alive()
    if abandoned:
        event(
            log,
            logging.WARNING,
            "daemon.abandoned",
            f"stopping now: {abandoned} polls did not end within {STOP_GRACE:g} seconds (a "
            "server that does not answer); nothing is lost or posted twice, an interrupted "
            "post is looked for on the account before it is sent again",
            abandoned=abandoned,
        )
    if page is not None:
        page.close()
    return abandoned


def _exit_now(code: int) -> None:
    """End the process without waiting for the threads still stuck in a request."""
    event(log, logging.INFO, "daemon.stopped", "stopped")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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

    def __init__(self, bridge: Bridge, stop: threading.Event, wake: threading.Event) -> None:
        super().__init__(name="reminders", daemon=True)
        self.bridge = bridge
        self.stop = stop
        self.wake = wake
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
    bridge: Bridge, tally: PollTally, watch: _Watch, rand: Callable[[], float] = random.random
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
    intervals = [settings.interval_for(name).total_seconds() for name in settings.feeds]
    # First polls from the start on, the websites a second apart and each website's feeds
    # spread over a first round of a second per feed (at most the interval), never closer
    # than 2 s (plan.first_polls): a library's few feeds are polled within seconds, and
    # thousands of feeds come at the rate of every later round, not in a burst.
    websites = [urlsplit(feed.url).hostname or "" for feed in settings.feeds.values()]
    offsets = first_polls(intervals, websites, rand)
    for name, interval, offset in zip(settings.feeds, intervals, offsets, strict=True):
        scheduler.add_job(
            _poll_job,
            "interval",
            args=(bridge, name, tally, watch, scheduler),
            id=f"feed:{name}",
            seconds=interval,
            jitter=min(interval / 10, MAX_JITTER_SECONDS),
            next_run_time=start + timedelta(seconds=offset),
        )
    return scheduler


def _poll_job(
    bridge: Bridge, name: str, tally: PollTally, watch: _Watch, scheduler: BackgroundScheduler
) -> None:
    """Never raises: one feed's trouble must not stop the daemon or the other feeds."""
    watch.started()
    try:
        if not watch.stop.is_set():  # a poll queued before the stop does nothing after it
            _poll(bridge, name, tally, watch, scheduler)
    finally:
        watch.ended()


def _poll(
    bridge: Bridge, name: str, tally: PollTally, watch: _Watch, scheduler: BackgroundScheduler
) -> None:
    try:
        report = bridge.run_feed(name)
        if bridge.settings.feeds[name].reminds:
            watch.reminders.set()  # it may have scheduled new reminders
    except StateError as error:  # the state cannot be written: no poll can be recorded
        tally.record(name, ok=False)
        watch.state_failed(error)
        return
    except Exception:
        tally.record(name, ok=False)
        log.exception(
            "feed %s: unexpected error; the next poll will try again",
            name,
            extra={"event": "feed.crashed", "fields": {"feed": name}},
        )
        return
    if report.busy:  # nothing was asked of the website: no poll to count
        _retry_soon(bridge, name, watch, scheduler, report)
    elif not bridge.settings.feeds[name].paused:  # a paused feed's job polls nothing
        tally.record(name, ok=report.ok)
    level = logging.INFO if report.ok else logging.WARNING
    posted = sum(1 for p in report.posts if p.status_url)
    summary = "; ".join(report.lines) or "ok"
    message = f"feed {name}: {summary}; {posted} posted"
    event(log, level, "feed.polled", message, feed=name, ok=report.ok, posted=posted)


def _retry_soon(
    bridge: Bridge,
    name: str,
    watch: _Watch,
    scheduler: BackgroundScheduler,
    report: FeedReport,
) -> None:
    """Move the feed's next poll to soon after its website was found busy, and say when.

    Left for its regular next poll, a feed of a website with hundreds of feeds could go
    unpolled for two intervals (bench/ websites-10000). The job changes its own next run
    time: the scheduler set it to the regular one when it started this run, and the next
    after the retry is an interval after it. This cannot deadlock with the scheduler's
    shutdown, which never waits for running jobs here (``shutdown(wait=False)``)."""
    if watch.stop.is_set():
        return
    job = scheduler.get_job(f"feed:{name}")
    if job is None:
        return
    now = datetime.now(UTC)
    retry = after_busy_website(
        now=now,
        next_poll=job.next_run_time,
        delay=timedelta(seconds=bridge.timing.busy_retry),
        rand=bridge.rand(),
    )
    try:
        scheduler.modify_job(job.id, next_run_time=retry)
    except JobLookupError:  # the daemon is stopping
        return
    seconds = max(1, round((retry - now).total_seconds()))
    report.say(f"tried again in about {seconds} seconds")


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
