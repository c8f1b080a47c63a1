"""End to end: the commands staff run, against a feed server and a Mastodon API server on
loopback, with real state files."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from fedibridge.cli import main
from fedibridge.state import State
from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def item(n: int, *, summary: str = "", link: str | None = None) -> str:
    link = link or f"https://library.example/events/{n}?utm_source=rss"
    return textwrap.dedent(f"""\
        <item>
          <title>Event number {n}</title>
          <link>{link.replace("&", "&amp;")}</link>
          <guid isPermaLink="false">event-{n}</guid>
          <pubDate>{format_datetime(START + timedelta(days=n))}</pubDate>
          <category>Story time</category>
          <description><![CDATA[<p>{summary or f"Details of event {n}."}</p>]]></description>
        </item>""")


def rss(*numbers: int, **item_options: str) -> bytes:
    items = "\n".join(item(n, **item_options) for n in sorted(numbers, reverse=True))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Riverside Library events</title><link>https://library.example/</link>"
        f"<language>en</language>{items}</channel></rss>"
    ).encode()


def write_config(tmp_path: Path, feed_url: str, server: str, **feed: object) -> Path:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    feed_lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in feed.items())
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bridge]
        state_path = "state/fedibridge.sqlite3"
        contact = "https://library.example/contact"

        [accounts.main]
        server = "{server}"
        access_token_file = "{token_file}"

        [feeds.events]
        url = "{feed_url}"
        hashtags = ["Library"]
        """)
        + feed_lines
        + "\n"
    )
    return path


def let_backoffs_expire(config: Path) -> None:
    """What waiting out every backoff would do, without the wait."""
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if {"accounts", "feeds"} <= tables:  # a bridge killed at birth may not have made them
            db.execute("UPDATE accounts SET retry_at = NULL")
            db.execute("UPDATE feeds SET next_poll_at = NULL")


def once(config: Path, *extra: str) -> int:
    return main(["--config", str(config), "once", *extra])


@pytest.fixture
def setup(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon):
    feed_url = feed_server.serve("/events.rss", rss(1, 2, 3))
    return write_config(tmp_path, feed_url, mastodon.url), feed_server, mastodon


def test_baseline_then_new_items_once_each_in_order(setup, capsys) -> None:
    config, feeds, mastodon = setup
    assert once(config) == 0
    assert mastodon.statuses() == []  # first contact posts nothing

    feeds.serve("/events.rss", rss(1, 2, 3, 4, 5))
    assert once(config) == 0
    posted = mastodon.statuses()
    assert [s["content"].count("Event number 4") for s in posted] == [1, 0]
    assert "Event number 5" in posted[1]["content"]

    assert once(config) == 0
    assert len(mastodon.statuses()) == 2
    # The last poll was conditional, and the server answered "not modified".
    last = feeds.requests_to("/events.rss")[-1]
    assert last.headers.get("if-none-match")
    assert "fedibridge/" in last.headers["user-agent"]
    assert "https://library.example/contact" in last.headers["user-agent"]


def test_posts_read_well_and_links_carry_no_tracking(setup) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    once(config)
    [status] = mastodon.statuses()
    assert "utm_source" not in status["content"]
    assert "#StoryTime" in status["content"] and "#Library" in status["content"]
    assert status["language"] == "en"


def test_backfill_posts_the_newest_items_on_first_contact(tmp_path, feed_server, mastodon) -> None:
    url = feed_server.serve("/events.rss", rss(1, 2, 3, 4, 5))
    config = write_config(tmp_path, url, mastodon.url, backfill=2)
    assert once(config) == 0
    contents = [s["content"] for s in mastodon.statuses()]
    assert len(contents) == 2
    assert "Event number 4" in contents[0] and "Event number 5" in contents[1]


