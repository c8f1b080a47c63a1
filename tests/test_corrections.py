"""When the website corrects an item, the post is corrected, not repeated."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedibridge.models import Entry, Known
from fedibridge.plan import corrections, fingerprint
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import once, rss, write_config

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def posted_feed(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, **options) -> Path:
    config = write_config(
        tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url, **options
    )
    once(config)
    feed_server.serve("/events.rss", rss(1, 2))
    once(config)
    return config


def test_a_corrected_item_edits_its_post(tmp_path, feed_server, mastodon, capsys) -> None:
    config = posted_feed(tmp_path, feed_server, mastodon, visibility="unlisted")
    corrected = rss(1, 2).replace(b"Details of event 2.", b"Now at 11:00 in the garden.")
    feed_server.serve("/events.rss", corrected)
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Now at 11:00 in the garden." in status["content"]
    assert status["visibility"] == "unlisted"  # an edit never changes who sees the post
    assert "post corrected" in capsys.readouterr().out

    assert once(config) == 0  # nothing changed since: no further edit
    assert "post corrected" not in capsys.readouterr().out


def test_on_update_ignore_leaves_posts_alone(tmp_path, feed_server, mastodon) -> None:
    config = posted_feed(tmp_path, feed_server, mastodon, on_update="ignore")
    feed_server.serve("/events.rss", rss(1, 2).replace(b"Details of event 2.", b"Changed."))
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Details of event 2." in status["content"]


def test_old_posts_are_not_edited(tmp_path, feed_server, mastodon) -> None:
    config = posted_feed(tmp_path, feed_server, mastodon)
    long_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        db.execute("UPDATE entries SET posted_at = ?", (long_ago,))
    feed_server.serve("/events.rss", rss(1, 2).replace(b"Details of event 2.", b"Changed."))
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Details of event 2." in status["content"]


def test_a_correction_before_posting_posts_the_corrected_text(
    tmp_path, feed_server, mastodon
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2))
    mastodon.fault("/api/v1/statuses", status=503, count=1)
    once(config)  # item 2 is pending
    feed_server.serve("/events.rss", rss(1, 2).replace(b"Details of event 2.", b"Corrected."))
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        db.execute("UPDATE accounts SET retry_at = NULL")
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Corrected." in status["content"]


def entry(summary: str = "<p>Stories</p>") -> Entry:
    return Entry(key="id:1", title="Story time", link="https://l.example/1", summary=summary)


def test_markup_and_dates_alone_are_no_correction() -> None:
    assert fingerprint(entry("<p>Stories</p>")) == fingerprint(entry("<div>Stories</div>\n"))
    touched = dataclasses.replace(entry(), updated=NOW, published=NOW - timedelta(hours=1))
    assert fingerprint(touched) == fingerprint(entry())
    assert fingerprint(entry("<p>Stories at 11:00</p>")) != fingerprint(entry())


def test_corrections_decide_edit_or_refresh() -> None:
    old = fingerprint(entry())
    changed = (entry("<p>Stories and songs</p>"),)
    posted = {"id:1": Known("posted", old, NOW - timedelta(days=1))}
    pending = {"id:1": Known("pending", old, None)}
    skipped = {"id:1": Known("skipped", old, None)}
    assert [
        c.edit for c in corrections(changed, posted, edit=True, max_age=timedelta(7), now=NOW)
    ] == [True]
    assert corrections(changed, posted, edit=False, max_age=timedelta(7), now=NOW) == []
    assert [
        c.edit for c in corrections(changed, pending, edit=True, max_age=timedelta(7), now=NOW)
    ] == [False]
    assert corrections(changed, skipped, edit=True, max_age=timedelta(7), now=NOW) == []
    assert corrections((entry(),), posted, edit=True, max_age=timedelta(7), now=NOW) == []
