"""Everything the status page and /metrics show, read at one moment into frozen values.

``take`` reads the state database (and, inside the daemon, the scheduler's next poll times
through ``DaemonView``); the page and the metrics are then pure functions of the snapshot.
The judgement "working / needs attention / failing" is made here, once, for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from fedibridge import __version__, advice
from fedibridge.activity import DaemonView, PollCount
from fedibridge.config import Settings
from fedibridge.health import Health, assess
from fedibridge.state import (
    AccountRow,
    FeedCounts,
    FeedRow,
    ItemRow,
    State,
    StateSize,
    UpcomingReminder,
)

Level = Literal["ok", "waiting", "attention", "failing", "paused", "new"]

CHART_DAYS = 30
LATEST_POSTS = 10
NEXT_REMINDERS = 10
WAITING_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Problem:
    what: str  # what is wrong, in the bridge's own words
    todo: str | None = None  # the next step, when ``what`` does not say it already


@dataclass(frozen=True, slots=True)
class FeedStatus:
    name: str
    url: str
    account: str
    level: Level
    problem: Problem | None
    interval: timedelta
    last_poll: datetime | None
    last_result: str | None
    last_success: datetime | None
    next_poll: datetime | None
    failures_in_a_row: int
    counts: FeedCounts
    polls: PollCount | None  # this process's polls; None outside the daemon


@dataclass(frozen=True, slots=True)
class AccountStatus:
    name: str
    server: str
    level: Level
    problem: Problem | None
    retry_at: datetime | None
    feeds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WaitingItem:
    item: ItemRow
    todo: str


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    taken_at: datetime
    version: str
    health: Health
    feeds: tuple[FeedStatus, ...]
    accounts: tuple[AccountStatus, ...]
    latest_posts: tuple[ItemRow, ...]
    waiting: tuple[WaitingItem, ...]
    waiting_total: int
    posts_per_day: tuple[tuple[date, int], ...]  # oldest first, CHART_DAYS days up to today
    reminders: tuple[UpcomingReminder, ...] = ()  # the next reminders of events, soonest first
    timezone: str = "UTC"  # [bridge] timezone, in which reminders are shown
    state_size: StateSize | None = None

    def named(self, level: Level) -> list[str]:
        """'feed “news”', 'account “main”': everything at this level, for sentences."""
        feeds = [f"feed “{f.name}”" for f in self.feeds if f.level == level]
        return feeds + [f"account “{a.name}”" for a in self.accounts if a.level == level]

    @property
    def failing(self) -> int:
        return len(self.named("failing"))

    @property
    def attention(self) -> int:
        return len(self.named("attention"))


def take(
    settings: Settings, state: State, now: datetime, view: DaemonView | None
) -> StatusSnapshot:
    rows = {name: state.feed(name) for name in settings.feeds}
    health = assess(settings, rows, now)
    polls = view.polls() if view is not None else None
    feeds = tuple(
        _feed(settings, name, rows[name], state.counts(name), health, view, polls)
        for name in settings.feeds
    )
    waiting = state.waiting_items(WAITING_SHOWN)
    accounts = tuple(
        _account(settings, name, state.account(name), feeds, waiting) for name in settings.accounts
    )
    return StatusSnapshot(
        taken_at=now,
        version=__version__,
        health=health,
        feeds=feeds,
        accounts=accounts,
        latest_posts=tuple(state.latest_posts(LATEST_POSTS)),
        waiting=tuple(WaitingItem(i, advice.for_item(i.feed, i.state, i.reason)) for i in waiting),
        waiting_total=sum(f.counts.pending + f.counts.failed for f in feeds),
        posts_per_day=_per_day(state, now),
        reminders=tuple(state.upcoming_reminders(NEXT_REMINDERS)),
        timezone=settings.bridge.timezone,
        state_size=state.size(),
    )


def _feed(
    settings: Settings,
    name: str,
    row: FeedRow | None,
    counts: FeedCounts,
    health: Health,
    view: DaemonView | None,
    polls: dict[str, PollCount] | None,
) -> FeedStatus:
    config = settings.feeds[name]
    interval = settings.interval_for(name)
    polled = row is not None and row.last_polled_at is not None
    level, problem = _judge_feed(name, row, counts, interval, stale=name in health.stale)
    return FeedStatus(
        name=name,
        url=config.url,
        account=settings.account_for(name),
        level="paused" if config.paused else level,
        problem=None if config.paused else problem,
        interval=interval,
        last_poll=row.last_polled_at if row else None,
        last_result=row.last_result if polled and row else None,
        last_success=row.last_success_at if row else None,
        next_poll=None if config.paused else _next_poll(name, row, view),
        failures_in_a_row=row.failures if row else 0,
        counts=counts,
        polls=polls.get(name, PollCount()) if polls is not None else None,
    )


def _judge_feed(
    name: str, row: FeedRow | None, counts: FeedCounts, interval: timedelta, *, stale: bool
) -> tuple[Level, Problem | None]:
    if row is None or row.last_polled_at is None:
        return "new", None
    if row.gone_since is not None or row.last_result == "error":
        return "failing", Problem(row.last_error or "the last poll failed")
    if stale:
        return "failing", Problem(
            "Not polled recently.", advice.for_stale_feed(row.last_polled_at, interval)
        )
    if row.moved_to:
        return "attention", Problem(
            f"The feed has moved permanently to {row.moved_to}.",
            f"Put the new address in feeds.{name}.url in the config.",
        )
    if counts.failed:
        return "attention", Problem(
            f"{counts.failed} item{'s' if counts.failed != 1 else ''} could not be posted.",
            "See “Waiting and refused items” below.",
        )
    return "ok", None


def _next_poll(name: str, row: FeedRow | None, view: DaemonView | None) -> datetime | None:
    """The scheduler's next run, unless the feed must wait longer (backoff, Retry-After):
    a run before that time only looks at the clock and returns."""
    if row is not None and row.gone_since is not None:
        return None
    scheduled = view.next_poll(name) if view is not None else None
    later = row.next_poll_at if row is not None else None
    if scheduled is None or later is None:
        return scheduled or later
    return max(scheduled, later)


def _account(
    settings: Settings,
    name: str,
    row: AccountRow,
    feeds: tuple[FeedStatus, ...],
    waiting: list[ItemRow],
) -> AccountStatus:
    mine = tuple(f for f in feeds if f.account == name)
    names = {f.name for f in mine}
    held = [i.reason for i in waiting if i.state == "pending" and i.reason and i.feed in names]
    level: Level = "ok" if any(f.last_poll for f in mine) else "new"
    problem = None
    if row.problem and row.failures and row.retry_at is None:
        # Refused without a time to try again: the token or the address; staff must act.
        level, problem = "failing", Problem(row.problem, advice.for_account(name))
    elif row.problem:
        # Server trouble or the rate budget: posting resumes by itself at retry_at.
        level, problem = "waiting", Problem(row.problem)
    elif held:
        # Items say why they wait although the account has no recorded trouble (yet).
        level, problem = "waiting", Problem(held[-1])
    return AccountStatus(
        name=name,
        server=settings.accounts[name].server,
        level=level,
        problem=problem,
        retry_at=row.retry_at,
        feeds=tuple(f.name for f in mine),
    )


def _per_day(state: State, now: datetime) -> tuple[tuple[date, int], ...]:
    today = now.date()
    first = today - timedelta(days=CHART_DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    counts = state.posts_per_day(since)
    days = (first + timedelta(days=n) for n in range(CHART_DAYS))
    return tuple((day, counts.get(day.isoformat(), 0)) for day in days)