def test_dry_run_posts_nothing_and_changes_nothing(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    state_file = config.parent / "state" / "fedibridge.sqlite3"
    before = state_file.read_bytes()
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    capsys.readouterr()

    assert once(config, "--dry-run", "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    [post] = [json.loads(line) for line in lines]
    assert post["feed"] == "events" and post["entry_key"] == "id:event-4"
    assert post["link"] == "https://library.example/events/4"
    assert post["status_url"] is None
    assert set(post) >= {"text", "language", "visibility", "spoiler_text", "media"}
    assert mastodon.statuses() == []
    assert state_file.read_bytes() == before

    assert once(config) == 0  # the real run still posts it
    assert len(mastodon.statuses()) == 1


def test_once_json_reports_the_status_url(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    capsys.readouterr()
    assert once(config, "--json") == 0
    [post] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [status] = mastodon.statuses()
    assert post["status_url"] == status["url"]


def test_a_server_outage_keeps_items_pending_until_it_recovers(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4, 5))
    mastodon.fault("/api/v1/statuses", status=503, count=1)
    assert once(config) == 1
    assert "server error" in capsys.readouterr().out
    assert mastodon.statuses() == []
    assert once(config) == 1  # backing off: the server is not asked again at once
    assert mastodon.statuses() == []

    let_backoffs_expire(config)
    assert once(config) == 0  # the feed is unchanged (304) but the outbox is not empty
    contents = [s["content"] for s in mastodon.statuses()]
    assert len(contents) == 2 and "Event number 4" in contents[0]


def test_a_refused_token_keeps_items_until_it_is_fixed(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    token_file = config.parent / "token"
    token_file.write_text("revoked-token-QWERTY")
    assert once(config) == 1
    out = capsys.readouterr().out
    assert "account main" in out and "token" in out
    assert "revoked-token-QWERTY" not in out

    token_file.write_text(TOKEN)
    assert once(config) == 0
    assert len(mastodon.statuses()) == 1


def test_combining_marks_never_lose_an_item_on_a_server_that_counts_code_points(
    tmp_path, feed_server, mastodon
):
    # A real OPDS entry writes "Dimitriĭ" as i + U+0306. Mastodon counts grapheme clusters,
    # mastodon-mock (like Takahē and GoToSocial) code points: the first post is refused as too
    # long, and the retry must count every code point to fit.
    url = feed_server.serve("/events.rss", rss(1))
    config = write_config(tmp_path, url, mastodon.url, template="{summary}")
    once(config)
    names = "Dimitrii\u0306 " * 100
    feed_server.serve(
        "/events.rss",
        rss(1).replace(b"</channel>", item(4, summary=names).encode() + b"</channel>"),
    )
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Dimitrii\u0306" in status["content"]
    assert State.open(config.parent / "state" / "fedibridge.sqlite3").counts("events").failed == 0


def test_an_item_with_nothing_to_post_is_skipped_with_its_reason(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    only_an_id = b"<item><guid isPermaLink='false'>tag:library.example,2026:empty</guid></item>"
    feeds.serve("/events.rss", rss(1, 2, 3, 4).replace(b"</channel>", only_an_id + b"</channel>"))
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Event number 4" in status["content"]
    capsys.readouterr()
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "posted 1, pending 0, failed 0, skipped 4" in out
    assert "nothing to post: the item has no title, text, link or picture" in out


def test_a_short_rate_limit_is_waited_out_within_the_run(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4, 5, 6))
    reset = datetime.now(UTC) + timedelta(seconds=2)
    headers = {"Retry-After": "2", "X-RateLimit-Reset": reset.isoformat()}
    mastodon.fault("/api/v1/statuses", type="ratelimit", count=1, headers=headers)
    assert once(config) == 0
    assert len(mastodon.statuses()) == 3  # all of this run's items, none left for the next
    out = capsys.readouterr().out
    assert "asks us to slow down (rate limit); waiting" in out, out


def test_a_long_rate_limit_pauses_the_account_until_the_time_the_server_gave(setup) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=7)
    headers = {"Retry-After": "420", "X-RateLimit-Reset": reset.isoformat()}
    mastodon.fault("/api/v1/statuses", type="ratelimit", count=1, headers=headers)
    assert once(config) == 1
    assert mastodon.statuses() == []
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    paused_until = state.account("main").retry_at
    assert paused_until is not None and abs((paused_until - reset).total_seconds()) < 3
    assert len(state.pending("events")) == 1


def test_status_shows_counts_and_the_last_post(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    once(config)
    capsys.readouterr()
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    [status] = mastodon.statuses()
    assert "posted 1, pending 0, failed 0, skipped 3" in out
    assert status["url"] in out


def test_status_json_gives_the_same_facts_as_one_document(setup, capsys) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    once(config)
    capsys.readouterr()
    assert main(["--config", str(config), "status", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    [status] = mastodon.statuses()
    [feed] = document["feeds"]
    assert feed["feed"] == "events"
    assert (feed["posted"], feed["pending"], feed["failed"], feed["skipped"]) == (1, 0, 0, 3)
    assert feed["last_post"] == status["url"]
    assert feed["paused"] is False
    assert feed["problem"] is None and feed["failed_items"] == []
    assert datetime.fromisoformat(feed["last_poll"]).tzinfo is not None


def test_status_json_of_a_feed_not_polled_yet(tmp_path, feed_server, mastodon, capsys) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    (tmp_path / "state").mkdir()
    State.open(tmp_path / "state" / "fedibridge.sqlite3").close()
    assert main(["--config", str(config), "status", "--json"]) == 0
    [feed] = json.loads(capsys.readouterr().out)["feeds"]
    assert feed["last_poll"] is None and feed["last_result"] is None
    assert feed["posted"] == 0


def test_a_broken_feed_does_not_stop_the_others(tmp_path, feed_server, mastodon, capsys) -> None:
    good = feed_server.serve("/events.rss", rss(1))
    config = write_config(tmp_path, good, mastodon.url)
    config.write_text(
        config.read_text()
        + textwrap.dedent(f"""
        [feeds.gone]
        url = "{feed_server.url("/missing.rss")}"
        """)
    )
    assert once(config) == 1
    feed_server.serve("/events.rss", rss(1, 2))
    assert once(config) == 1
    assert len(mastodon.statuses()) == 1
    assert "feed gone:" in capsys.readouterr().out


def test_check_verifies_feeds_and_accounts(setup, capsys) -> None:
    config, _, _ = setup
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "feed events: ok" in out
    assert "account main: ok: posting as @alice@" in out
    assert "500 characters" in out


def test_check_fails_clearly_on_a_bad_token(setup, capsys) -> None:
    config, _, _ = setup
    (config.parent / "token").write_text("wrong-token-ASDF")
    assert main(["--config", str(config), "check"]) == 1
    out = capsys.readouterr().out
    assert "account main" in out and "wrong-token-ASDF" not in out


def test_preview_shows_the_newest_items_with_their_length(setup, capsys) -> None:
    config, _, mastodon = setup
    assert main(["--config", str(config), "preview", "events", "--limit", "2", "--json"]) == 0
    posts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["entry_key"] for p in posts] == ["id:event-2", "id:event-3"]
    assert all(p["length"] <= p["limit"] == 500 for p in posts)
    assert mastodon.statuses() == []


def test_the_example_config_runs_offline_as_it_is(capsys) -> None:
    assert main(["--config", str(ROOT / "config.example.toml"), "once", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("→ not posted (dry run)") == 2
    assert "Story time with the Moomins" in out
    assert "utm_" not in out and "fbclid" not in out
    assert not (ROOT / "fedibridge.sqlite3").exists()


def test_state_outlives_the_process(setup) -> None:
    config, _, _ = setup
    once(config)
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    assert set(state.entry_states("events").values()) == {"skipped"}
    state.close()


def test_an_updated_item_is_not_posted_again(setup) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4))
    once(config)
    corrected = rss(1, 2, 3, 4).replace(b"Event number 4", b"Event number 4 (new time)")
    corrected = corrected.replace(b"</item>", b"<updated>2026-11-20T10:00:00Z</updated></item>")
    feeds.serve("/events.rss", corrected)
    assert once(config) == 0
    assert len(mastodon.statuses()) == 1


def test_an_item_repeated_in_one_feed_is_posted_once(setup) -> None:
    config, feeds, mastodon = setup
    once(config)
    feeds.serve("/events.rss", rss(1, 2, 3, 4, 4))
    assert once(config) == 0
    assert len(mastodon.statuses()) == 1


def test_max_posts_per_cycle_spreads_a_batch_over_polls(tmp_path, feed_server, mastodon, capsys):
    url = feed_server.serve("/events.rss", rss(1))
    config = write_config(tmp_path, url, mastodon.url, max_posts_per_cycle=2)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2, 3, 4, 5))
    assert once(config) == 0
    assert len(mastodon.statuses()) == 2
    assert "2 items wait for the next poll" in capsys.readouterr().out
    once(config)
    contents = [s["content"] for s in mastodon.statuses()]
    assert len(contents) == 4 and "Event number 5" in contents[-1]


def test_quiet_hours_hold_posts_until_they_end(tmp_path, feed_server, mastodon, capsys) -> None:
    now = datetime.now(UTC)
    hours = f"{now:%H:%M}-{now + timedelta(hours=2):%H:%M}"  # right now, in UTC
    url = feed_server.serve("/events.rss", rss(1))
    config = write_config(tmp_path, url, mastodon.url, quiet_hours=hours)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2))
    assert once(config) == 0
    assert mastodon.statuses() == []
    assert "quiet hours until" in capsys.readouterr().out
    assert State.open(config.parent / "state" / "fedibridge.sqlite3").pending("events")


def test_min_post_spacing_spaces_posts(tmp_path, feed_server, mastodon) -> None:
    url = feed_server.serve("/events.rss", rss(1))
    config = write_config(tmp_path, url, mastodon.url)
    config.write_text(
        config.read_text().replace("[feeds.events]", 'min_post_spacing = "2s"\n\n[feeds.events]')
    )
    once(config)
    feed_server.serve("/events.rss", rss(1, 2, 3))
    assert once(config) == 0
    first, second = mastodon.statuses()
    gap = datetime.fromisoformat(str(second["created_at"])) - datetime.fromisoformat(
        str(first["created_at"])
    )
    assert gap >= timedelta(seconds=1.5)
