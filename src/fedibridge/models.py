"""Small frozen values handed from one step of the cycle to the next.

fetch → ``Fetched``; parse → ``ParsedFeed`` of ``Entry``; render → ``Post``; the server's
``ServerLimits`` shape the rendering. None of these types does I/O.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

Visibility = Literal["public", "unlisted", "private", "direct"]
# Where an RSS item's event time comes from: its event fields when it has them ("auto"), its
# publication date as today ("published"), or its pubDate, which some systems set to the
# event's start ("event": The Events Calendar, Assabet, CiviCRM).
EventDates = Literal["auto", "published", "event"]


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last successful fetch told us, sent back to make the next fetch conditional."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of one fetch. ``body`` is None when the server said "not modified"."""

    url: str
    body: bytes | None
    validators: Validators
    content_type: str | None = None
    # Where a permanent redirect (301/308) pointed, so staff can update the config.
    moved_to: str | None = None
    # How long the website says the answer stays fresh (Cache-Control max-age, Expires).
    fresh_for: float | None = None

    @property
    def not_modified(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class Image:
    url: str
    alt: str


@dataclass(frozen=True, slots=True)
class Event:
    """When and where an item's event happens. Times are timezone-aware; an all-day event
    starts at midnight of its first day in the library's zone and ends at midnight after its
    last day (iCalendar's DTEND is exclusive)."""

    starts: datetime
    ends: datetime | None = None
    all_day: bool = False
    location: str = ""
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Reading:
    """What reading a feed needs besides its bytes: the moment it is read (calendars are
    expanded from then on), the library's time zone (for times written without one), how far
    ahead a calendar is read, and where RSS items keep their event dates."""

    now: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    zone: tzinfo = UTC
    horizon: timedelta = timedelta(days=60)
    dates: EventDates = "auto"


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, reduced to what a post needs. Text fields are never None."""

    key: str  # stable identity within its feed: guid, else normalised link, else content hash
    title: str  # plain text
    link: str | None  # absolute, tracking parameters removed
    summary: str  # as the feed gives it (links unresolved); HTML when summary_is_html
    summary_is_html: bool = True
    categories: tuple[str, ...] = ()
    author: str | None = None
    language: str | None = None  # ISO 639-1 when known
    published: datetime | None = None  # timezone-aware (UTC)
    updated: datetime | None = None
    images: tuple[Image, ...] = ()
    event: Event | None = None  # for items of a calendar, or RSS items with event dates


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    link: str | None
    language: str | None
    entries: tuple[Entry, ...]  # document order, duplicates of a key removed
    ttl_minutes: int | None = None  # RSS <ttl>: how long the feed asks to be left alone
    # A calendar read over a horizon: what it yields changes with the day even when the file
    # does not, so it is always fetched in full (no ETag / Last-Modified kept).
    expanded: bool = False
    # Items that could not be used at all, each with a reason staff can read.
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry seen for the first time, with what the plan decided for it."""

    entry: Entry
    state: Literal["pending", "skipped"]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """What the state knows of an entry seen before."""

    state: Literal["pending", "posted", "skipped", "failed"]
    fingerprint: str | None
    posted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Correction:
    """An entry seen before whose content changed on the website. ``edit``: its post should
    be edited; otherwise only the stored content is refreshed (it is not posted yet)."""

    entry: Entry
    edit: bool


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What the account's server accepts. Defaults are Mastodon's."""

    max_characters: int = 500
    # Every URL weighs this much; None means URLs count their real length.
    characters_per_url: int | None = 23
    max_media: int = 4
    description_limit: int = 1500
    image_size_limit: int = 16 * 1024 * 1024
    image_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/gif", "image/webp")

    def counting_raw(self) -> ServerLimits:
        """The same limits, counting every character: for servers that count that way."""
        return dataclasses.replace(self, characters_per_url=None)


@dataclass(frozen=True, slots=True)
class ContentWarningRule:
    """Put ``text`` as a content warning on items in one of ``categories`` (compared without
    regard to case) or whose title or summary ``pattern`` finds."""

    text: str
    categories: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class Style:
    """How one feed's items become posts (from the feed's config)."""

    template: str
    hashtags: tuple[str, ...] = ()
    visibility: Visibility = "public"
    language: str | None = None  # overrides the item's and the feed's language
    spoiler_text: str = ""
    feed_title: str = ""
    media: bool = True  # attach the item's images (feeds.NAME.media = "auto")
    # A template for pictures the feed gives no description: never leave one empty.
    image_description: str = "{title}"
    sensitive: bool = False  # hide the images behind a click (a content warning does too)
    content_warnings: tuple[ContentWarningRule, ...] = ()
    keep_feed_hashtags: bool = False  # let #tags written in the feed's text stay tags
    date_format: str = "long"  # how {published} looks; see dates.py
    timezone: tzinfo = UTC  # {published} is the date in this zone ([bridge] timezone)


@dataclass(frozen=True, slots=True)
class OwnPost:
    """One of the account's own recent posts, as needed to recognise an item already posted."""

    status_id: str
    url: str | None
    text: str  # plain text
    links: tuple[str, ...]  # every link target in the post, as the server stored it
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """A status ready to send, exactly as the server will receive it."""

    text: str
    length: int  # as the server counts it, with the limits it was rendered for
    limit: int
    visibility: Visibility = "public"
    language: str | None = None
    spoiler_text: str = ""
    sensitive: bool = False  # always true with a spoiler_text, as Mastodon forces it
    link: str | None = None
    media: tuple[Image, ...] = field(default=())
    in_reply_to: str | None = None  # the status this post answers (a reminder, its event's)
