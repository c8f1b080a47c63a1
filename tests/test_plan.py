"""Which entries get posted, and in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fedibridge.models import Entry
from fedibridge.plan import idempotency_key, newest, oldest_first, plan_entries

DAY0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def entry(n: int, *, dated: bool = True) -> Entry:
    return Entry(
        key=f"id:{n}",
        title=f"Item {n}",
        link=f"https://library.example/{n}",
        summary="",
        published=DAY0 + timedelta(days=n) if dated else None,
    )


def feed_of(*numbers: int, dated: bool = True) -> tuple[Entry, ...]:
    # Feeds list their newest item first.
    return tuple(entry(n, dated=dated) for n in sorted(numbers, reverse=True))


def plan(entries: tuple[Entry, ...], known: set[str], *, first: bool = False, backfill: int = 0):
    return plan_entries(
        entries, known, first_contact=first, backfill=backfill, flood_items=10, flood_ratio=0.9
    )


def test_first_contact_posts_nothing_but_records_everything() -> None:
    result = plan(feed_of(1, 2, 3), set(), first=True)
    assert [n.state for n in result.new] == ["skipped"] * 3
    assert result.to_post == 0
    assert result.note and "3 items recorded" in result.note


def test_first_contact_backfill_posts_the_newest_oldest_first() -> None:
    result = plan(feed_of(1, 2, 3, 4, 5), set(), first=True, backfill=2)
    pending = [n.entry.key for n in result.new if n.state == "pending"]
    assert pending == ["id:4", "id:5"]


def test_backfill_larger_than_the_feed_posts_all() -> None:
    result = plan(feed_of(1, 2), set(), first=True, backfill=10)
    assert result.to_post == 2


def test_later_polls_post_only_unknown_entries_oldest_first() -> None:
    result = plan(feed_of(1, 2, 3, 4), {"id:1", "id:2"})
    assert [(n.entry.key, n.state) for n in result.new] == [
        ("id:3", "pending"),
        ("id:4", "pending"),
    ]


def test_nothing_new_gives_an_empty_plan() -> None:
    result = plan(feed_of(1, 2), {"id:1", "id:2"})
    assert result.new == () and result.note is None


def test_undated_entries_are_posted_in_reverse_document_order() -> None:
    ordered = oldest_first(list(feed_of(1, 2, 3, dated=False)))
    assert [e.key for e in ordered] == ["id:1", "id:2", "id:3"]


def test_dates_win_over_document_order() -> None:
    # A feed sorted oldest first (some CMSs do that) still posts oldest first.
    entries = [entry(1), entry(3), entry(2)]
    assert [e.key for e in oldest_first(entries)] == ["id:1", "id:2", "id:3"]


def test_flood_guard_stops_a_feed_whose_ids_all_changed() -> None:
    entries = feed_of(*range(100, 120))  # 20 items, none known: the site changed its guids
    result = plan(entries, {f"id:{n}" for n in range(20)})
    assert result.to_post == 0
    assert all(n.state == "skipped" and "flood guard" in (n.reason or "") for n in result.new)
    assert result.note and "flood_guard_items" in result.note


def test_a_busy_feed_is_not_a_flood() -> None:
    # 20 new items beside 20 old ones: half the feed is new, below the 90 % ratio.
    entries = feed_of(*range(40))
    result = plan(entries, {f"id:{n}" for n in range(20)})
    assert result.to_post == 20


def test_ten_new_items_are_not_a_flood() -> None:
    result = plan(feed_of(*range(10)), {"id:99"})
    assert result.to_post == 10


def test_newest_gives_the_latest_items_oldest_first() -> None:
    assert [e.key for e in newest(feed_of(1, 2, 3, 4), 2)] == ["id:3", "id:4"]


def test_idempotency_key_is_stable_and_distinct() -> None:
    key = idempotency_key("https://m.example", "main", "news", "id:1")
    assert key == idempotency_key("https://m.example", "main", "news", "id:1")
    assert key != idempotency_key("https://m.example", "main", "events", "id:1")
    assert key != idempotency_key("https://m.example", "other", "news", "id:1")


# --- pacing ----------------------------------------------------------------------------


def test_quiet_hours_across_midnight_end_next_morning_local_time() -> None:
    from zoneinfo import ZoneInfo

    from fedibridge.plan import Pacing, QuietHours, quiet_until

    berlin = ZoneInfo("Europe/Berlin")
    pacing = Pacing(quiet_hours=QuietHours.parse("22:00-07:00"), zone=berlin)
    late = datetime(2026, 11, 26, 22, 30, tzinfo=berlin)
    early = datetime(2026, 11, 27, 6, 59, tzinfo=berlin)
    day = datetime(2026, 11, 27, 7, 0, tzinfo=berlin)
    morning = datetime(2026, 11, 27, 7, 0, tzinfo=berlin).astimezone(UTC)
    assert quiet_until(late, pacing) == morning
    assert quiet_until(early, pacing) == morning
    assert quiet_until(day, pacing) is None


def test_quiet_hours_within_a_day() -> None:
    from fedibridge.plan import Pacing, QuietHours, quiet_until

    pacing = Pacing(quiet_hours=QuietHours.parse("12:00-13:30"))
    assert quiet_until(datetime(2026, 11, 26, 12, 15, tzinfo=UTC), pacing) == datetime(
        2026, 11, 26, 13, 30, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 11, 26, 13, 30, tzinfo=UTC), pacing) is None
    assert quiet_until(datetime(2026, 11, 26, 12, 15, tzinfo=UTC), Pacing()) is None


def test_quiet_hours_are_written_like_a_timetable() -> None:
    import pytest

    from fedibridge.plan import QuietHours

    for wrong in ("22-7", "25:00-07:00", "10:00-10:00", "evening"):
        with pytest.raises(ValueError, match=r"22:00-07:00|two different times"):
            QuietHours.parse(wrong)
