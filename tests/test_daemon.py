"""`fedibridge run` as a real process: first poll at start, clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fedibridge.state import State
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import rss, write_config


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fedibridge", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_polls_at_start_and_stops_cleanly(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, stop_signal: signal.Signals
) -> None:
    url = feed_server.serve("/events.rss", rss(1, 2, 3))
    config = write_config(tmp_path, url, mastodon.url, backfill=2)
    process = start(config)
    try:
        wait_for(lambda: len(mastodon.statuses()) == 2)
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "started: polling 1 feeds" in output
    assert "stopped" in output


def test_sigterm_during_a_post_finishes_it_and_keeps_the_rest(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    url = feed_server.serve("/events.rss", rss(1, 2, 3, 4, 5))
    config = write_config(tmp_path, url, mastodon.url, backfill=5)
    # Every post takes a second on the server, so SIGTERM lands while one is in flight.
    mastodon.fault("/api/v1/statuses", type="latency", delay_ms=1000)
    process = start(config)
    try:
        wait_for(lambda: len(mastodon.statuses()) >= 1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, output

    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    states = state.entry_states("events")
    state.close()
    posted_now = len(mastodon.statuses())
    # The post in flight finished and was recorded; nothing was posted twice or lost.
    assert list(states.values()).count("posted") == posted_now
    assert list(states.values()).count("pending") == 5 - posted_now
    assert posted_now < 5

    process = start(config)
    try:
        wait_for(lambda: len(mastodon.statuses()) == 5)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    finally:
        process.kill()
    contents = [s["content"] for s in mastodon.statuses()]
    assert [next(n for n in range(1, 6) if f"Event number {n}<" in c) for c in contents] == [
        1,
        2,
        3,
        4,
        5,
    ]
