"""Filters: which new items a feed posts, and what staff are told about the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fedibridge.filters import EntryFilter, compile_pattern, filter_reason
from fedibridge.models import Entry
from fedibridge.plan import BASELINE, plan_entries

DAY0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def item(n: int, title: str, *, summary: str = "", categories: tuple[str, ...] = ()) -> Entry:
    return Entry(
        key=f"id:{n}",
        title=title,
        link=f"https://library.example/events/{n}",
        summary=summary,
        categories=categories,
        published=DAY0 + timedelta(days=n),
    )


def rules(
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    fields: tuple[str, ...] = ("title", "summary", "categories"),
) -> EntryFilter:
    return EntryFilter(
        key="feeds.events",
        include=tuple(compile_pattern(p) for p in include),
        exclude=tuple(compile_pattern(p) for p in exclude),
        fields=fields,  # type: ignore[arg-type]
    )


STORY_TIME = item(1, "Story time on Saturday", categories=("Children",))
CANCELLED = item(2, "Lego club", summary="<p>This week's club is <b>CANCELLED</b>.</p>")
TALK = item(3, "Author talk", categories=("Adults", "Story time"))


def test_no_filter_leaves_nothing_out() -> None:
    assert filter_reason(CANCELLED, None) is None
    assert filter_reason(CANCELLED, rules()) is None


def test_an_exclude_pattern_leaves_an_item_out_and_says_which_rule_and_where() -> None:
    reason = filter_reason(CANCELLED, rules(exclude=(r"\bcancell?ed\b",)))
    assert reason == r'left out by feeds.events.exclude: "\bcancell?ed\b" matches its summary'
    assert filter_reason(STORY_TIME, rules(exclude=(r"\bcancell?ed\b",))) is None


def test_patterns_ignore_case_and_search_the_text_not_the_html() -> None:
    assert filter_reason(CANCELLED, rules(exclude=("cancelled",))) is not None
    html_only = item(4, "Film night", summary='<p class="cancelled">Free entry</p>')
    assert filter_reason(html_only, rules(exclude=("cancelled",))) is None


def test_include_posts_only_items_that_match_one_pattern() -> None:
    story_time_only = rules(include=("story ?time", "storytelling"))
    assert filter_reason(STORY_TIME, story_time_only) is None
    assert filter_reason(TALK, story_time_only) is None  # by its category
    assert filter_reason(CANCELLED, story_time_only) == (
        "left out by feeds.events.include: none of its patterns matches the item's title, "
        "summary, categories"
    )


def test_exclude_wins_over_include() -> None:
    both = rules(include=("story time",), exclude=("saturday",))
    assert filter_reason(STORY_TIME, both) is not None


def test_filter_fields_limit_where_patterns_look() -> None:
    by_category = rules(include=("^story time$",), fields=("categories",))
    assert filter_reason(TALK, by_category) is None
    # The title says "Story time" too, but only categories are searched, each on its own.
    assert filter_reason(STORY_TIME, by_category) is not None
    assert filter_reason(CANCELLED, rules(exclude=("cancelled",), fields=("title",))) is None


def plan(entries: tuple[Entry, ...], known: set[str], entry_filter: EntryFilter, **kwargs):
    options = {"first_contact": False, "backfill": 0, "flood_items": 10, "flood_ratio": 0.9}
    options.update(kwargs)
    return plan_entries(entries, known, entry_filter=entry_filter, **options)


FEED = (TALK, CANCELLED, STORY_TIME)  # newest first, as feeds list them


def test_a_filtered_new_item_is_recorded_as_skipped_with_its_reason() -> None:
    result = plan(FEED, {"id:1"}, rules(exclude=("cancelled",)))
    fates = {n.entry.key: (n.state, n.reason) for n in result.new}
    assert fates["id:3"] == ("pending", None)
    assert fates["id:2"][0] == "skipped"
    assert fates["id:2"][1].startswith("left out by feeds.events.exclude")
    assert result.to_post == 1
    assert result.note == "1 new items left out by the feed's filters"


def test_the_backfill_counts_only_items_the_filter_lets_through() -> None:
    result = plan(FEED, set(), rules(exclude=("cancelled",)), first_contact=True, backfill=2)
    fates = {n.entry.key: (n.state, n.reason) for n in result.new}
    assert fates["id:1"] == ("pending", None)
    assert fates["id:3"] == ("pending", None)
    assert fates["id:2"][1].startswith("left out by")
    assert result.to_post == 2
    assert result.note is not None and "2 of the newest will be posted" in result.note


def test_baseline_items_not_filtered_keep_the_baseline_reason() -> None:
    result = plan(FEED, set(), rules(exclude=("cancelled",)), first_contact=True)
    reasons = {n.entry.key: n.reason for n in result.new}
    assert reasons["id:1"] == reasons["id:3"] == BASELINE
    assert reasons["id:2"] is not None and reasons["id:2"].startswith("left out by")


def test_the_flood_guard_never_gives_a_filtered_item_its_reason() -> None:
    """`fedibridge retry` releases items by the flood guard's reason: a filtered item must
    never be among them."""
    many = tuple(item(n, f"Event {n}" + (" cancelled" if n == 5 else "")) for n in range(20))
    result = plan(many, set(), rules(exclude=("cancelled",)))
    reasons = {n.entry.key: n.reason or "" for n in result.new}
    assert result.to_post == 0
    assert reasons["id:5"].startswith("left out by")
    assert all(r.startswith("flood guard") for key, r in reasons.items() if key != "id:5")


@pytest.mark.parametrize("first_contact", [True, False])
def test_a_filtered_item_is_never_pending(first_contact: bool) -> None:
    result = plan(FEED, set(), rules(include=("story",)), first_contact=first_contact, backfill=3)
    assert [n.entry.key for n in result.new if n.state == "pending"] == ["id:1", "id:3"]
