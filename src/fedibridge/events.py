"""Event times and states, as library systems write them. Pure: no clock, no I/O.

Shared by the calendar reader (``parse_ical.py``) and the RSS reader (``parse.py``), which
finds event dates where systems put them (FACTS-events.md §1): LibCal's ``libcal:date`` and
``libcal:start``/``libcal:end`` (local wall time, no offset), BiblioCommons'
``bc:start_date``/``bc:end_date`` (UTC) and ``bc:is_cancelled``, the RSS event module's
``ev:startdate``/``ev:enddate``, and xCal's ``xcal:dtstart``/``xcal:dtend``. Some systems put
the event's start in ``pubDate`` (The Events Calendar, Assabet, CiviCRM): a feed says so with
``dates = "event"``, since nothing in such a feed tells it apart from a publication date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from fedibridge.models import Event, EventDates

__all__ = ["event_in_zone", "is_cancelled_title", "reminder_times", "rss_event"]

_CANCELLED_WORDS = (
    r"cancell?ed|abgesagt|entf[äa]llt|annul[ée]e?s?|cancelad[oa]|annullat[oa]|geannuleerd"
    r"|inst[äa]llt|aflyst|avlyst|peruttu|odwo[łl]ane"
)
# "CANCELLED - Story time", "[CANCELLED] Story time", "Canceled: Story time",
# "Story time (cancelled)", "Story time - CANCELED" (LibCal, Google; FACTS-events.md §1);
# but not a talk called "Cancelled flights": a leading word counts when a separator follows
# it or it is written in capitals.
_CANCELLED_TITLE = re.compile(
    rf"^\W*(?:{_CANCELLED_WORDS})\s*[-\u2013\u2014:!]|[(\[]\s*(?:{_CANCELLED_WORDS})\s*[)\]]"
    rf"|[-\u2013\u2014:]\s*(?:{_CANCELLED_WORDS})\W*$",
    re.IGNORECASE,
)
_CAPITALS_FIRST = re.compile(rf"^\W*((?:{_CANCELLED_WORDS}))\b", re.IGNORECASE)
_BASIC_DATE_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?(Z)?)?$")
_TRUE = frozenset({"true", "1", "yes"})


def is_cancelled_title(title: str) -> bool:
    """True when a title says the event is cancelled, as LibCal and Google calendars do."""
    if _CANCELLED_TITLE.search(title):
        return True
    first = _CAPITALS_FIRST.match(title)
    return first is not None and first.group(1).isupper()


def event_in_zone(
    starts: datetime | date,
    ends: datetime | date | None,
    zone: tzinfo,
    *,
    location: str = "",
    cancelled: bool = False,
) -> Event:
    """An ``Event`` from iCalendar-like values. Dates are all-day (``ends`` exclusive); times
    without a zone ("floating") are wall times in ``zone``; 00:00-23:59 is all day too (LibCal
    RSS, some county calendars write all-day events so)."""
    all_day = not isinstance(starts, datetime)
    start = _aware(starts, zone)
    end = _aware(ends, zone) if ends is not None else None
    if all_day and (end is None or end <= start):
        end = _aware(_day(starts) + timedelta(days=1), zone)
    local_start = start.astimezone(zone)
    if not all_day and end is not None and local_start.time() == time(0):
        local_end = end.astimezone(zone)
        whole_days = local_end.time() == time(0) and local_end.date() > local_start.date()
        if whole_days or local_end.time() >= time(23, 59):
            all_day = True
            last = local_end.date() if whole_days else local_end.date() + timedelta(days=1)
            end = _aware(last, zone)
    if end is not None and end <= start:
        end = None  # The Events Calendar writes DTEND = DTSTART when no end is set
    return Event(
        starts=start.astimezone(UTC),
        ends=end.astimezone(UTC) if end is not None else None,
        all_day=all_day,
        location=" ".join(location.split()),
        cancelled=cancelled,
    )


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _aware(value: datetime | date, zone: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


# ---- reminders ------------------------------------------------------------------------------


def reminder_times(
    event: Event, at: tuple[time, ...], before: tuple[timedelta, ...], zone: tzinfo
) -> dict[str, datetime]:
    """When to remind of ``event``: {label: moment (UTC)}. ``at`` are times of day on the
    event's (local) day, ``before`` are intervals before its start. Whole days count in wall
    time, so "1d" before 10:30 is 10:30 the day before, also across a DST change; hours are
    exact. Reminders that would come at or after the start are left out."""
    starts = event.starts.astimezone(zone)
    found: dict[str, datetime] = {}
    for moment in at:
        found[f"at {moment:%H:%M}"] = datetime.combine(starts.date(), moment, tzinfo=zone)
    for interval in before:
        if interval % timedelta(days=1):
            found[f"{_label(interval)} before"] = event.starts - interval
        else:
            found[f"{_label(interval)} before"] = starts - interval  # wall-clock days
    return {label: due.astimezone(UTC) for label, due in found.items() if due < event.starts}


def _label(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---- RSS ------------------------------------------------------------------------------------


def rss_event(
    raw: Mapping[str, Any], published: datetime | None, zone: tzinfo, dates: EventDates
) -> Event | None:
    """The event an RSS item announces, or None. ``raw`` is feedparser's entry."""
    if dates == "published":
        return None
    found = _libcal(raw, zone) or _bibliocommons(raw, zone) or _timed(raw, zone)
    if found is None and dates == "event" and published is not None:
        found = event_in_zone(published, None, zone)
    return found


