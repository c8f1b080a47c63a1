"""What a run loads: a run imports only what it uses (issue 14, cold start).

Each command runs in a fresh interpreter (tests/modules_runner.py), against a feed server and
mastodon-mock on loopback, and reports the modules it loaded. A cron job whose feeds did not
change must not pay for the posting libraries (Mastodon.py and requests) nor feedparser.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import rss, write_config

ROOT = Path(__file__).resolve().parents[1]
POSTING = ("mastodon", "requests", "fedibridge.deliver", "fedibridge.publish.detect")


def loaded(config: Path, *command: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "tests.modules_runner", "--config", str(config), *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return result


def test_a_cycle_with_nothing_to_post_loads_no_posting_library(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    url = feed_server.serve("/events.rss", rss(1, 2, 3))
    config = write_config(tmp_path, url, mastodon.url)

    first = loaded(config, "once")  # first contact: items recorded, nothing posted
    assert first["exit"] == 0
    assert "feedparser" in first["modules"]
    assert not set(POSTING) & set(first["modules"])

    unchanged = loaded(config, "once")  # the website answers "not modified"
    assert unchanged["exit"] == 0
    assert feed_server.requests_to("/events.rss")[-1].headers.get("if-none-match")
    assert not {"feedparser", *POSTING} & set(unchanged["modules"])
    assert mastodon.statuses() == []

    feed_server.serve("/events.rss", rss(1, 2, 3, 4))
    posting = loaded(config, "once")  # a new item: now the posting machinery is needed
    assert posting["exit"] == 0
    assert "mastodon" in posting["modules"]
    assert len(mastodon.statuses()) == 1


def test_status_and_healthcheck_load_neither_http_nor_posting_libraries(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    url = feed_server.serve("/events.rss", rss(1, 2, 3))
    config = write_config(tmp_path, url, mastodon.url)
    assert loaded(config, "once")["exit"] == 0

    for command in ("status", "healthcheck"):
        result = loaded(config, command)
        assert result["exit"] == 0, command
        heavy = {"httpx", "feedparser", "apscheduler", *POSTING}
        assert not heavy & set(result["modules"]), command
