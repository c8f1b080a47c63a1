"""Never lose an item, never post twice: interrupted posts, outages, refusals, budgets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fedibridge.cli import main
from fedibridge.plan import STATUS_BUDGET, budget_wait
from fedibridge.state import State
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.proxy import QuirkyProxy
from tests.test_cli import let_backoffs_expire, once, rss, write_config


@pytest.fixture
def quirky(mastodon: Mastodon) -> Iterator[QuirkyProxy]:
    """mastodon-mock behind a proxy that ignores Idempotency-Key, like GoToSocial."""
    with QuirkyProxy(mastodon.url) as proxy:
        yield proxy


def states(config: Path) -> dict[str, str]:
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    try:
        return state.entry_states("events")
    finally:
        state.close()


def test_a_lost_answer_is_reconciled_not_posted_twice(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, quirky: QuirkyProxy, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), quirky.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2))
    quirky.lose_answers_to_posts = 1
    assert once(config) == 1  # the post was made, but the bridge could not know
    assert len(mastodon.statuses()) == 1
    assert states(config)["id:event-2"] == "pending"

    let_backoffs_expire(config)
    assert once(config) == 0
    assert len(mastodon.statuses()) == 1  # found on the account, not posted again
    assert states(config)["id:event-2"] == "posted"
    assert "already on the account" in capsys.readouterr().out


def test_without_reconciliation_this_server_would_duplicate(
    mastodon: Mastodon, quirky: QuirkyProxy
) -> None:
    """The proxy really ignores Idempotency-Key: the same key twice makes two statuses."""
    import httpx

    headers = {"Authorization": "Bearer alice_token", "Idempotency-Key": "same"}
    for _ in range(2):
        httpx.post(f"{quirky.url}/api/v1/statuses", data={"status": "x"}, headers=headers)
    assert len(mastodon.statuses()) == 2


def test_an_attempt_that_never_arrived_is_posted_once(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, quirky: QuirkyProxy
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), quirky.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2, 3))
    mastodon.fault("/api/v1/statuses", status=502, count=1)
    assert once(config) == 1
    let_backoffs_expire(config)
    assert once(config) == 0
    contents = [s["content"] for s in mastodon.statuses()]
    assert len(contents) == 2
    assert "Event number 2" in contents[0] and "Event number 3" in contents[1]


def test_two_items_sharing_a_link_are_both_posted(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, quirky: QuirkyProxy
) -> None:
    # Some library sites link every event to the same calendar page.
    same = "https://library.example/calendar"
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1, link=same)), quirky.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2, 3, link=same))
    quirky.lose_answers_to_posts = 1
    once(config)
    let_backoffs_expire(config)
    assert once(config) == 0
    contents = [s["content"] for s in mastodon.statuses()]
    assert len(contents) == 2
    assert "Event number 2" in contents[0] and "Event number 3" in contents[1]


def test_a_refused_post_is_parked_and_can_be_retried(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2, 3))
    rule = {"error": "Validation failed: Text contains a forbidden word"}
    mastodon.fault("/api/v1/statuses", status=422, body=rule, count=1)
    assert once(config) == 1
    assert states(config)["id:event-2"] == "failed"
    assert len(mastodon.statuses()) == 1  # the other item went on

    capsys.readouterr()
    assert main(["--config", str(config), "status"]) == 0
    assert "forbidden word" in capsys.readouterr().out

    assert main(["--config", str(config), "retry", "events"]) == 0
    assert "1 item" in capsys.readouterr().out
    assert once(config) == 0
    assert len(mastodon.statuses()) == 2
    assert states(config)["id:event-2"] == "posted"


def test_retry_one_entry_by_its_key(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1, 2)), mastodon.url)
    once(config)  # first contact: both recorded as already published
    assert main(["--config", str(config), "retry", "events", "id:event-2"]) == 0
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Event number 2" in status["content"]
    assert main(["--config", str(config), "retry", "events", "id:nothing-like-it"]) == 1
    assert "no item" in capsys.readouterr().out


def test_a_feed_that_is_gone_stops_until_retry(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    feed_server.serve("/events.rss", b"gone", status=410, content_type="text/plain")
    assert once(config) == 1
    requests = len(feed_server.requests_to("/events.rss"))
    let_backoffs_expire(config)
    assert once(config) == 1
    assert len(feed_server.requests_to("/events.rss")) == requests  # not asked again
    out = capsys.readouterr().out
    assert "fedibridge retry events" in out

    feed_server.serve("/events.rss", rss(1, 2))
    assert main(["--config", str(config), "retry", "events"]) == 0
    assert once(config) == 0
    assert len(mastodon.statuses()) == 1


def test_three_404s_in_a_row_stop_a_feed(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    config = write_config(tmp_path, feed_server.url("/moved.rss"), mastodon.url)
    for _ in range(3):
        once(config)
        let_backoffs_expire(config)
    asked = len(feed_server.requests_to("/moved.rss"))
    assert asked == 3
    once(config)
    assert len(feed_server.requests_to("/moved.rss")) == asked


def test_a_website_asking_to_slow_down_is_left_alone_until_then(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    url = feed_server.serve(
        "/events.rss", b"slow down", status=429, headers={"Retry-After": "3600"}
    )
    config = write_config(tmp_path, url, mastodon.url)
    assert once(config) == 1
    assert once(config) == 1
    assert len(feed_server.requests_to("/events.rss")) == 1
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        [(next_poll,)] = db.execute("SELECT next_poll_at FROM feeds")
    assert datetime.fromisoformat(next_poll) > datetime.now(UTC) + timedelta(minutes=59)


def test_the_rate_budget_holds_back_posts_before_the_server_must(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    # 269 posts in the last hour by this account (from earlier cycles): one more fits.
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for _ in range(STATUS_BUDGET.limit - 1):
        state.record_action("main", "status", now=an_hour_ago)
    state.close()
    feed_server.serve("/events.rss", rss(1, 2, 3))
    once(config)
    assert len(mastodon.statuses()) == 1
    assert "within the server's limit" in capsys.readouterr().out
    assert states(config)["id:event-3"] == "pending"


def test_budget_wait_is_when_the_oldest_action_leaves_the_window() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    recent = [now - timedelta(minutes=170 - i) for i in range(STATUS_BUDGET.limit)]
    assert budget_wait(STATUS_BUDGET, recent, now) == recent[0] + STATUS_BUDGET.window
    assert budget_wait(STATUS_BUDGET, recent[1:], now) is None


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>
<guid>bomb-1</guid></item></channel></rss>"""

