"""End to end: what patrons find on the server, from a feed on loopback through mastodon-mock
(a Mastodon API server written by someone else) — the language, the content warning, no
mention of a stranger, no junk hashtag, and no post for an item the feed's filter leaves out.
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import httpx

from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import let_backoffs_expire, once, write_config

WORD_JOINER = "\u2060"


def event(guid: str, title: str, body: str, *extra: str) -> str:
    return textwrap.dedent(f"""\
        <item>
          <title>{title}</title>
          <link>https://library.example/events/{guid}</link>
          <guid isPermaLink="false">{guid}</guid>
          {"".join(extra)}
          <description><![CDATA[<p>{body}</p>]]></description>
        </item>""")


OLD = event("old", "Knitting circle", "Every Monday.")
SPOOKY = event(
    "spooky",
    "Spooky stories for teens",
    "Tales by torchlight, read by @bob. #Halloween #Teens",
    "<category>Horror</category><category>Teens</category>",
)
CANCELLED = event("lego", "CANCELLED: Lego club", "Sorry, no club this week.")
SPANISH = event(
    "cuento",
    "Hora del cuento",
    "Cuentos y canciones para niños.",
    "<dc:language>es-MX</dc:language><category>Story time</category>",
)


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Riverside events</title><language>en-GB</language>"
        + "".join(reversed(items))  # newest first
        + "</channel></rss>"
    ).encode()


def rules_config(tmp_path: Path, feed_url: str, server: str) -> Path:
    config = write_config(tmp_path, feed_url, server, exclude=[r"\bcancell?ed\b"])
    with config.open("a") as file:
        file.write('[[feeds.events.content_warnings]]\nwhen_category = ["Horror"]\n')
        file.write('text = "Scary stories"\n')
    return config


def reasons(config: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        rows = db.execute("SELECT key, state, reason FROM entries WHERE feed = 'events'")
        return {key: (state, reason) for key, state, reason in rows}


def test_posts_carry_language_and_warning_mention_nobody_and_filtered_items_never_come(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    config = rules_config(tmp_path, feed_server.serve("/events.rss", rss(OLD)), mastodon.url)
    assert once(config) == 0  # first visit: nothing old is posted

    feed_server.serve("/events.rss", rss(OLD, SPOOKY, CANCELLED, SPANISH))
    assert once(config) == 0
    feed_server.serve("/events.rss", rss(OLD, SPOOKY, CANCELLED, SPANISH), conditional=False)
    let_backoffs_expire(config)
    assert once(config) == 0  # read again in full: still nothing more

    spooky, spanish = mastodon.statuses()
    assert "Spooky stories for teens" in spooky["content"]
    assert spooky["spoiler_text"] == "Scary stories"
    assert spooky["language"] == "en"
    # "@bob" is shown, but bob, a stranger on this server, is not mentioned or notified.
    assert f"@{WORD_JOINER}bob" in spooky["content"]
    assert spooky["mentions"] == []
    assert sorted(tag["name"].lower() for tag in spooky["tags"]) == ["horror", "library", "teens"]

    assert "Hora del cuento" in spanish["content"]
    assert spanish["language"] == "es"
    assert spanish["spoiler_text"] == ""

    state, reason = reasons(config)["id:lego"]
    assert state == "skipped"
    assert reason == r'left out by feeds.events.exclude: "\bcancell?ed\b" matches its title'


def test_this_server_would_have_mentioned_a_stranger(mastodon: Mastodon) -> None:
    """The check above means something: mastodon-mock does make mentions of "@bob"."""
    answer = httpx.post(
        f"{mastodon.url}/api/v1/statuses",
        data={"status": "Tales read by @bob. #Halloween"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    answer.raise_for_status()
    assert [m["username"] for m in answer.json()["mentions"]] == ["bob"]
    assert [tag["name"].lower() for tag in answer.json()["tags"]] == ["halloween"]
