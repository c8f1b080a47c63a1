"""What a large deployment relies on (issue 14)."""

from __future__ import annotations

import threading
from pathlib import Path

from fedibridge.config import load_settings
from fedibridge.cycle import Bridge
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import rss, write_config


def test_polls_still_queued_when_the_daemon_stops_are_not_made(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    """With thousands of feeds, polls wait in the thread pool's queue; after SIGTERM they must
    not all run before the process exits."""
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1, 2)), mastodon.url)
    stop = threading.Event()
    bridge = Bridge(load_settings(config), stop=stop)
    try:
        assert bridge.run_feed("events").ok
        polled = len(feed_server.requests_to("/events.rss"))
        stop.set()
        report = bridge.run_feed("events")
    finally:
        bridge.close()
    assert len(feed_server.requests_to("/events.rss")) == polled
    assert report.ok and report.lines == ["stopping: not polled"]
