"""The status page's HTML and the /metrics text, from snapshots written out as plain values."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fedibridge.activity import PollCount
from fedibridge.health import Health
from fedibridge.metrics import render_metrics
from fedibridge.snapshot import (
    CHART_DAYS,
    AccountStatus,
    FeedStatus,
    Problem,
    StatusSnapshot,
    WaitingItem,
)
from fedibridge.state import FeedCounts, ItemRow
from fedibridge.status_page import INK, LINK, MUTED, PALETTE, render_page

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def feed(name: str = "news", **changes: object) -> FeedStatus:
    base = FeedStatus(
        name=name,
        url=f"https://library.example/{name}.xml",
        account="main",
        level="ok",
        problem=None,
        interval=timedelta(minutes=15),
        last_poll=NOW - timedelta(minutes=12),
        last_result="3 new, 1 to post",
        last_success=NOW - timedelta(minutes=12),
        next_poll=NOW + timedelta(minutes=3),
        failures_in_a_row=0,
        counts=FeedCounts(name, 12, 0, 0, 40, None, None),
        polls=PollCount(5, 0),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def item(key: str, **changes: object) -> ItemRow:
    base = ItemRow(
        feed="news",
        key=key,
        state="posted",
        title=f"Story time {key}",
        link=f"https://library.example/events/{key}",
        status_url=f"https://social.example/@library/{key}",
        reason=None,
        attempts=1,
        discovered_at=NOW - timedelta(hours=2),
        posted_at=NOW - timedelta(hours=1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def snapshot(**changes: object) -> StatusSnapshot:
    days = tuple((NOW.date() - timedelta(days=CHART_DAYS - 1 - n), n % 4) for n in range(30))
    base = StatusSnapshot(
        taken_at=NOW,
        version="0.1.0",
        health=Health(True, "healthy"),
        feeds=(feed(),),
        accounts=(AccountStatus("main", "https://social.example", "ok", None, None, ("news",)),),
        latest_posts=(item("a"), item("b")),
        waiting=(),
        waiting_total=0,
        posts_per_day=days,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def failing_snapshot() -> StatusSnapshot:
    gone = feed(
        "events",
        level="failing",
        problem=Problem("There is no feed at https://library.example/events.xml (404)."),
        last_result="error",
    )
    refused = item(
        "c",
        state="failed",
        status_url=None,
        reason="the server refused this post: Text is too long",
    )
    return snapshot(
        health=Health(False, "unhealthy: not polled recently: events", ("events",)),
        feeds=(feed(), gone),
        waiting=(WaitingItem(refused, "Correct the item, then run `fedibridge retry news`."),),
        waiting_total=1,
    )


class Outline(HTMLParser):
    """The parts of a page a check needs: tags with attributes, and the visible text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def test_a_working_bridge_says_so_in_words() -> None:
    page = render_page(snapshot())
    assert "<title>fedibridge status: everything is working</title>" in page
    assert "Everything is working." in page
    assert 'class="problem' not in page
    assert "Nothing is waiting" in page


def test_a_failing_feed_is_failing_in_words_with_its_reason_and_next_step() -> None:
    page = render_page(failing_snapshot())
    assert "<title>fedibridge status: 1 failing</title>" in page
    assert "Failing: feed “events”" in page
    row = re.search(r"<tr><th scope=\"row\">events.*?</tr>", page, flags=re.DOTALL)
    assert row is not None and "Failing</span>" in row.group(0)
    assert "There is no feed at https://library.example/events.xml (404)." in page
    # The refused item: the server's reason and what to do about it.
    assert "Text is too long" in page and "What to do:" in page
    assert "fedibridge retry news" in page


def test_colour_is_never_the_only_signal() -> None:
    outline = Outline(render_page(failing_snapshot()))
    words = " ".join(outline.text)
    for word in ("Working", "Failing", "Refused"):
        assert word in words


def test_values_from_feeds_and_servers_are_escaped_and_only_web_links_are_links() -> None:
    hostile = item(
        "x",
        title='<script>alert("x")</script> & more',
        status_url="javascript:alert(1)",
    )
    page = render_page(snapshot(latest_posts=(hostile,)))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    assert "javascript:" not in page


