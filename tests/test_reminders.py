"""Reminders of events: at the right local minute across a DST change, as replies to the
announcement, never for a past, cancelled or vanished event, never twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fedibridge.config import load_settings
from fedibridge.cycle import Bridge
from fedibridge.events import reminder_times
from fedibridge.models import Event
from fedibridge.state import State
from tests.calendars import LIBCAL_HEADER, calendar, libcal_event
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import write_config

NEW_YORK = ZoneInfo("America/New_York")
# US clocks go back on Sunday 1 November 2026 at 02:00.
FRIDAY_NOON = datetime(2026, 10, 30, 12, 0, tzinfo=NEW_YORK)


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)  # type: ignore[arg-type, misc]


def event(n: int, title: str, starts: datetime) -> tuple[str, ...]:
    return libcal_event(n, title, starts, starts + timedelta(hours=1))


SATURDAY = event(1, "Storytime", ny(2026, 10, 31, 10, 30))  # summer time
MONDAY = event(2, "Chess club", ny(2026, 11, 2, 10, 30))  # winter time
CANCELLED = event(3, "CANCELLED - Knitting", ny(2026, 11, 2, 14, 0))
VANISHING = event(4, "Film night", ny(2026, 11, 3, 19, 0))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def setup(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon) -> Iterator[tuple]:
    url = feed_server.serve(
        "/events.ics",
        calendar(*SATURDAY, *MONDAY, *CANCELLED, *VANISHING, header=LIBCAL_HEADER),
        content_type="text/calendar",
    )
    config = write_config(
        tmp_path,
        url,
        mastodon.url,
        backfill=1,
        language="en",
        template="{title}\n{when}",
        remind=["08:00"],
        remind_before=["1d"],
        reminder_template="Reminder: {title}, {when}",
    )
    config.write_text(
        config.read_text().replace("[bridge]\n", '[bridge]\ntimezone = "America/New_York"\n')
    )
    yield config, feed_server, mastodon


def run(config: Path, clock: Clock) -> None:
    bridge = Bridge(load_settings(config), clock=clock)  # a fresh start each time
    try:
        bridge.run_feed("events")
    finally:
        bridge.close()


def reminders(config: Path) -> dict[tuple[str, str], str]:
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    try:
        return state.reminder_states("events")
    finally:
        state.close()


def schedule(config: Path) -> list[str]:
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    try:
        upcoming = state.upcoming_reminders(20, "events")
    finally:
        state.close()
    return [f"{r.title} {r.label}: {r.due_at.astimezone(NEW_YORK):%a %d %H:%M}" for r in upcoming]


def texts(mastodon: Mastodon) -> list[str]:
    return [s["content"] for s in mastodon.statuses()]


def test_reminders_come_at_the_local_minute_across_the_dst_change(setup) -> None:
    config, _, mastodon = setup
    clock = Clock(FRIDAY_NOON)

    run(config, clock)

    # The 1d reminder of Saturday (Fri 10:30) had passed at first contact: not stored.
    assert schedule(config) == [
        "Storytime at 08:00: Sat 31 08:00",
        "Chess club 1d before: Sun 01 10:30",  # after the clocks went back: still 10:30
        "Chess club at 08:00: Mon 02 08:00",
        "Film night 1d before: Mon 02 19:00",
        "Film night at 08:00: Tue 03 08:00",
    ]
    [announcement] = mastodon.statuses()  # the soonest only (backfill = 1)
    assert "Storytime" in announcement["content"]

    clock.now = ny(2026, 10, 31, 8, 0).astimezone(UTC)
    run(config, clock)
    [_, reminder] = mastodon.statuses()
    assert "Reminder: Storytime, Saturday 31 October, 10:30\u201311:30" in reminder["content"]
    assert reminder["in_reply_to_id"] == announcement["id"]  # it threads under the announcement

    clock.now = ny(2026, 11, 1, 10, 29).astimezone(UTC)
    run(config, clock)
    assert len(mastodon.statuses()) == 2  # not a minute early
    clock.now = ny(2026, 11, 1, 10, 30).astimezone(UTC)
    run(config, clock)
    chess = mastodon.statuses()[-1]
    assert "Reminder: Chess club, Monday 2 November, 10:30\u201311:30" in chess["content"]
    assert chess["in_reply_to_id"] is None  # never announced (first contact): no thread


def test_no_reminder_for_a_cancelled_vanished_or_started_event_and_none_twice(
    setup, monkeypatch
) -> None:
    config, feeds, mastodon = setup
    clock = Clock(FRIDAY_NOON)
    run(config, clock)
    assert not any(key == "event:LibCal-8181-3" for key, _ in reminders(config))  # cancelled

    # Film night leaves the calendar; Chess club is cancelled after its reminders were set.
    cancelled_chess = event(2, "Canceled: Chess club", ny(2026, 11, 2, 10, 30))
    feeds.serve(
        "/events.ics",
        calendar(*SATURDAY, *cancelled_chess, header=LIBCAL_HEADER),
        content_type="text/calendar",
    )
    clock.now = ny(2026, 10, 31, 7, 0).astimezone(UTC)
    run(config, clock)
    assert reminders(config) == {
        ("event:LibCal-8181-1", "at 08:00"): "pending",
        ("event:LibCal-8181-2", "1d before"): "dropped",
        ("event:LibCal-8181-2", "at 08:00"): "dropped",
        ("event:LibCal-8181-4", "1d before"): "dropped",
        ("event:LibCal-8181-4", "at 08:00"): "dropped",
    }

    # A crash after the reminder reached the server, before the state said so.
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed")

    clock.now = ny(2026, 10, 31, 8, 0).astimezone(UTC)
    with monkeypatch.context() as patch:
        patch.setattr(State, "mark_reminder_posted", crash)
        with pytest.raises(KeyboardInterrupt):
            run(config, clock)
    run(config, clock)  # the restart finds it on the account
    run(config, clock)
    assert sum("Reminder: Storytime" in text for text in texts(mastodon)) == 1
    assert reminders(config)[("event:LibCal-8181-1", "at 08:00")] == "posted"


def test_once_after_a_long_stop_skips_reminders_of_events_that_started(setup) -> None:
    config, _, mastodon = setup
    run(config, Clock(FRIDAY_NOON))

    run(config, Clock(ny(2026, 11, 2, 9, 0)))  # down from Friday to Monday 09:00

    posted = [t for t in texts(mastodon) if "Reminder" in t]
    # Saturday's event started while fedibridge was down: no late reminder. Monday's 08:00
    # reminder is late but its event is still ahead: it goes out now.
    assert len(posted) == 1 and "Chess club" in posted[0]
    assert reminders(config)[("event:LibCal-8181-1", "at 08:00")] == "dropped"


def test_quiet_hours_hold_a_reminder_until_they_end(setup) -> None:
    config, _, mastodon = setup
    config.write_text(config.read_text() + 'quiet_hours = "07:00-09:00"\n')
    run(config, Clock(FRIDAY_NOON))

    run(config, Clock(ny(2026, 10, 31, 8, 0)))
    assert not any("Reminder" in t for t in texts(mastodon))
    run(config, Clock(ny(2026, 10, 31, 9, 0)))
    assert sum("Reminder: Storytime" in t for t in texts(mastodon)) == 1


def test_announce_false_reminds_only(setup) -> None:
    config, _, mastodon = setup
    config.write_text(config.read_text().replace("backfill = 1", "announce = false"))

    run(config, Clock(FRIDAY_NOON))
    run(config, Clock(ny(2026, 10, 31, 8, 0)))

    assert len(texts(mastodon)) == 1
    assert "Reminder: Storytime" in texts(mastodon)[0]


def test_reminder_times_are_pure_and_skip_those_after_the_start() -> None:
    early = Event(starts=ny(2026, 11, 2, 7, 30).astimezone(UTC))

    times = reminder_times(early, (time(8, 0),), (timedelta(hours=2), timedelta(days=1)), NEW_YORK)

    assert {
        label: due.astimezone(NEW_YORK).strftime("%d %H:%M") for label, due in times.items()
    } == {
        "2h before": "02 05:30",
        "1d before": "01 07:30",
    }


def test_the_daemon_posts_a_reminder_at_its_time_without_waiting_for_a_poll(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    import subprocess
    import sys
    import time as clock

    starts = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
    url = feed_server.serve(
        "/events.ics",
        calendar(*libcal_event(9, "Pop-up storytime", starts, starts + timedelta(hours=1)),
                 header=LIBCAL_HEADER),
        content_type="text/calendar",
    )  # fmt: skip
    config = write_config(
        tmp_path, url, mastodon.url, interval="1h", remind_before=["1m"], language="en"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "fedibridge", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = clock.monotonic() + 120
        while not mastodon.statuses():
            assert clock.monotonic() < deadline, "no reminder"
            clock.sleep(0.5)
        [reminder] = mastodon.statuses()
        process.terminate()
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert "Reminder: Pop-up storytime" in reminder["content"]
    assert len(feed_server.requests_to("/events.ics")) == 1  # one poll: the job did it
    assert "reminders: 1 new" in output


def test_the_status_page_lists_the_next_reminders_in_local_time(setup) -> None:
    from fedibridge.snapshot import take
    from fedibridge.status_page import render_page

    config, _, _ = setup
    run(config, Clock(FRIDAY_NOON))
    settings = load_settings(config)
    state = State.open_readonly(config.parent / "state" / "fedibridge.sqlite3")
    try:
        page = render_page(take(settings, state, FRIDAY_NOON.astimezone(UTC), None))
    finally:
        state.close()

    assert "Next reminders" in page
    assert "Storytime" in page and "Sat 31 Oct 08:00 (America/New_York)" in page
    assert "Sun 01 Nov 10:30 (America/New_York)" in page  # Chess club, the day before


def test_preview_shows_announcements_and_their_reminders_with_times(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    from fedibridge.cli import main

    starts = datetime.now(NEW_YORK).replace(hour=10, minute=30, second=0, microsecond=0)
    starts += timedelta(days=3)
    url = feed_server.serve(
        "/events.ics",
        calendar(*event(7, "Storytime", starts), header=LIBCAL_HEADER),
        content_type="text/calendar",
    )
    config = write_config(
        tmp_path, url, mastodon.url, language="en", remind=["08:00"], remind_before=["1d"]
    )
    config.write_text(
        config.read_text().replace("[bridge]\n", '[bridge]\ntimezone = "America/New_York"\n')
    )

    assert main(["--config", str(config), "preview"]) == 0

    out = capsys.readouterr().out
    day_before = starts - timedelta(days=1)
    assert f"reminder at {day_before:%a %d %b %Y} 10:30 E" in out
    assert f"reminder at {starts:%a %d %b %Y} 08:00 E" in out
    assert out.count("Reminder: Storytime") == 2
    assert mastodon.statuses() == []
