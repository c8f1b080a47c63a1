"""Realistic iCalendar exports, written here the way library event systems write them.

Each builder follows what FACTS-events.md §1-2 records of real exports (headers, how times,
all-day events, UIDs, images and cancellations are written), so the tests exercise the same
shapes without copying anyone's calendar.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _day(day: date) -> str:
    return day.strftime("%Y%m%d")


def _fold(line: str) -> str:
    """RFC 5545 folding at 75 octets (simplified: characters)."""
    parts = [line[:75]] + [" " + line[i : i + 74] for i in range(75, len(line), 74)]
    return "\r\n".join(parts)


def calendar(*lines: str, header: tuple[str, ...] = (), fold: bool = True) -> bytes:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", *header, *lines, "END:VCALENDAR"]
    return ("\r\n".join(_fold(line) if fold else line for line in body) + "\r\n").encode()


def vevent(*properties: str) -> tuple[str, ...]:
    return ("BEGIN:VEVENT", *properties, "END:VEVENT")


# ---- Springshare LibCal -------------------------------------------------------------------


LIBCAL_HEADER = (
    "PRODID:-//Springshare//LibCal//EN",
    "X-WR-CALNAME:Riverside Library Events",
    "X-WR-TIMEZONE:America/New_York",
    "X-PUBLISHED-TTL:PT15M",
)


def libcal_event(
    event_id: int,
    title: str,
    starts: datetime | date,
    ends: datetime | date,
    *,
    location: str = "Story Room, Main Library",
    categories: str = "Children,Storytime",
) -> tuple[str, ...]:
    """Timed events in UTC, all-day ones as DATE with an exclusive end; no STATUS."""
    if isinstance(starts, datetime):
        assert isinstance(ends, datetime)
        times = (f"DTSTART:{_utc(starts)}", f"DTEND:{_utc(ends)}")
        stamp = starts.astimezone(UTC).strftime("%Y%m%dT000000Z")
    else:
        times = (f"DTSTART;VALUE=DATE:{_day(starts)}", f"DTEND;VALUE=DATE:{_day(ends)}")
        stamp = starts.strftime("%Y%m%dT000000Z")
    return vevent(
        f"UID:LibCal-8181-{event_id}",
        f"DTSTAMP:{stamp}",
        *times,
        f"SUMMARY:{title}",
        "DESCRIPTION:Songs\\, rhymes and stories.\\nNo registration needed.",
        "LOCATION:" + location.replace(",", "\\,"),
        f"CATEGORIES:{categories}",
        f"URL:https://riverside.libcal.com/event/{event_id}",
        "ORGANIZER;CN=Youth Services:mailto:youth@library.example",
    )


# ---- Google Calendar ----------------------------------------------------------------------


def google_header(zone: str) -> tuple[str, ...]:
    return (
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Library programs",
        f"X-WR-TIMEZONE:{zone}",
    )


NEW_YORK_VTIMEZONE = (
    "BEGIN:VTIMEZONE",
    "TZID:America/New_York",
    "X-LIC-LOCATION:America/New_York",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:-0500",
    "TZOFFSETTO:-0400",
    "TZNAME:EDT",
    "DTSTART:19700308T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:-0400",
    "TZOFFSETTO:-0500",
    "TZNAME:EST",
    "DTSTART:19701101T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
)


def google_event(
    uid: str,
    title: str,
    *times: str,
    extra: tuple[str, ...] = (),
    status: str = "CONFIRMED",
    description: str = 'Join us!<br>Details: <a href="https://library.example/kids">kids</a>',
) -> tuple[str, ...]:
    return vevent(
        *times,
        "DTSTAMP:20261001T120000Z",
        f"UID:{uid}@google.com",
        "CREATED:20260901T100000Z",
        "LAST-MODIFIED:20260915T100000Z",
        "SEQUENCE:0",
        f"STATUS:{status}",
        f"SUMMARY:{title}",
        f"DESCRIPTION:{description}",
        "LOCATION:Main Library",
        "TRANSP:OPAQUE",
        *extra,
    )


# ---- Outlook / Exchange -------------------------------------------------------------------


W_EUROPE_VTIMEZONE = (
    "BEGIN:VTIMEZONE",
    "TZID:W. Europe Standard Time",
    "BEGIN:STANDARD",
    "DTSTART:16010101T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10",
    "END:STANDARD",
    "BEGIN:DAYLIGHT",
    "DTSTART:16010101T020000",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3",
    "END:DAYLIGHT",
    "END:VTIMEZONE",
)
OUTLOOK_HEADER = ("PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN", "METHOD:PUBLISH")


# ---- WordPress: The Events Calendar -------------------------------------------------------


TRIBE_HEADER = (
    "PRODID:-//Riverside Library - ECPv6.8.0//NONSGML v1.0//EN",
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    "X-WR-CALNAME:Riverside Library",
    "X-ORIGINAL-URL:https://library.example",
    "X-WR-CALDESC:Events for Riverside Library",
    "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
    "X-Robots-Tag:noindex",
    "X-PUBLISHED-TTL:PT1H",
)


def tribe_event(
    post_id: int, title: str, starts: datetime, ends: datetime, zone: str
) -> tuple[str, ...]:
    """UID = <post id>-<start epoch>-<end epoch>@host: it changes when the time does."""
    uid = f"{post_id}-{int(starts.timestamp())}-{int(ends.timestamp())}@library.example"
    return vevent(
        f"DTSTART;TZID={zone}:{_local(starts)}",
        f"DTEND;TZID={zone}:{_local(ends)}",
        "DTSTAMP:20261001T120000",
        "CREATED:20260901T100000Z",
        "LAST-MODIFIED:20260915T100000Z",
        f"UID:{uid}",
        f"SUMMARY:{title}",
        "DESCRIPTION:A long description that WordPress does not fold, as real exports show: "
        + "more words " * 12,
        f"URL:https://library.example/event/{title.lower().replace(' ', '-')}/",
        "LOCATION:Riverside Library\\, 1 Main Street\\, Riverside",
        "CATEGORIES:Adults,Talks",
        f"ATTACH;FMTTYPE=image/jpeg:https://library.example/wp-content/uploads/{post_id}.jpg",
        'ORGANIZER;CN="Riverside Library":MAILTO:info@library.example',
    )


# ---- a Google calendar's whole history ----------------------------------------------------


def history(events: int, *, until: datetime, seed: int = 13) -> bytes:
    """A Google-style export with ``events`` single events spread over the years before
    ``until`` (and a few after it), about 400 bytes each: 10,000 make a 4 MB file."""
    rng = random.Random(seed)
    lines: list[str] = []
    first = until - timedelta(days=365 * 18)
    span = (until - first).total_seconds() + 90 * 86400
    for number in range(events):
        starts = first + timedelta(seconds=rng.uniform(0, span))
        starts = starts.replace(minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0)
        ends = starts + timedelta(minutes=rng.choice((30, 60, 90)))
        lines += google_event(
            f"history{number:05d}",
            f"Program {number}: " + rng.choice(("Storytime", "Book club", "Tech help")),
            f"DTSTART:{_utc(starts)}",
            f"DTEND:{_utc(ends)}",
            description="Talk and discussion at the library. " * rng.randint(2, 6),
        )
    return calendar(*NEW_YORK_VTIMEZONE, *lines, header=google_header("America/New_York"))