def test_the_page_is_self_contained_and_accessible() -> None:
    page = render_page(failing_snapshot())
    outline = Outline(page)
    assert outline.all("html") == [{"lang": "en"}]
    assert not outline.all("script") and not outline.all("link") and not outline.all("img")
    assert not outline.all("iframe") and not outline.all("form")
    assert [name for name, _ in outline.tags].count("h1") == 1
    assert len(outline.all("h2")) == 5
    assert len(outline.all("main")) == 1 and len(outline.all("header")) == 1
    # Every data table has column headers.
    for table in re.findall(r"<table>.*?</table>", page, flags=re.DOTALL):
        assert '<th scope="col">' in table
    # Links go to web pages only, and tell them nothing about this page.
    for link in outline.all("a"):
        href = link["href"] or ""
        assert href.startswith(("https://", "http://", "/"))
        assert href.startswith("/") or link.get("rel") == "noreferrer"


def test_the_chart_has_a_text_alternative_and_the_numbers_as_a_table() -> None:
    days = tuple((date(2026, 10, 28) + timedelta(days=n), 0) for n in range(30))
    days = (*days[:-2], (date(2026, 11, 25), 5), (date(2026, 11, 26), 2))
    page = render_page(snapshot(posts_per_day=days))
    [svg] = re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL)
    assert 'role="img"' in svg and "aria-labelledby" in svg
    assert svg.count("<rect") == 30
    assert "7 posts in the last 30 days; the busiest day was 25 Nov with 5" in page
    table = page.split("<details>")[1]
    assert table.count('<tr><th scope="row">') == 30


def test_no_posts_means_no_empty_chart() -> None:
    days = tuple((date(2026, 10, 28) + timedelta(days=n), 0) for n in range(30))
    page = render_page(snapshot(posts_per_day=days, latest_posts=()))
    assert "<svg" not in page
    assert "No posts in the last 30 days." in page and "Nothing posted yet." in page


def test_times_are_said_relative_to_the_page_with_the_exact_time_for_machines() -> None:
    page = render_page(snapshot())
    assert '<time datetime="2026-11-26T08:48:00+00:00"' in page
    assert "12 minutes ago" in page and "in 3 minutes" in page and "every 15 minutes" in page


def test_the_page_stays_small() -> None:
    # Thirty feeds, twenty waiting items, ten posts: still light enough for any connection.
    many = tuple(feed(f"feed{n}") for n in range(30))
    waiting = tuple(
        WaitingItem(item(f"w{n}", state="pending", reason="server down"), "Nothing to do.")
        for n in range(20)
    )
    page = render_page(
        snapshot(feeds=many, waiting=waiting, latest_posts=tuple(item(f"p{n}") for n in range(10)))
    )
    assert len(page.encode()) < 60_000


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(("ink", "paper"), [*PALETTE.values(), (INK, "#ffffff"),
                                            (MUTED, "#ffffff"), (LINK, "#ffffff")])  # fmt: skip
def test_every_colour_pair_is_readable(ink: str, paper: str) -> None:
    assert _contrast(ink, paper) >= 4.5  # WCAG AA for normal text


def test_metrics_are_valid_prometheus_text_with_the_numbers_of_the_page() -> None:
    text = render_metrics(failing_snapshot())
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert samples[("fedibridge_healthy", ())] == 0
    assert samples[("fedibridge_feed_ok", (("feed", "events"),))] == 0
    assert samples[("fedibridge_feed_ok", (("feed", "news"),))] == 1
    assert samples[("fedibridge_posts_total", (("feed", "news"),))] == 12
    assert samples[("fedibridge_polls_total", (("feed", "news"), ("result", "ok")))] == 5
    assert samples[("fedibridge_items", (("feed", "news"), ("state", "skipped")))] == 40
    last = samples[("fedibridge_last_success_timestamp_seconds", (("feed", "news"),))]
    assert last == (NOW - timedelta(minutes=12)).timestamp()
    assert families["fedibridge_posts"].type == "counter"


def test_metric_labels_are_escaped() -> None:
    odd = feed('a"b\\c')
    text = render_metrics(snapshot(feeds=(odd,)))
    names = {
        s.labels.get("feed")
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert 'a"b\\c' in names