def _libcal(raw: Mapping[str, Any], zone: tzinfo) -> Event | None:
    day = _iso_date(raw.get("libcal_date"))
    if day is None:
        return None
    start, end = _clock(raw.get("libcal_start")), _clock(raw.get("libcal_end"))
    place = ", ".join(_texts(raw, "libcal_location", "libcal_campus"))
    if start is None:
        return event_in_zone(day, None, zone, location=place)
    starts = datetime.combine(day, start)
    ends = datetime.combine(day, end) if end is not None else None
    if ends is not None and ends < starts:
        ends += timedelta(days=1)  # 20:00-01:00
    return event_in_zone(starts, ends, zone, location=place)


def _bibliocommons(raw: Mapping[str, Any], zone: tzinfo) -> Event | None:
    starts = _moment(raw.get("bc_start_date"))
    if starts is None:
        return None
    cancelled = str(raw.get("bc_is_cancelled") or "").strip().lower() in _TRUE
    place = ", ".join(_texts(raw, "bc_location_details", "bc_name"))
    ends = _moment(raw.get("bc_end_date"))
    return event_in_zone(starts, ends, zone, location=place, cancelled=cancelled)


def _timed(raw: Mapping[str, Any], zone: tzinfo) -> Event | None:
    """The RSS event module (``ev:``), else xCal in RSS (``xcal:``)."""
    for start_key, end_key, place_key in (
        ("ev_startdate", "ev_enddate", "ev_location"),
        ("xcal_dtstart", "xcal_dtend", "xcal_location"),
    ):
        starts = _moment(raw.get(start_key))
        if starts is not None:
            place = ", ".join(_texts(raw, place_key))
            return event_in_zone(starts, _moment(raw.get(end_key)), zone, location=place)
    return None


def _texts(raw: Mapping[str, Any], *keys: str) -> list[str]:
    values = (raw.get(key) for key in keys)
    return [" ".join(v.split()) for v in values if isinstance(v, str) and v.strip()]


def _iso_date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value else None
    except ValueError:
        return None


def _clock(value: object) -> time | None:
    try:
        return time.fromisoformat(str(value).strip()) if value else None
    except ValueError:
        return None


def _moment(value: object) -> datetime | date | None:
    """W3CDTF / RFC 3339 (with or without offset), a date, or iCalendar's basic format
    (``20261206T180000Z``). A value without an offset is a wall time (floating)."""
    text = str(value or "").strip()
    if not text:
        return None
    basic = _BASIC_DATE_TIME.match(text)
    if basic:
        year, month, day, hour, minute, second, utc = basic.groups()
        try:
            if hour is None:
                return date(int(year), int(month), int(day))
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if utc else moment
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        return None
