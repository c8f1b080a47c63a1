"""Digests: a busy feed's new items posted together, at the set local time, once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fedibridge.config import load_settings
from fedibridge.cycle import Bridge
from fedibridge.digest import Digest, digest_due, digest_post, parse_digest
from fedibridge.models import Entry, ServerLimits, Style
from fedibridge.plan import plan_entries
from fedibridge.render import count_length
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import write_config

BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 21 October 2026; Europe's clocks go back on Sunday 25 October.
WEDNESDAY = datetime(2026, 10, 21, 12, 0, tzinfo=BERLIN)
NEXT_MONDAY_9 = datetime(2026, 10, 26, 9, 0, tzinfo=BERLIN)


def titles(numbers: range, prefix: str = "New title") -> bytes:
    items = "".join(
        f"<item><title>{prefix} {n}</title><link>https://library.example/record/{n}</link>"
        f"<guid>record-{n}</guid><description>Book {n}.</description></item>"
        for n in reversed(numbers)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>New titles</title>'
        f"<link>https://library.example/new-titles</link>{items}</channel></rss>"
    ).encode()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def run(config: Path, now: datetime) -> list[str]:
    bridge = Bridge(load_settings(config), clock=Clock(now))
    try:
        return bridge.run_feed("events").lines
    finally:
        bridge.close()


@pytest.fixture
def busy(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon):
    url = feed_server.serve("/new.rss", titles(range(1, 4)))
    config = write_config(
        tmp_path, url, mastodon.url, digest="weekly Monday 09:00", flood_guard_items=50
    )
    config.write_text(
        config.read_text().replace("[bridge]\n", '[bridge]\ntimezone = "Europe/Berlin"\n')
    )
    return config, feed_server, mastodon


def test_new_items_wait_for_the_digest_and_go_out_together_once(busy) -> None:
    config, feeds, mastodon = busy
    run(config, WEDNESDAY)  # first contact: the three titles are the baseline
    feeds.serve("/new.rss", titles(range(1, 16)))  # twelve new titles

    lines = run(config, WEDNESDAY + timedelta(hours=1))
    assert "12 items wait for the digest (weekly Monday 09:00)" in lines
    run(config, NEXT_MONDAY_9 - timedelta(minutes=1))  # after the DST change, still 08:59
    assert mastodon.statuses() == []

    run(config, NEXT_MONDAY_9)
    [digest] = mastodon.statuses()
    assert digest["content"].startswith("<p>12 new this week:<br />\u2022 New title 4<br />")
    assert "New title 15" in digest["content"]
    assert "https://library.example/new-titles" in digest["content"]

    run(config, NEXT_MONDAY_9 + timedelta(hours=1))
    assert len(mastodon.statuses()) == 1  # once
    feeds.serve("/new.rss", titles(range(1, 17)))
    lines = run(config, NEXT_MONDAY_9 + timedelta(days=1))
    assert "1 items wait for the digest (weekly Monday 09:00)" in lines
    run(config, NEXT_MONDAY_9 + timedelta(days=7))
    assert len(mastodon.statuses()) == 2


def test_a_digest_thread_answers_each_post_with_the_next(busy) -> None:
    config, feeds, mastodon = busy
    config.write_text(config.read_text() + "digest_thread = true\n")
    run(config, WEDNESDAY)
    feeds.serve("/new.rss", titles(range(1, 7)))

    run(config, NEXT_MONDAY_9)

    first, *items = mastodon.statuses()
    assert first["content"].startswith("<p>3 new this week:")
    assert [s["in_reply_to_id"] for s in items] == [first["id"], items[0]["id"], items[1]["id"]]
    assert "New title 4" in items[0]["content"] and "Book 4." in items[0]["content"]


def test_a_long_digest_is_shortened_with_a_count_of_the_rest() -> None:
    entries = [
        Entry(key=f"id:{n}", title=f"A rather long title of a new book, volume {n}", link=None,
              summary="")
        for n in range(60)
    ]  # fmt: skip
    limits = ServerLimits()

    post = digest_post(
        entries,
        digest=parse_digest("daily 17:00"),
        heading="{count} new titles {period}:",
        link="https://library.example/new-titles",
        style=Style(template=""),
        limits=limits,
    )

    assert post.text.startswith("60 new titles today:\n\u2022 A rather long title")
    assert "\n\u2026 and " in post.text and post.text.endswith(
        " more\n\nhttps://library.example/new-titles"
    )
    assert count_length(post.text, limits.characters_per_url) <= 500


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("weekly Monday 09:00", Digest(time(9, 0), 0)),
        ("weekly sun 18:30", Digest(time(18, 30), 6)),
        ("daily 17:00", Digest(time(17, 0))),
    ],
)
def test_digest_schedules(written: str, meant: Digest) -> None:
    assert parse_digest(written) == meant


@pytest.mark.parametrize("written", ["monthly 09:00", "weekly Moonday 09:00", "daily 25:00"])
def test_a_wrong_schedule_is_refused_with_advice(written: str) -> None:
    with pytest.raises(ValueError, match="weekly Monday 09:00"):
        parse_digest(written)


def test_due_only_once_per_scheduled_moment() -> None:
    weekly = parse_digest("weekly Monday 09:00")
    monday_9 = NEXT_MONDAY_9.astimezone(UTC)

    assert digest_due(weekly, now=monday_9, since=WEDNESDAY, zone=BERLIN) == monday_9
    assert (
        digest_due(weekly, now=monday_9 - timedelta(minutes=1), since=WEDNESDAY, zone=BERLIN)
        is None
    )
    assert (
        digest_due(weekly, now=monday_9 + timedelta(hours=3), since=monday_9, zone=BERLIN) is None
    )


def test_the_flood_guard_suggests_a_digest() -> None:
    entries = tuple(Entry(key=f"id:{n}", title=f"T{n}", link=None, summary="") for n in range(30))

    plan = plan_entries(
        entries, set(), first_contact=False, backfill=0, flood_items=10, flood_ratio=0.9
    )

    assert plan.note is not None and 'digest = "weekly Monday 09:00"' in plan.note
