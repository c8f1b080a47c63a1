"""iCalendar (.ics) bytes → ``ParsedFeed`` of the events ahead, one entry per occurrence. Pure.

``parse.parse_feed`` hands a document here when it starts with ``BEGIN:VCALENDAR``. The
calendar is read with ``icalendar`` and its repeating events are expanded with
``recurring-ical-events`` from ``Reading.now`` to ``now + horizon``; only occurrences that
have not started yet become entries (an event is never announced after it started).

What real calendars need (FACTS-events.md §2-3):

- A bad value in a calendar-level line (Tockify's ``REFRESH-INTERVAL:P15M``) makes icalendar
  refuse the whole file: such lines are dropped and the file read again. A zone name in
  ``X-WR-TIMEZONE`` that is no IANA zone (Localist's "Eastern Time (US & Canada)") is
  translated, or dropped. One broken event is left out (``dropped``), not the calendar.
- Times: Windows zone names (icalendar's CLDR table), ``X-WR-TIMEZONE`` (applied by
  recurring-ical-events, so a Google weekly event keeps its local time across DST), all-day
  ``DATE`` values with an exclusive ``DTEND``, 00:00-23:59 pseudo all-day events, and
  floating times (and unknown zone ids, which icalendar leaves floating) in the library's zone.
- Keys: a single event is ``event:UID``, so a moved event is the same entry and its post is
  corrected; each occurrence of a repeating event is ``event:UID@RECURRENCE-ID`` (its
  original start), so it is posted once even when that one occurrence is moved. The Events
  Calendar writes ``UID:<post id>-<start epoch>-<end epoch>@host``: the epochs are dropped,
  so moving such an event is a change, not a new event.
- Cancelled: ``STATUS:CANCELLED`` (also on one occurrence's override) or a title such as
  "CANCELLED - …", "[CANCELLED] …", "Canceled: …" (LibCal and Google say it only there).
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events
from icalendar.error import GloballyUniqueTZIDGuessed
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from fedibridge.errors import NotAFeed
from fedibridge.events import event_in_zone, is_cancelled_title
from fedibridge.models import Entry, Image, ParsedFeed, Reading
from fedibridge.parse import _absolute_http, _Candidate, _shortened, _unique_entries, entry_key
from fedibridge.urls import strip_tracking

__all__ = ["looks_like_ical", "parse_calendar"]

# Thunderbird's "/mozilla.org/20070129_1/Europe/Berlin" is read as Europe/Berlin, as wanted;
# icalendar warns each time, which would only fill the log.
warnings.filterwarnings("ignore", category=GloballyUniqueTZIDGuessed)

_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*BEGIN:VCALENDAR", re.IGNORECASE)
# Calendar-level lines every reader needs; others may be dropped to save a broken file.
_KEPT_CALENDAR_LINES = frozenset(
    {"VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-CALNAME", "X-WR-TIMEZONE"}
)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
# WebEx and Exchange write UTC so (FACTS-events.md §2); icalendar would leave it floating.
_MICROSOFT_UTC = re.compile(r'TZID="?tzone://Microsoft/Utc"?', re.IGNORECASE)
_VEVENT = re.compile(
    r"^[ \t]*BEGIN:VEVENT[ \t]*\r?$.*?^[ \t]*END:VEVENT[ \t]*\r?$\n?",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)
_TRIBE_UID = re.compile(r"^(\d+)-\d{9,11}-\d{9,11}(@.*)$")
_HTML = re.compile(r"<(?:br|p|a|div|b|i|u|ul|ol|li|strong|em|span)\b[^>]*>", re.IGNORECASE)
# Rails/ActiveSupport display names (Localist), where Windows has "… Standard Time".
_RAILS_ZONES = {
    "eastern time (us & canada)": "America/New_York",
    "central time (us & canada)": "America/Chicago",
    "mountain time (us & canada)": "America/Denver",
    "pacific time (us & canada)": "America/Los_Angeles",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
    "arizona": "America/Phoenix",
}


def looks_like_ical(body: bytes) -> bool:
    return bool(_START.match(body[:256]))


def parse_calendar(body: bytes, url: str, reading: Reading) -> ParsedFeed:
    """The occurrences of the calendar's events that start within the horizon."""
    text = _MICROSOFT_UTC.sub("TZID=UTC", body.decode("utf-8", errors="replace").lstrip("\ufeff"))
    text, repeating = _scan(text, reading.now)
    calendar = _read(_with_known_zone(_unfolded(text)), url)
    occurrences, problems = _expand(calendar, reading)
    zone = reading.zone
    candidates = (_occurrence(component, repeating, zone) for component in occurrences)
    ahead = [c for c in candidates if c.entry is None or _not_started(c.entry, reading.now)]
    entries, dropped = _unique_entries(sorted(ahead, key=_start_of))
    return ParsedFeed(
        title=" ".join(str(calendar.get("X-WR-CALNAME", "")).split()),
        link=None,
        language=None,
        entries=tuple(entries),
        dropped=(*problems, *dropped),
        expanded=True,
    )


