"""Pure decisions about a freshly parsed feed: what is new, what gets posted, in which order.

Nothing here does I/O or reads the clock; the cycle hands in what the state database knows.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from fedibridge.filters import EntryFilter, filter_reason
from fedibridge.models import Correction, Entry, Known, NewEntry, OwnPost, Post
from fedibridge.render import html_to_text

BASELINE = "already in the feed when fedibridge first read it"
CANCELLED = "the event is cancelled"
NOT_ANNOUNCED = "events are not announced (announce = false); only reminded of"


@dataclass(frozen=True, slots=True)
class Plan:
    new: tuple[NewEntry, ...]  # oldest first: the order they will be posted in
    note: str | None = None  # something staff should hear about this poll

    @property
    def to_post(self) -> int:
        return sum(1 for n in self.new if n.state == "pending")


def plan_entries(
    entries: tuple[Entry, ...],
    known: set[str],
    *,
    first_contact: bool,
    backfill: int,
    flood_items: int,
    flood_ratio: float,
    entry_filter: EntryFilter | None = None,
    announce: bool = True,
) -> Plan:
    """Decide the fate of every entry the state does not know yet.

    First contact records everything and posts only the ``backfill`` newest. Later polls post
    every new entry, unless so many arrive at once that the site has most likely changed its
    item ids or addresses (the flood guard): then nothing is posted and staff are told.
    Entries the feed's ``entry_filter`` leaves out are never posted (``filters.py``).
    """
    fresh = oldest_first([e for e in entries if e.key not in known])
    if not fresh:
        return Plan(())
    # A filtered entry keeps its own reason in every case: `fedibridge retry` releases what
    # the flood guard held back by its reason, and must never release what staff filtered.
    left_out = {e.key: r for e in fresh if (r := filter_reason(e, entry_filter) or empty_reason(e))}
    left_out |= {e.key: CANCELLED for e in fresh if e.event and e.event.cancelled}
    if not announce:
        left_out |= {e.key: NOT_ANNOUNCED for e in fresh if e.event and e.key not in left_out}
    if first_contact:
        wanted = [e for e in fresh if e.key not in left_out]
        # Events: the soonest are announced (they come first); other items: the newest.
        chosen = wanted[:backfill] if _events(fresh) else wanted[max(0, len(wanted) - backfill) :]
        posted = {e.key for e in chosen}
        new = tuple(
            NewEntry(e, "pending")
            if e.key in posted
            else NewEntry(e, "skipped", left_out.get(e.key, BASELINE))
            for e in fresh
        )
        note = (
            f"first visit: {len(fresh)} items recorded as already published; "
            f"{len(posted)} of the {'soonest' if _events(fresh) else 'newest'} will be posted "
            "(backfill)"
        )
        return Plan(new, note)
    if len(fresh) > flood_items and len(fresh) >= flood_ratio * len(entries):
        reason = (
            f"flood guard: {len(fresh)} of the feed's {len(entries)} items looked new at once, "
            "which usually means the website changed its item ids or addresses"
        )
        note = (
            f"{reason}. Nothing was posted from this poll. If these really are new, raise "
            "flood_guard_items for this feed and run `fedibridge retry`. A feed that often "
            "brings this many at once (new titles in the catalogue) can post them together "
            'in one post: digest = "weekly Monday 09:00".'
        )
        return Plan(tuple(NewEntry(e, "skipped", left_out.get(e.key, reason)) for e in fresh), note)
    new = tuple(
        NewEntry(e, "skipped", left_out[e.key]) if e.key in left_out else NewEntry(e, "pending")
        for e in fresh
    )
    filtered = f"{len(left_out)} new items left out by the feed's filters" if left_out else None
    return Plan(new, filtered)


NOTHING_TO_POST = "nothing to post: the item has no title, text, link or picture"


def empty_reason(entry: Entry) -> str | None:
    """Why an entry cannot become a post, or None. Some servers refuse an empty post, others
    (snac, Takahē with only spaces) publish a blank one: neither helps a follower."""
    has_text = (
        entry.title.strip()
        or (html_to_text(entry.summary) if entry.summary_is_html else entry.summary).strip()
    )
    return None if has_text or entry.link or entry.images else NOTHING_TO_POST


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _events(entries: list[Entry]) -> bool:
    return bool(entries) and all(e.event is not None for e in entries)


def oldest_first(entries: list[Entry]) -> list[Entry]:
    """Order for posting. Feeds list the newest first, so document order reversed is the
    fallback; dates decide where every entry has one. Events: the soonest first."""
    if _events(entries):
        return sorted(entries, key=lambda e: e.event.starts if e.event else _EPOCH)
    reversed_document = list(reversed(entries))
    if all(e.published or e.updated for e in entries):
        # sorted() is stable: entries with equal dates keep reversed document order.
        return sorted(reversed_document, key=lambda e: e.published or e.updated or _EPOCH)
    return reversed_document


def newest(entries: tuple[Entry, ...], count: int) -> list[Entry]:
    """The ``count`` newest entries, oldest of them first (for previews); of events, the
    soonest."""
    ordered = oldest_first(list(entries))
    if _events(ordered):
        return ordered[:count]
    return ordered[max(0, len(ordered) - count) :]


# --- when to try again ------------------------------------------------------------------

NOT_FOUND_LIMIT = 3
"""A feed answering 404 this many polls in a row is stopped (a 410 stops it at once)."""

FEED_BACKOFF_CAP = timedelta(hours=6)
POST_BACKOFF_BASE = timedelta(minutes=1)
POST_BACKOFF_CAP = timedelta(hours=1)


def backoff(failures: int, *, base: timedelta, cap: timedelta, rand: float) -> timedelta:
    """Capped exponential backoff with jitter: after the n-th failure in a row wait between
    half and all of ``base * 2**(n-1)`` (at most ``cap``). ``rand`` is uniform in [0, 1), so
    many bridges that failed together do not all come back at the same second."""
    ceiling = min(cap, base * (1 << min(max(failures - 1, 0), 30)))
    return ceiling / 2 + ceiling / 2 * rand


@dataclass(frozen=True, slots=True)
class FeedRetry:
    next_poll_at: datetime | None
    gone: bool = False


def after_feed_failure(
    *,
    failures: int,
    not_found: int,
    is_not_found: bool,
    permanent: bool,
    retry_after: float | None,
    interval: timedelta,
    now: datetime,
    rand: float,
) -> FeedRetry:
    """When to poll a feed again after its fetch failed. ``failures`` and ``not_found``
    count the failures before this one."""
    if permanent or (is_not_found and not_found + 1 >= NOT_FOUND_LIMIT):
        return FeedRetry(None, gone=True)
    wait = backoff(failures + 1, base=interval, cap=max(interval, FEED_BACKOFF_CAP), rand=rand)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return FeedRetry(now + wait)


def polite_next_poll(
    *,
    fresh_for: float | None,
    ttl_minutes: int | None,
    interval: timedelta,
    longest: timedelta,
    now: datetime,
) -> datetime | None:
    """When a website asks to be left alone longer than the feed's interval (Cache-Control
    max-age, Expires, RSS <ttl>), the next poll waits that long, but never beyond ``longest``.
    None when the usual schedule already waits long enough."""
    asked = max(fresh_for or 0.0, (ttl_minutes or 0) * 60.0)
    if asked <= interval.total_seconds():
        return None
    return now + min(timedelta(seconds=asked), max(longest, interval))


def after_busy_website(
    *, now: datetime, next_poll: datetime | None, delay: timedelta, rand: float
) -> datetime:
    """When to poll again a feed whose poll found its website's slots all taken (not a
    failure: nothing was asked of the website). Between 2/3 and 4/3 of ``delay`` from
    ``now`` (``rand`` uniform in [0, 1)), so that the feeds left together do not all come
    back in the same second; but never later than ``next_poll``, the feed's regular next
    poll (None: none planned), as the point is to not lose an interval, never to delay."""
    retry = now + delay * (2 + 2 * rand) / 3
    return retry if next_poll is None or retry < next_poll else next_poll


def after_post_failure(
    *, failures: int, retry_at: datetime | None, now: datetime, rand: float
) -> datetime:
    """When an account may post again after a server error. A time the server gave
    (Retry-After, a rate limit's reset) is kept to the second: a server that allows one note
    a second means one second, not our backoff. Without one, the backoff grows with
    ``failures``, the failed rounds before this one."""
    if retry_at is not None:
        return max(retry_at, now)
    return now + backoff(failures + 1, base=POST_BACKOFF_BASE, cap=POST_BACKOFF_CAP, rand=rand)


@dataclass(frozen=True, slots=True)
class Budget:
    """A server's rate budget for one kind of action (Mastodon: 300 posts per 3 hours)."""

    kinds: tuple[str, ...]
    limit: int
    window: timedelta


# Mastodon's budgets (FACTS.md), kept at 90 % so other clients of the account have room.
STATUS_BUDGET = Budget(("status", "edit"), limit=270, window=timedelta(hours=3))
MEDIA_BUDGET = Budget(("media",), limit=27, window=timedelta(minutes=30))


def budget_wait(budget: Budget, recent: list[datetime], now: datetime) -> datetime | None:
    """None while the budget has room; else the moment the oldest counted action leaves the
    window. ``recent`` are the actions of the window, oldest first."""
    in_window = [moment for moment in recent if moment > now - budget.window]
    if len(in_window) < budget.limit:
        return None
    return in_window[len(in_window) - budget.limit] + budget.window


def fingerprint(entry: Entry) -> str:
    """What a post shows of an entry, reduced to a hash: a change means a correction. Dates
    and ids are left out, so a feed that only touches <updated> causes no edit."""
    summary = html_to_text(entry.summary) if entry.summary_is_html else entry.summary
    parts = [entry.title, summary, entry.link or ""]
    parts += [f"{image.url} {image.alt}" for image in entry.images]
    if entry.event is not None:  # a moved or cancelled event is a correction too
        event = entry.event
        ends = event.ends.isoformat() if event.ends else ""
        parts += [event.starts.isoformat(), ends, str(event.all_day), event.location]
        parts += ["cancelled"] if event.cancelled else []
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def corrections(
    entries: tuple[Entry, ...],
    known: Mapping[str, Known],
    *,
    edit: bool,
    max_age: timedelta,
    now: datetime,
) -> list[Correction]:
    """Entries seen before whose content changed. Not yet posted: refresh what will be
    posted. Posted within ``max_age``: edit the post, when the feed wants edits."""
    found = []
    for entry in entries:
        seen = known.get(entry.key)
        if seen is None or seen.fingerprint is None or seen.fingerprint == fingerprint(entry):
            continue
        if seen.state == "pending":
            found.append(Correction(entry, edit=False))
        elif (
            seen.state == "posted"
            and edit
            and seen.posted_at
            and _still_current(entry, seen.posted_at, max_age, now)
        ):
            found.append(Correction(entry, edit=True))
    return found


def _still_current(entry: Entry, posted_at: datetime, max_age: timedelta, now: datetime) -> bool:
    """Worth editing: a post younger than ``max_age``, or one announcing an event that has
    not happened yet (announcements are often made weeks ahead)."""
    upcoming = entry.event is not None and (entry.event.ends or entry.event.starts) > now
    return upcoming or now - posted_at <= max_age


# --- pacing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """ "22:00-07:00" → QuietHours; ValueError with a message for staff."""
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not match:
            raise ValueError('write the hours as "22:00-07:00" (from-to, 24-hour clock)')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
            raise ValueError('write two different times of day, such as "22:00-07:00"')
        return cls(time(h1, m1), time(h2, m2))


@dataclass(frozen=True, slots=True)
class Pacing:
    """How one feed's posts are spread out (from its config and its account's)."""

    max_posts_per_cycle: int = 0  # 0: no limit
    min_spacing: timedelta = timedelta(0)
    quiet_hours: QuietHours | None = None
    zone: tzinfo = UTC


def quiet_until(now: datetime, pacing: Pacing) -> datetime | None:
    """The end of the quiet hours ``now`` falls in, or None when posting is allowed."""
    quiet = pacing.quiet_hours
    if quiet is None:
        return None
    local = now.astimezone(pacing.zone)
    moment = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= moment < quiet.end
        end_day = local.date()
    else:  # across midnight, such as 22:00-07:00
        inside = moment >= quiet.start or moment < quiet.end
        end_day = local.date() + timedelta(days=1 if moment >= quiet.start else 0)
    if not inside:
        return None
    return datetime.combine(end_day, quiet.end, tzinfo=pacing.zone).astimezone(UTC)


def find_posted(post: Post, title: str, recent: Iterable[OwnPost]) -> OwnPost | None:
    """The account's post that already carries this item, if any.

    Used only for items whose earlier attempt may have reached the server (a crash or a lost
    answer), on servers that ignore Idempotency-Key. A post matches when it links to the
    item's link and shows its title; an item without a link matches on the start of its text.
    Requiring both for linked items keeps two items that share a link (a feed whose items all
    point to one events page) from being mistaken for each other.
    """
    wanted_title = _squash(title)[:60]
    wanted_start = _squash(post.text)[:80]
    for own in recent:
        text = _squash(own.text)
        if post.link:
            if post.link in own.links and wanted_title in text:
                return own
        elif wanted_start and text.startswith(wanted_start):
            return own
    return None


def _squash(text: str) -> str:
    # Without the invisible word joiners render puts into "@name" and "#tag" from the feed
    # (render.defuse): the item's title has none, and some servers may drop them.
    return " ".join(text.replace("\u2060", "").split())


def idempotency_key(server: str, account: str, feed: str, entry_key: str) -> str:
    """The same entry to the same account always carries the same key, across restarts."""
    material = "\n".join((server, account, feed, entry_key)).encode("utf-8")
    return "fedibridge-" + hashlib.sha256(material).hexdigest()[:40]


FIRST_POLL_SPACING = 2.0
"""Seconds between the first polls of one website's feeds, at least: its two request slots
serve about two polls a second, and bench/ (``websites-10000``) found any closer spacing of a
website's hundreds of feeds left some unpolled for a whole interval."""

FIRST_ROUND_PACE = 1.0
"""Seconds of the first round per feed: it lasts a second per feed, and never longer than the
interval. A library's few feeds are all polled within seconds of the start; a consortium's
thousands are spread over the interval at the rate they are polled afterwards, not in a burst."""


def first_polls(
    intervals: list[float], websites: list[str], rand: Callable[[], float]
) -> list[float]:
    """Seconds after the start at which each feed (with these intervals, in seconds, on these
    websites) is first polled, so that every feed is due within its interval however many
    there are, no website is asked more often than its slots can serve, and the whole first
    round asks no faster than the rounds after it.

    The websites start one after the other, a second apart (or closer, when there are more
    websites than seconds in the interval), each jittered within its second. Each website's
    feeds then follow each other evenly over the first round (FIRST_ROUND_PACE), never closer
    than FIRST_POLL_SPACING unless that would not fit in the interval."""
    sizes = Counter(websites)
    phases: dict[str, float] = {}  # website → when its first feed is polled
    rank: Counter[str] = Counter()
    offsets = []
    for website, interval in zip(websites, intervals, strict=True):
        if website not in phases:
            apart = min(1.0, interval / len(sizes))
            phases[website] = (len(phases) + rand()) * apart
        first_round = min(interval, len(websites) * FIRST_ROUND_PACE)
        closest = min(FIRST_POLL_SPACING, interval / sizes[website])
        step = max(closest, first_round / sizes[website])
        offsets.append((phases[website] + rank[website] * step) % interval)
        rank[website] += 1
    return offsets
