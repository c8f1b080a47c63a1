"""The status page of a running `fedibridge run`, in Debian's headless Chromium.

The daemon polls a feed server and posts to a Mastodon API server, both on loopback; one feed
is gone, one item is refused, one feed is paused, and the state already holds a month of
posts (written through the state API) so the chart has something to show. The screenshot is
kept in artifacts/ (ignored by git) for people to look at.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By

from fedibridge.models import Entry, NewEntry
from fedibridge.state import State
from tests.browser import chromium, full_page_screenshot
from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer
from tests.running import Running
from tests.test_cli import rss, write_config

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "artifacts" / "status-page.png"


def seed_a_month_of_posts(state_path: Path, feed_url: str, server: str) -> None:
    now = datetime.now(UTC)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    entries = [
        Entry(
            key=f"earlier-{n}",
            title=f"Earlier news number {n}",
            link=f"https://library.example/news/{n}",
            summary="",
        )
        for n in range(24)
    ]
    state = State.open(state_path)
    try:
        state.record_fetch(
            "events",
            feed_url,
            now=now - timedelta(days=30),
            result="24 new, 24 to post",
            new_entries=[NewEntry(e, "pending") for e in entries],
        )
        for n, entry in enumerate(entries):
            state.mark_posted(
                "events",
                entry.key,
                status_id=f"9{n}",
                status_url=f"{server}/@alice/9{n}",
                # From today's noon: counted back from the current time, the oldest post fell
                # on the 31st day back in the first hours after midnight.
                now=noon - timedelta(days=(n * 7) % 29 + 1, hours=n % 5),
            )
    finally:
        state.close()


def configure(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon) -> Path:
    url = feed_server.serve("/events.rss", rss(1, 2, 3))
    config = write_config(tmp_path, url, mastodon.url)
    config.write_text(
        config.read_text().replace(
            'contact = "https://library.example/contact"',
            'contact = "https://library.example/contact"\nstatus_listen = "127.0.0.1:0"',
        )
        + textwrap.dedent(f"""
        [feeds.gone]
        url = "{feed_server.url("/gone.rss")}"

        [feeds.newsletter]
        url = "{feed_server.url("/newsletter.rss")}"
        paused = true
        """)
    )
    seed_a_month_of_posts(config.parent / "state" / "fedibridge.sqlite3", url, mastodon.url)
    return config


def test_the_status_page_in_a_real_browser(tmp_path, feed_server, mastodon) -> None:
    config = configure(tmp_path, feed_server, mastodon)
    forbidden = {"error": "Validation failed: Text contains a forbidden word"}
    mastodon.fault("/api/v1/statuses", status=422, count=1, body=forbidden)
    with Running(config) as daemon:
        url = daemon.wait_for(r"status page at (http://127\.0\.0\.1:\d+/)").group(1)
        daemon.wait_for(r"feed\.polled: feed events: .*2 posted")
        daemon.wait_for(r"feed\.polled: feed gone: ")
        with chromium() as browser:
            browser.get(url)
            title = browser.title
            rows = {
                row.find_element(By.TAG_NAME, "th").text.split("\n")[0]: row.text
                for row in browser.find_elements(By.CSS_SELECTOR, "#feeds ~ div tbody tr")
            }
            refused = browser.find_element(By.CSS_SELECTOR, "#waiting ~ div tbody").text
            posts = [
                a.get_attribute("href")
                for a in browser.find_elements(By.CSS_SELECTOR, "ol.posts a")
            ]
            chart = browser.find_element(By.ID, "per-day-summary").text
            console = browser.get_log("browser")
            full_page_screenshot(browser, SCREENSHOT)
        page = httpx.get(url).text

    assert title == "fedibridge status: 1 failing"
    assert "Failing" in rows["gone"] and "failed" in rows["gone"]
    assert "Working" in rows["events"] or "Needs attention" in rows["events"]
    assert "Paused" in rows["newsletter"]
    assert "in " in rows["events"]  # the next poll, from the scheduler
    assert "forbidden word" in refused and "fedibridge retry events" in refused
    assert [s["url"] for s in mastodon.statuses()][::-1][0] in posts
    assert chart.startswith("26 posts in the last 30 days")
    assert console == [], console  # no errors, no blocked resources, no CSP violations
    assert TOKEN not in page
    assert SCREENSHOT.stat().st_size > 10_000
