"""Polite polling: library websites are small, and must never be hammered."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedibridge.config import load_settings
from fedibridge.cycle import PER_HOST_REQUESTS, Bridge
from fedibridge.plan import after_busy_website, polite_next_poll
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import once, rss, write_config

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_website_asking_for_fewer_polls_gets_them(tmp_path, feed_server, mastodon) -> None:
    url = feed_server.serve("/events.rss", rss(1), headers={"Cache-Control": "max-age=7200"})
    config = write_config(tmp_path, url, mastodon.url)
    assert once(config) == 0
    assert once(config) == 0  # within the two hours: the website is not asked
    assert len(feed_server.requests_to("/events.rss")) == 1


def test_rss_ttl_is_honoured(tmp_path, feed_server, mastodon) -> None:
    body = rss(1).replace(b"<language>", b"<ttl>180</ttl><language>")
    config = write_config(tmp_path, feed_server.serve("/events.rss", body), mastodon.url)
    once(config)
    once(config)
    assert len(feed_server.requests_to("/events.rss")) == 1


def test_a_short_max_age_changes_nothing(tmp_path, feed_server, mastodon) -> None:
    url = feed_server.serve("/events.rss", rss(1), headers={"Cache-Control": "max-age=60"})
    config = write_config(tmp_path, url, mastodon.url)
    once(config)
    once(config)
    assert len(feed_server.requests_to("/events.rss")) == 2


def test_polite_waits_are_capped_and_only_lengthen() -> None:
    hour = timedelta(hours=1)
    assert (
        polite_next_poll(
            fresh_for=7200, ttl_minutes=None, interval=hour / 4, longest=6 * hour, now=NOW
        )
        == NOW + 2 * hour
    )
    assert (
        polite_next_poll(
            fresh_for=None, ttl_minutes=60 * 24, interval=hour / 4, longest=6 * hour, now=NOW
        )
        == NOW + 6 * hour
    )
    assert (
        polite_next_poll(
            fresh_for=300, ttl_minutes=10, interval=hour / 4, longest=6 * hour, now=NOW
        )
        is None
    )


def test_a_poll_left_by_a_busy_website_comes_back_soon_but_never_later_than_planned() -> None:
    seconds = timedelta(seconds=1)
    regular = NOW + 15 * 60 * seconds

    def retry(rand: float, next_poll: datetime | None = regular) -> datetime:
        return after_busy_website(now=NOW, next_poll=next_poll, delay=30 * seconds, rand=rand)

    # Spread between 20 and 40 s, so the feeds left together do not all come back together.
    assert retry(0.0) == NOW + 20 * seconds
    assert retry(0.5) == NOW + 30 * seconds
    assert NOW + 39 * seconds < retry(0.999) < NOW + 40 * seconds
    assert retry(0.5, next_poll=None) == NOW + 30 * seconds
    # A regular poll due sooner is kept: the retry never delays a poll.
    assert retry(0.5, next_poll=NOW + 25 * seconds) == NOW + 25 * seconds
    assert retry(0.0, next_poll=NOW + 20 * seconds) == NOW + 20 * seconds


def test_one_website_gets_at_most_two_requests_at_a_time(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    feeds = ""
    for number in range(6):
        url = feed_server.serve(f"/feed{number}.rss", rss(1), delay=0.3)
        feeds += f'\n[feeds.feed{number}]\nurl = "{url}"\n'
    config = write_config(tmp_path, feed_server.url("/feed0.rss"), mastodon.url)
    config.write_text(config.read_text().split("[feeds.events]")[0] + textwrap.dedent(feeds))
    bridge = Bridge(load_settings(config))
    try:
        with ThreadPoolExecutor(6) as pool:
            reports = list(pool.map(bridge.run_feed, [f"feed{n}" for n in range(6)]))
    finally:
        bridge.close()
    assert all(report.ok for report in reports)
    assert feed_server.most_at_once == PER_HOST_REQUESTS
