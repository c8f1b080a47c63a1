"""Digests for busy feeds: new items collected and posted together at a set time. Pure.

``digest = "weekly Monday 09:00"`` or ``"daily 17:00"`` (in ``[bridge] timezone``). A digest
is due when a scheduled moment has passed since the feed's last post (or, before any, since
fedibridge first read it) and items wait. The digest post is a heading ("12 new this
week:"), the items' titles as a list shortened to fit, and the address of the feed's web page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from fedibridge.models import Entry, Post, ServerLimits, Style
from fedibridge.render import count_length, defuse, plain_feed_text

__all__ = ["Digest", "digest_due", "digest_post", "parse_digest"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SPEC = re.compile(r"^\s*(daily|weekly\s+(\w+))\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)
_ADVICE = 'write "daily 17:00" or "weekly Monday 09:00" (a weekday in English, 24-hour time)'


@dataclass(frozen=True, slots=True)
class Digest:
    at: time
    weekday: int | None = None  # 0 = Monday; None: every day

    @property
    def period(self) -> str:
        return "this week" if self.weekday is not None else "today"


def parse_digest(text: str) -> Digest:
    """ "weekly Monday 09:00" → Digest; ValueError with advice for staff."""
    match = _SPEC.match(text)
    if not match:
        raise ValueError(_ADVICE)
    hour, minute = int(match[3]), int(match[4])
    if hour > 23 or minute > 59:
        raise ValueError(_ADVICE)
    weekday = None
    if match[2] is not None:
        day = match[2].lower()
        found = [i for i, name in enumerate(_WEEKDAYS) if name.startswith(day[:3])]
        if len(day) < 3 or not found:
            raise ValueError(_ADVICE)
        weekday = found[0]
    return Digest(time(hour, minute), weekday)


def latest_moment(digest: Digest, now: datetime, zone: tzinfo) -> datetime:
    """The most recent scheduled moment at or before ``now`` (UTC)."""
    local = now.astimezone(zone)
    day = local.date()
    for _ in range(8):
        moment = datetime.combine(day, digest.at, tzinfo=zone)
        if moment <= local and (digest.weekday is None or day.weekday() == digest.weekday):
            return moment.astimezone(UTC)
        day -= timedelta(days=1)
    raise AssertionError("a week always has the weekday")  # pragma: no cover


def digest_due(
    digest: Digest, *, now: datetime, since: datetime | None, zone: tzinfo
) -> datetime | None:
    """The scheduled moment the digest is due for, or None when it is not due. ``since`` is
    the feed's last post (else when it was first read)."""
    moment = latest_moment(digest, now, zone)
    return moment if since is None or moment > since else None


def digest_post(
    entries: Sequence[Entry],
    *,
    digest: Digest,
    heading: str,
    link: str | None,
    style: Style,
    limits: ServerLimits,
    listed: bool = True,
) -> Post:
    """One post for ``entries``: the heading, the titles as "•" lines (as many as fit, then
    "… and N more"), and the feed's web page. Without ``listed``, the heading and the link
    only (the first post of a thread, whose replies are the items)."""
    top = heading.format(count=len(entries), period=digest.period)
    tail = f"\n\n{link}" if link else ""
    per_url = limits.characters_per_url
    titles = [defuse(" ".join(plain_feed_text(e.title).split())) or (e.link or "") for e in entries]
    lines: list[str] = []
    for number, title in enumerate(titles if listed else []):
        more = len(titles) - number - 1
        rest = f"\n\u2026 and {more} more" if more else ""
        candidate = "\n".join([top, *lines, f"\u2022 {title}"]) + rest + tail
        if count_length(candidate, per_url) > limits.max_characters:
            lines.append(f"\u2026 and {len(titles) - number} more")
            break
        lines.append(f"\u2022 {title}")
    text = "\n".join([top, *lines]) + tail
    return Post(
        text=text,
        length=count_length(text, per_url),
        limit=limits.max_characters,
        visibility=style.visibility,
        language=style.language,
        link=link,
    )