# ---- reading a calendar that may be broken -------------------------------------------------


def _read(lines: list[str], url: str) -> icalendar.Calendar:
    try:
        return _from_ical("\r\n".join(lines))
    except ValueError:
        pass
    # A bad value in a calendar-level line spoils the whole file; the events do not need it.
    try:
        return _from_ical("\r\n".join(_without_optional_calendar_lines(lines)))
    except ValueError as error:
        raise NotAFeed(
            f"{url} looks like an iCalendar file but cannot be read ({error}). The website's "
            "calendar is broken; tell whoever runs it, or use its RSS feed if it has one."
        ) from None


def _from_ical(text: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar.from_ical(text)
    if not isinstance(calendar, icalendar.Calendar):  # pragma: no cover - multiple=False
        raise ValueError("not one calendar")
    return calendar


def _unfolded(text: str) -> list[str]:
    """Content lines with their continuation lines joined (RFC 5545 §3.1)."""
    lines: list[str] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line.strip():
            lines.append(line)
    return lines


def _name(line: str) -> str:
    return re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()


def _calendar_level(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(index, name) of each property line of the VCALENDAR itself."""
    depth = 0
    for index, line in enumerate(lines):
        name = _name(line)
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif depth == 1:
            yield index, name


def _without_optional_calendar_lines(lines: list[str]) -> list[str]:
    dropped = {i for i, name in _calendar_level(lines) if name not in _KEPT_CALENDAR_LINES}
    return [line for i, line in enumerate(lines) if i not in dropped]


def _with_known_zone(lines: list[str]) -> list[str]:
    """``X-WR-TIMEZONE`` with an IANA name: translated from Windows or Rails names, else
    dropped (recurring-ical-events would fail on the whole calendar)."""
    for index, name in list(_calendar_level(lines)):
        if name != "X-WR-TIMEZONE":
            continue
        written = lines[index].split(":", 1)[1].strip() if ":" in lines[index] else ""
        zone = _zone_name(written)
        lines = (
            [*lines[:index], f"X-WR-TIMEZONE:{zone}", *lines[index + 1 :]]
            if zone
            else [
                *lines[:index],
                *lines[index + 1 :],
            ]
        )
        break
    return lines


def _zone_name(written: str) -> str | None:
    for candidate in (
        written,
        WINDOWS_TO_OLSON.get(written),
        _RAILS_ZONES.get(written.lower()),
        written.rsplit("/", 2)[-2] + "/" + written.rsplit("/", 1)[-1] if "/" in written else None,
    ):
        if candidate and _is_zone(candidate):
            return candidate
    return None


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---- expanding -----------------------------------------------------------------------------


def _expand(calendar: icalendar.Calendar, reading: Reading) -> tuple[list[Any], list[str]]:
    """Occurrences between now and the horizon. When the calendar as a whole cannot be
    expanded, each event (with its overrides) is tried on its own, so one bad event costs
    only itself."""
    start, end = reading.now, reading.now + reading.horizon
    try:
        return list(_between(calendar, start, end)), []
    except Exception:
        pass
    occurrences: list[Any] = []
    problems: list[str] = []
    for uid, components in _by_uid(calendar).items():
        try:
            occurrences += _between(_alone(calendar, components), start, end)
        except Exception as error:
            title = str(components[0].get("SUMMARY", "")) or uid
            problems.append(
                f'event "{_shortened(title)}" cannot be read ({type(error).__name__}); '
                "the rest of the calendar is used"
            )
    return occurrences, problems


def _between(calendar: icalendar.Calendar, start: datetime, end: datetime) -> list[Any]:
    query = recurring_ical_events.of(calendar, skip_bad_series=True)
    return list(query.between(start, end))


def _by_uid(calendar: icalendar.Calendar) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for index, component in enumerate(calendar.walk("VEVENT")):
        groups[str(component.get("UID", "")) or f"#{index}"].append(component)
    return groups


def _alone(calendar: icalendar.Calendar, components: list[Any]) -> icalendar.Calendar:
    single = icalendar.Calendar()
    for name, value in calendar.property_items(recursive=False):
        if name in _KEPT_CALENDAR_LINES:
            single.add(name, value)
    for zone in calendar.walk("VTIMEZONE"):
        single.add_component(zone)
    for component in components:
        single.add_component(component)
    return single


def _scan(text: str, now: datetime) -> tuple[str, set[str]]:
    """The file without the events that do not repeat and started days ago, and the UIDs
    whose occurrences need keys of their own (``_repeating``). Done on the text, before it is
    parsed: a Google calendar exports its whole history (10,000 events, 4 MB) and only the
    weeks ahead matter; parsing all of it would take seconds and 150 MB more. What cannot be
    dated from the text is kept for the parser to judge."""
    before = (now - timedelta(days=2)).strftime("%Y%m%d")
    masters: dict[str, int] = defaultdict(int)
    repeating: set[str] = set()
    pieces: list[str] = []
    kept_from = 0
    for block in _VEVENT.finditer(text):
        found = _properties(block.group())
        uid = _stable(found.get("UID", "").partition(":")[2])
        repeats = bool({"RECURRENCE-ID", "RRULE", "RDATE"} & found.keys())
        if repeats:
            repeating.add(uid)
        else:
            masters[uid] += 1
        day = found.get("DTSTART", "").rsplit(":", 1)[-1].strip()[:8]
        if not repeats and len(day) == 8 and day.isdigit() and day < before:
            pieces.append(text[kept_from : block.start()])
            kept_from = block.end()
    pieces.append(text[kept_from:])
    # Repeating: those that repeat (RRULE, RDATE), have overrides (RECURRENCE-ID), or share
    # their UID with another event; read from the whole file, past events included, so that
    # a key never changes when an event passes.
    return "".join(pieces), repeating | {uid for uid, count in masters.items() if count > 1}


def _properties(block: str) -> dict[str, str]:
    """{name: its first content line} of one VEVENT's own properties (not its alarms')."""
    found: dict[str, str] = {}
    depth = 0
    for line in _unfolded(block):
        name = _name(line)
        if name in ("BEGIN", "END"):
            depth += 1 if name == "BEGIN" else -1
        elif depth == 1:
            found.setdefault(name, line)
    return found


# ---- one occurrence ------------------------------------------------------------------------


def _occurrence(component: Any, repeating: set[str], zone: tzinfo) -> _Candidate:
    title = " ".join(str(component.get("SUMMARY", "")).split())
    label = f'"{_shortened(title)}"' if title else ""
    start = _value(component, "DTSTART")
    if not isinstance(start, date):
        return _Candidate(None, label)
    status = {str(value).strip().upper() for value in _all(component.get("STATUS"))}
    event = event_in_zone(
        start,
        _value(component, "DTEND"),
        zone,
        location=str(component.get("LOCATION", "")),
        cancelled="CANCELLED" in status or is_cancelled_title(title),
    )
    summary = str(component.get("DESCRIPTION", "")).strip()
    link = _absolute_http(str(component.get("URL", "")), "")
    created, modified = _value(component, "CREATED"), _value(component, "LAST-MODIFIED")
    entry = Entry(
        key=_key(component, repeating, zone, title, event.starts),
        title=title,
        link=strip_tracking(link) if link else None,
        summary=summary,
        summary_is_html=bool(_HTML.search(summary)),
        categories=_categories(component),
        published=_utc(created, zone),
        updated=_utc(modified, zone),
        images=_images(component),
        event=event,
    )
    return _Candidate(entry, label or event.starts.isoformat())


def _key(component: Any, repeating: set[str], zone: tzinfo, title: str, starts: datetime) -> str:
    uid = _stable_uid(component)
    if not uid:
        return entry_key(None, None, title, starts.isoformat())
    if uid not in repeating:
        return f"event:{uid}"
    original = _value(component, "RECURRENCE-ID") or _value(component, "DTSTART")
    return f"event:{uid}@{_instant(original, zone)}"


def _stable_uid(component: Any) -> str:
    return _stable(str(component.get("UID", "")))


def _stable(written: str) -> str:
    uid = " ".join(written.split())
    tribe = _TRIBE_UID.match(uid)
    return tribe.group(1) + tribe.group(2) if tribe else uid


def _instant(value: object, zone: tzinfo) -> str:
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=zone) if value.tzinfo is None else value
        return aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d") if isinstance(value, date) else str(value)


def _value(component: Any, name: str) -> Any:
    prop = component.get(name)
    return getattr(prop, "dt", None)


def _utc(value: object, zone: tzinfo) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)


def _categories(component: Any) -> tuple[str, ...]:
    found = component.get("CATEGORIES")
    props = found if isinstance(found, list) else [found] if found is not None else []
    names = (str(name) for prop in props for name in getattr(prop, "cats", []))
    return tuple(dict.fromkeys(" ".join(n.split()) for n in names if n.strip()))


def _images(component: Any) -> tuple[Image, ...]:
    """``ATTACH;FMTTYPE=image/…`` (The Events Calendar's featured image) and RFC 7986's
    ``IMAGE;VALUE=URI`` (Trumba). Attached files in the calendar itself are not used."""
    found: list[str] = []
    for name in ("IMAGE", "ATTACH"):
        for prop in _all(component.get(name)):
            default = "image/" if name == "IMAGE" else ""
            kind = str(getattr(prop, "params", {}).get("FMTTYPE", default))
            url = _absolute_http(str(prop), "")
            if url and kind.lower().startswith("image/"):
                found.append(url)
    return tuple(Image(url, "") for url in dict.fromkeys(found))


def _all(found: object) -> Iterable[Any]:
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def _not_started(entry: Entry, now: datetime) -> bool:
    return entry.event is not None and entry.event.starts >= now


def _start_of(candidate: _Candidate) -> datetime:
    entry = candidate.entry
    return entry.event.starts if entry is not None and entry.event is not None else _EARLIEST