HOSTILE = {
    "an HTML page": (b"<!doctype html><html><body><h1>Welcome</h1></body></html>", "text/html"),
    "an empty body": (b"", "application/rss+xml"),
    "random bytes": (bytes(range(256)) * 40, "application/octet-stream"),
    "an entity bomb": (BOMB, "application/rss+xml"),
    "a body over the size cap": (b"<rss>" + b" " * (11 * 1024 * 1024), "application/rss+xml"),
    "a feed that breaks off": (rss(1, 2, 3)[:300], "application/rss+xml"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_or_broken_answer_crashes_nothing_and_loses_nothing(
    kind: str, tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    body, content_type = HOSTILE[kind]
    feed_server.serve("/events.rss", body, content_type=content_type)
    assert once(config) in (0, 1)
    out = capsys.readouterr().out
    assert "Traceback" not in out
    # The website recovers; the bridge goes on where it was.
    feed_server.serve("/events.rss", rss(1, 2))
    let_backoffs_expire(config)
    assert once(config) == 0
    contents = [s["content"] for s in mastodon.statuses()]
    assert sum("Event number 2" in c for c in contents) == 1
    assert not any("lollol" in c for c in contents)  # the entities were never expanded


def test_a_refused_token_is_explained_once_not_at_every_poll(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2))
    (tmp_path / "token").write_text("revoked")
    once(config)
    first = capsys.readouterr().out
    once(config)
    again = capsys.readouterr().out
    assert "lacks a permission this request needs" in first
    assert "lacks a permission this request needs" not in again
    assert "still refuses the token" in again
