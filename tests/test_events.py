"""Events as a source: iCalendar files and RSS event dates, in the library's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fedibridge.errors import NotAFeed
from fedibridge.events import is_cancelled_title
from fedibridge.models import Entry, Event, Known, ParsedFeed, Reading, ServerLimits, Style
from fedibridge.parse import parse_feed
from fedibridge.plan import CANCELLED, corrections, fingerprint, plan_entries
from fedibridge.render import render
from tests.calendars import (
    LIBCAL_HEADER,
    NEW_YORK_VTIMEZONE,
    OUTLOOK_HEADER,
    TRIBE_HEADER,
    W_EUROPE_VTIMEZONE,
    calendar,
    google_event,
    google_header,
    history,
    libcal_event,
    tribe_event,
    vevent,
)
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import once, write_config

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
URL = "https://library.example/events.ics"
# 2026: US clocks go back on Sunday 1 November, European ones on Sunday 25 October.
BEFORE_DST_ENDS = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)  # type: ignore[arg-type, misc]


def read(
    body: bytes, now: datetime = BEFORE_DST_ENDS, zone: ZoneInfo = NEW_YORK, **more
) -> ParsedFeed:
    return parse_feed(body, URL, "text/calendar", Reading(now=now, zone=zone, **more))


def local_starts(feed: ParsedFeed, zone: ZoneInfo = NEW_YORK) -> list[str]:
    return [
        e.event.starts.astimezone(zone).strftime("%a %d %b %H:%M")
        for e in feed.entries
        if e.event is not None
    ]


def by_title(feed: ParsedFeed, title: str) -> Entry:
    [entry] = [e for e in feed.entries if e.title == title]
    return entry


def when(
    entry: Entry, zone: ZoneInfo = NEW_YORK, language: str = "en", template: str = "{when}"
) -> str:
    style = Style(template=template, timezone=zone, language=language)
    return render(entry, style, ServerLimits()).text


# ---- LibCal -------------------------------------------------------------------------------


def libcal() -> bytes:
    return calendar(
        *libcal_event(
            1, "Baby Rhyme Time",
            ny(2026, 10, 24, 10, 30), ny(2026, 10, 24, 11, 0),
        ),
        *libcal_event(2, "Library closed", date(2026, 11, 26), date(2026, 11, 27)),
        *libcal_event(
            3, "CANCELLED - Teen Gaming",
            ny(2026, 10, 22, 16, 0), ny(2026, 10, 22, 17, 0),
        ),
        *libcal_event(
            4, "Chess club",  # already over
            ny(2026, 10, 19, 16, 0), ny(2026, 10, 19, 17, 0),
        ),
        *libcal_event(
            5, "Book sale",  # 00:00-23:59 written in UTC: all day
            ny(2026, 11, 7, 0, 0), ny(2026, 11, 7, 23, 59),
        ),
        header=LIBCAL_HEADER,
    )  # fmt: skip


def test_a_libcal_calendar_gives_the_events_ahead_soonest_first() -> None:
    feed = read(libcal())

    assert feed.title == "Riverside Library Events"
    assert [e.key for e in feed.entries] == [
        "event:LibCal-8181-3",
        "event:LibCal-8181-1",
        "event:LibCal-8181-5",
        "event:LibCal-8181-2",
    ]
    rhyme = by_title(feed, "Baby Rhyme Time")
    assert rhyme.link == "https://riverside.libcal.com/event/1"
    assert rhyme.categories == ("Children", "Storytime")
    assert rhyme.summary == "Songs, rhymes and stories.\nNo registration needed."
    assert not rhyme.summary_is_html
    assert rhyme.event == Event(
        starts=datetime(2026, 10, 24, 14, 30, tzinfo=UTC),
        ends=datetime(2026, 10, 24, 15, 0, tzinfo=UTC),
        location="Story Room, Main Library",
    )
    assert when(rhyme) == "Saturday 24 October, 10:30\u201311:00"
    assert by_title(feed, "CANCELLED - Teen Gaming").event.cancelled  # type: ignore[union-attr]


def test_all_day_events_real_and_pseudo() -> None:
    feed = read(libcal())

    closed, sale = by_title(feed, "Library closed"), by_title(feed, "Book sale")
    assert closed.event is not None and closed.event.all_day
    assert closed.event.starts == ny(2026, 11, 26, 0, 0)
    assert closed.event.ends == ny(2026, 11, 27, 0, 0)  # exclusive
    assert sale.event is not None and sale.event.all_day
    assert when(closed) == "Thursday 26 November, all day"
    assert when(sale, language="de") == "Samstag, 7. November, ganzt\u00e4gig"
    fields = "{starts}|{ends}|{date}|{time}|{location}"
    assert when(closed, template=fields) == (
        "Thursday 26 November|Thursday 26 November|26 November 2026||Story Room, Main Library"
    )


# ---- Google: X-WR-TIMEZONE, RRULE across DST, EXDATE, overrides ---------------------------


def google() -> bytes:
    return calendar(
        *NEW_YORK_VTIMEZONE,
        # Weekly on Saturday 10:30 New York time, written in UTC (as Google does with
        # X-WR-TIMEZONE): 14:30Z in summer time, and it must stay 10:30 after 1 November.
        *google_event(
            "storytime", "Storytime",
            "DTSTART:20261003T143000Z", "DTEND:20261003T151500Z",
            extra=("RRULE:FREQ=WEEKLY;BYDAY=SA", "EXDATE:20261031T143000Z"),
        ),
        # One occurrence moved an hour later.
        *google_event(
            "storytime", "Storytime (moved to 11:30)",
            "RECURRENCE-ID:20261107T153000Z", "DTSTART:20261107T163000Z",
            "DTEND:20261107T171500Z",
        ),
        # One occurrence cancelled by an override (not all clients use EXDATE).
        *google_event(
            "storytime", "Storytime",
            "RECURRENCE-ID:20261114T153000Z", "DTSTART:20261114T153000Z",
            "DTEND:20261114T161500Z", status="CANCELLED",
        ),
        # A monthly club written with a zone, and a title that says it is cancelled.
        *google_event(
            "club", "Book club",
            "DTSTART;TZID=America/New_York:20261028T180000",
            "DTEND;TZID=America/New_York:20261028T193000",
            extra=("RRULE:FREQ=MONTHLY;BYDAY=4WE;COUNT=3",),
        ),
        *google_event(
            "tech", "Tech help - CANCELED",
            "DTSTART:20261029T170000Z", "DTEND:20261029T180000Z",
        ),
        header=google_header("America/New_York"),
    )  # fmt: skip


def test_a_weekly_event_keeps_its_local_time_across_the_dst_change() -> None:
    feed = read(google(), horizon=timedelta(days=38))

    storytimes = [e for e in feed.entries if e.key.startswith("event:storytime@")]
    assert local_starts(ParsedFeed("", None, None, tuple(storytimes))) == [
        "Sat 24 Oct 10:30",  # 31 October is an EXDATE
        "Sat 07 Nov 11:30",  # moved
        "Sat 14 Nov 10:30",  # cancelled by its override, but still an event to know of
        "Sat 21 Nov 10:30",
    ]
    assert storytimes[1].title == "Storytime (moved to 11:30)"
    assert [e.event.cancelled for e in storytimes if e.event] == [False, False, True, False]
    # Each occurrence has its own key, the moved one under its original time.
    assert [e.key for e in storytimes] == [
        "event:storytime@google.com@20261024T143000Z",
        "event:storytime@google.com@20261107T153000Z",
        "event:storytime@google.com@20261114T153000Z",
        "event:storytime@google.com@20261121T153000Z",
    ]
    assert when(storytimes[-1]) == "Saturday 21 November, 10:30\u201311:15"


def test_google_details_html_descriptions_and_cancelled_titles() -> None:
    feed = read(google(), horizon=timedelta(days=38))

    club = [e for e in feed.entries if e.key.startswith("event:club@")]
    assert local_starts(ParsedFeed("", None, None, tuple(club))) == [
        "Wed 28 Oct 18:00",
        "Wed 25 Nov 18:00",
    ]
    assert club[0].summary_is_html
    assert club[0].updated == datetime(2026, 9, 15, 10, 0, tzinfo=UTC)
    tech = by_title(feed, "Tech help - CANCELED")
    assert tech.key == "event:tech@google.com"
    assert tech.event is not None and tech.event.cancelled


def test_the_horizon_bounds_how_far_ahead_a_calendar_is_read() -> None:
    near = read(google(), horizon=timedelta(days=10))

    assert local_starts(near) == ["Sat 24 Oct 10:30", "Wed 28 Oct 18:00", "Thu 29 Oct 13:00"]


# ---- Outlook: Windows zone names, floating times ------------------------------------------


def test_windows_zone_names_with_and_without_their_vtimezone() -> None:
    body = calendar(
        *W_EUROPE_VTIMEZONE,
        *vevent(
            "UID:040000008200E00074C5B7101A82E008",
            "SUMMARY:Lesekreis",
            'DTSTART;TZID="W. Europe Standard Time":20261027T190000',
            'DTEND;TZID="W. Europe Standard Time":20261027T203000',
            "LOCATION:Stadtbibliothek",
        ),
        *vevent(
            "UID:no-vtimezone",
            "SUMMARY:Vorlesestunde",
            "DTSTART;TZID=Romance Standard Time:20261028T100000",
            "DTEND;TZID=Romance Standard Time:20261028T110000",
        ),
        *vevent(
            "UID:floating",
            "SUMMARY:Spieleabend",
            "DTSTART:20261029T180000",
            "DTEND:20261029T210000",
        ),
        header=OUTLOOK_HEADER,
    )

    feed = read(body, zone=BERLIN)

    assert local_starts(feed, BERLIN) == [
        "Tue 27 Oct 19:00",
        "Wed 28 Oct 10:00",
        "Thu 29 Oct 18:00",
    ]
    assert when(feed.entries[0], BERLIN, "de") == "Dienstag, 27. Oktober, 19:00\u201320:30"
    first = feed.entries[0].event
    assert first is not None and first.starts == datetime(2026, 10, 27, 18, 0, tzinfo=UTC)


# ---- The Events Calendar: unstable UIDs, images, unfolded lines ---------------------------


def tribe(starts: datetime) -> bytes:
    return calendar(
        "BEGIN:VTIMEZONE", "TZID:America/New_York", "BEGIN:STANDARD", "TZOFFSETFROM:-0400",
        "TZOFFSETTO:-0500", "DTSTART:20251102T060000", "END:STANDARD", "BEGIN:DAYLIGHT",
        "TZOFFSETFROM:-0500", "TZOFFSETTO:-0400", "DTSTART:20260308T070000", "END:DAYLIGHT",
        "BEGIN:STANDARD", "TZOFFSETFROM:-0400", "TZOFFSETTO:-0500", "DTSTART:20261101T060000",
        "END:STANDARD", "END:VTIMEZONE",
        *tribe_event(4711, "Author talk", starts, starts + timedelta(hours=1), "America/New_York"),
        *tribe_event(
            4712, "Quilting", datetime(2026, 11, 3, 14, 0), datetime(2026, 11, 3, 14, 0),
            "America/New_York",
        ),
        header=TRIBE_HEADER,
        fold=False,
    )  # fmt: skip


def test_the_events_calendar_moving_an_event_is_a_change_not_a_new_event() -> None:
    before = read(tribe(datetime(2026, 10, 30, 18, 0)))
    after = read(tribe(datetime(2026, 11, 2, 19, 0)))  # moved, across the DST change

    talk, moved = before.entries[0], after.entries[0]
    assert talk.key == moved.key == "event:4711@library.example"
    assert fingerprint(talk) != fingerprint(moved)  # so its post is corrected
    assert talk.images[0].url == "https://library.example/wp-content/uploads/4711.jpg"
    assert talk.link == "https://library.example/event/author-talk/"
    assert talk.event is not None
    assert talk.event.location == "Riverside Library, 1 Main Street, Riverside"
    assert local_starts(after) == ["Mon 02 Nov 19:00", "Tue 03 Nov 14:00"]
    quilting = after.entries[1]
    assert quilting.event is not None and quilting.event.ends is None  # DTEND = DTSTART
    assert when(quilting) == "Tuesday 3 November, 14:00"


# ---- broken calendars ---------------------------------------------------------------------


def test_a_bad_calendar_level_line_is_dropped_not_the_calendar() -> None:
    body = calendar(
        *libcal_event(
            1, "Storytime",
            ny(2026, 10, 24, 10, 30), ny(2026, 10, 24, 11, 0),
        ),
        header=(
            "PRODID:-//Tockify//EN",
            "REFRESH-INTERVAL:P15M",
            "X-WR-TIMEZONE:Eastern Time (US & Canada)",
        ),
    )  # fmt: skip

    assert [e.title for e in read(body).entries] == ["Storytime"]


def test_one_broken_event_does_not_spoil_the_rest() -> None:
    good = libcal_event(
        1, "Storytime",
        ny(2026, 10, 24, 10, 30), ny(2026, 10, 24, 11, 0),
    )  # fmt: skip
    body = calendar(
        *vevent("UID:bad-length", "SUMMARY:Broken", "DTSTART:20261025T100000Z", "DURATION:P90M"),
        *vevent("UID:no-start", "SUMMARY:No start"),
        *vevent("UID:bad-rule", "SUMMARY:Bad", "DTSTART:20261025T100000Z", "RRULE:FREQ=SOMETIMES"),
        *good,
        header=LIBCAL_HEADER,
    )

    feed = read(body)

    assert [e.title for e in feed.entries] == ["Storytime"]
    assert any('"No start" cannot be read' in reason for reason in feed.dropped)


def test_a_file_that_is_no_calendar_at_all_is_refused_with_advice() -> None:
    with pytest.raises(NotAFeed, match="iCalendar file but cannot be read"):
        read(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n")


# ---- a whole history -----------------------------------------------------------------------


def test_a_ten_thousand_event_history_gives_only_the_weeks_ahead() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    body = history(10_000, until=now)
    assert len(body) > 3_500_000

    feed = read(body, now=now, horizon=timedelta(days=60))

    assert 20 < len(feed.entries) < 200
    starts = [e.event.starts for e in feed.entries if e.event is not None]
    assert len(starts) == len(feed.entries)
    assert all(now <= moment <= now + timedelta(days=60) for moment in starts)
    assert len({e.key for e in feed.entries}) == len(feed.entries)


# ---- plan: first contact, cancelled, corrections ------------------------------------------


def test_first_contact_posts_the_soonest_events_and_never_a_cancelled_one() -> None:
    feed = read(libcal())

    plan = plan_entries(
        feed.entries, set(), first_contact=True, backfill=2, flood_items=10, flood_ratio=0.9
    )

    posted = [n.entry.title for n in plan.new if n.state == "pending"]
    assert posted == ["Baby Rhyme Time", "Book sale"]  # the gaming night is cancelled
    assert plan.note is not None and "soonest" in plan.note
    later = plan_entries(
        feed.entries, set(), first_contact=False, backfill=0, flood_items=10, flood_ratio=0.9
    )
    assert [(n.entry.title, n.reason) for n in later.new if n.state == "skipped"] == [
        ("CANCELLED - Teen Gaming", CANCELLED)
    ]


def test_an_announcement_weeks_ahead_is_still_corrected_when_the_event_moves() -> None:
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    before = by_title(read(tribe(datetime(2026, 11, 30, 18, 0)), now=now), "Author talk")
    after = by_title(read(tribe(datetime(2026, 12, 1, 18, 0)), now=now), "Author talk")
    posted_long_ago = {before.key: Known("posted", fingerprint(before), now - timedelta(days=30))}

    week = timedelta(days=7)
    [correction] = corrections((after,), posted_long_ago, edit=True, max_age=week, now=now)

    assert correction.edit


@pytest.mark.parametrize(
    ("title", "cancelled"),
    [
        ("CANCELLED - Teen Gaming", True),
        ("[CANCELLED] Teen Gaming", True),
        ("Canceled: Teen Gaming", True),
        ("CANCELLED: Teen Gaming", True),
        ("Teen Gaming (cancelled)", True),
        ("Tech help - CANCELED", True),
        ("Abgesagt: Lesung", True),
        ("How to cancel a subscription", False),
        ("Cancelled flights and other stories: a talk", False),
        ("Storytime (RESCHEDULED FROM JULY 9)", False),
    ],
)
def test_cancelled_titles(title: str, cancelled: bool) -> None:
    assert is_cancelled_title(title) is cancelled


def test_a_cancelled_event_says_so_in_its_post() -> None:
    entry = Entry(
        key="event:x",
        title="Storytime",
        link=None,
        summary="",
        event=Event(starts=datetime(2026, 11, 14, 15, 30, tzinfo=UTC), cancelled=True),
    )

    both = "{title} {when}"
    assert when(entry, template=both) == "CANCELLED: Storytime Saturday 14 November, 10:30"
    assert when(entry, template="{title}", language="fr") == "ANNUL\u00c9: Storytime"


# ---- RSS event dates -----------------------------------------------------------------------


def rss(item: str, namespaces: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0" {namespaces}><channel><title>Events</title>'
        f"<item><title>Storytime</title><guid>https://library.example/e/1</guid>{item}</item>"
        "</channel></rss>"
    ).encode()


LIBCAL_NS = 'xmlns:libcal="https://libcal.com/rss_xmlns.php"'
BC_NS = 'xmlns:bc="http://bibliocommons.com/rss/1.0/modules/event/"'
EV_NS = 'xmlns:ev="http://purl.org/rss/1.0/modules/event/"'


def rss_event(body: bytes, dates: str = "auto") -> Event | None:
    [entry] = read(body, dates=dates).entries
    return entry.event


def test_libcal_rss_wall_times_are_in_the_library_zone() -> None:
    body = rss(
        "<pubDate>Mon, 05 Oct 2026 12:00:00 +0000</pubDate>"
        "<libcal:date>2026-11-02</libcal:date><libcal:start>10:30:00</libcal:start>"
        "<libcal:end>11:30:00</libcal:end><libcal:campus>Main Library</libcal:campus>"
        "<libcal:location>Story Room</libcal:location>",
        LIBCAL_NS,
    )
    all_day = body.replace(b"10:30:00", b"00:00:00").replace(b"11:30:00", b"23:59:59")

    event = rss_event(body)

    assert event == Event(
        starts=datetime(2026, 11, 2, 15, 30, tzinfo=UTC),  # EST after the change
        ends=datetime(2026, 11, 2, 16, 30, tzinfo=UTC),
        location="Story Room, Main Library",
    )
    assert rss_event(all_day) == Event(
        starts=datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
        ends=datetime(2026, 11, 3, 5, 0, tzinfo=UTC),
        all_day=True,
        location="Story Room, Main Library",
    )
    assert rss_event(body, dates="published") is None


def test_bibliocommons_and_the_rss_event_module() -> None:
    bibliocommons = rss(
        "<bc:start_date>2026-11-02T15:30:00Z</bc:start_date>"
        "<bc:end_date>2026-11-02T16:30:00Z</bc:end_date><bc:is_cancelled>true</bc:is_cancelled>"
        "<bc:location><bc:name>Central Library</bc:name>"
        "<bc:location_details>Room 2</bc:location_details></bc:location>",
        BC_NS,
    )
    module = rss(
        "<ev:startdate>2026-11-02T10:30:00-05:00</ev:startdate><ev:location>Hall</ev:location>",
        EV_NS,
    )

    assert rss_event(bibliocommons) == Event(
        starts=datetime(2026, 11, 2, 15, 30, tzinfo=UTC),
        ends=datetime(2026, 11, 2, 16, 30, tzinfo=UTC),
        location="Room 2, Central Library",
        cancelled=True,
    )
    starts = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
    assert rss_event(module) == Event(starts=starts, location="Hall")


def test_pubdate_is_the_start_only_when_the_feed_says_so() -> None:
    body = rss("<pubDate>Mon, 02 Nov 2026 15:30:00 +0000</pubDate>")

    assert rss_event(body) is None
    assert rss_event(body, dates="event") == Event(starts=datetime(2026, 11, 2, 15, 30, tzinfo=UTC))


# ---- end to end: a calendar served over HTTP, posted by `once` -----------------------------


def served_calendar(*events: tuple[str, ...]) -> bytes:
    lines = [line for event in events for line in event]
    return calendar(*lines, header=LIBCAL_HEADER)


def test_a_calendar_is_announced_once_each_in_local_time_and_corrected(
    tmp_path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    # Days ahead of the real clock (`once` reads it), at 10:30 New York time.
    soon = datetime.now(NEW_YORK).replace(hour=10, minute=30, second=0, microsecond=0)
    day = [soon + timedelta(days=n) for n in range(1, 6)]

    def storytime(n: int, starts: datetime, title: str = "Storytime") -> tuple[str, ...]:
        return libcal_event(n, title, starts, starts + timedelta(minutes=45))

    url = feed_server.serve(
        "/events.ics",
        served_calendar(storytime(1, day[1]), storytime(2, day[2]), storytime(3, day[3])),
        content_type="text/calendar; charset=utf-8",
    )
    config = write_config(
        tmp_path,
        url,
        mastodon.url,
        backfill=1,
        language="en",
        template="{title}\n{when}\n{location}",
    )
    config.write_text(
        config.read_text().replace("[bridge]\n", '[bridge]\ntimezone = "America/New_York"\n')
    )

    assert once(config) == 0  # first contact: the soonest one only
    [first] = mastodon.statuses()
    assert "Storytime" in first["content"]
    assert f"{day[1].day} " in first["content"] and "10:30\u201311:15" in first["content"]

    feed_server.serve(
        "/events.ics",
        served_calendar(
            storytime(1, day[1]),
            storytime(2, day[2]),
            storytime(3, day[3] + timedelta(hours=2)),  # moved: not announced, nothing to edit
            storytime(4, day[4], "Baby Rhyme Time"),  # new
            storytime(5, day[4], "CANCELLED - Chess"),  # new, but cancelled
        ),
        content_type="text/calendar",
    )
    assert once(config) == 0
    assert once(config) == 0  # nothing twice
    statuses = mastodon.statuses()
    assert len(statuses) == 2
    assert any("Baby Rhyme Time" in s["content"] for s in statuses)
    assert not any("Chess" in s["content"] for s in statuses)

    moved = day[1] + timedelta(hours=3)
    feed_server.serve(
        "/events.ics",
        served_calendar(storytime(1, moved), storytime(4, day[4], "Baby Rhyme Time")),
        content_type="text/calendar",
    )
    assert once(config) == 0
    edited = next(s for s in mastodon.statuses() if s["id"] == first["id"])
    assert "13:30\u201314:15" in edited["content"]  # the announcement shows the new time
    assert len(mastodon.statuses()) == 2

    cancelled = storytime(4, day[4], "Baby Rhyme Time")
    cancelled = (*cancelled[:-1], "STATUS:CANCELLED", cancelled[-1])
    feed_server.serve(
        "/events.ics", served_calendar(storytime(1, moved), cancelled), content_type="text/calendar"
    )
    assert once(config) == 0
    rhyme = next(s for s in mastodon.statuses() if "Baby Rhyme Time" in s["content"])
    assert "CANCELLED: Baby Rhyme Time" in rhyme["content"]
    assert len(mastodon.statuses()) == 2


@pytest.mark.parametrize(
    ("tzid", "local"),
    [
        ("/mozilla.org/20070129_1/Europe/Berlin", "Tue 27 Oct 19:00"),  # Thunderbird
        ("Europe/Berlin", "Tue 27 Oct 19:00"),
        ("Some Zone Nobody Knows", "Tue 27 Oct 19:00"),  # unknown: the library's zone
        ("tzone://Microsoft/Utc", "Tue 27 Oct 20:00"),
    ],
)
def test_zone_ids_without_vtimezone(tzid: str, local: str) -> None:
    body = calendar(
        *vevent(
            "UID:zone-test",
            "SUMMARY:Lesekreis",
            f'DTSTART;TZID="{tzid}":20261027T190000',
            f'DTEND;TZID="{tzid}":20261027T200000',
        ),
        header=OUTLOOK_HEADER,
    )

    assert local_starts(read(body, zone=BERLIN), BERLIN) == [local]
