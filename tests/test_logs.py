"""What `fedibridge run` writes on stdout: one line per feed per poll, stable event names,
readable text or JSON lines, and never a token or the text of a post."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer
from tests.running import Running
from tests.test_cli import rss, write_config

REFUSED_TOKEN = "refused-token-ZXCV-0000"
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC (INFO|WARNING|ERROR) +([\w.]+): ")


def two_accounts(tmp_path: Path, feeds: FeedServer, mastodon: Mastodon, log_format: str) -> Path:
    """One account whose token works (in a file), one whose token is refused (in the config)."""
    url = feeds.serve("/events.rss", rss(1, 2, 3))
    config = write_config(tmp_path, url, mastodon.url, backfill=2, account="main")
    text = config.read_text().replace(
        "[accounts.main]", f'log_format = "{log_format}"\n\n[accounts.main]'
    )
    config.write_text(
        text
        + textwrap.dedent(f"""
        [accounts.branch]
        server = "{mastodon.url}"
        access_token = "{REFUSED_TOKEN}"

        [feeds.branch]
        url = "{feeds.serve("/branch.rss", rss(7, 8))}"
        account = "branch"
        backfill = 1
        """)
    )
    return config


def run_until_both_feeds_polled(config: Path) -> list[str]:
    with Running(config) as daemon:
        daemon.wait_for(r"feed events: .*2 posted")
        daemon.wait_for(r"feed branch: ")
    return daemon.lines


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_token_and_no_post_text_in_any_log_line(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, log_format: str
) -> None:
    config = two_accounts(tmp_path, feed_server, mastodon, log_format)
    lines = run_until_both_feeds_polled(config)
    assert len(mastodon.statuses()) == 2  # the good account posted
    everything = "\n".join(lines)
    assert TOKEN not in everything
    assert REFUSED_TOKEN not in everything
    # The body of each post request: the item's text as rendered.
    assert "Details of event 3" not in everything
    assert "Details of event 8" not in everything


def test_json_lines_carry_stable_event_names(tmp_path, feed_server, mastodon) -> None:
    config = two_accounts(tmp_path, feed_server, mastodon, "json")
    records = [json.loads(line) for line in run_until_both_feeds_polled(config)]
    events = [r["event"] for r in records]
    assert events[0] == "daemon.started" and events[-2:] == ["daemon.stopping", "daemon.stopped"]
    polled = {r["feed"]: r for r in records if r["event"] == "feed.polled"}
    assert polled["events"]["level"] == "info" and polled["events"]["posted"] == 2
    assert polled["events"]["ok"] is True
    assert polled["branch"]["level"] == "warning" and polled["branch"]["ok"] is False
    assert "account branch" in polled["branch"]["message"]
    assert all({"time", "level", "event", "message"} <= set(r) for r in records)
    assert events.count("feed.polled") == 2  # one summary line per feed per poll


def test_text_lines_read_well_in_a_terminal(tmp_path, feed_server, mastodon) -> None:
    config = two_accounts(tmp_path, feed_server, mastodon, "text")
    lines = run_until_both_feeds_polled(config)
    for line in lines:
        assert TEXT_LINE.match(line), line
    [events] = [line for line in lines if "feed.polled: feed events:" in line]
    assert events.endswith("; 2 posted")
    [branch] = [line for line in lines if "feed.polled: feed branch:" in line]
    assert " WARNING " in branch and "token" in branch
