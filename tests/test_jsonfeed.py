"""JSON Feed 1.0 and 1.1 as a source: read like RSS, posted like RSS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fedibridge.errors import NotAFeed
from fedibridge.models import Entry, Image
from fedibridge.parse import parse_feed
from tests.conftest import FIXTURES, Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import once, write_config

FEED_URL = "https://library.example/feed.json"
VERSION_1_1 = "https://jsonfeed.org/version/1.1"


def json_feed(*items: dict[str, Any], **top: Any) -> bytes:
    document = {"version": VERSION_1_1, "title": "Riverside Library", **top, "items": list(items)}
    return json.dumps(document, ensure_ascii=False).encode()


def story(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"post-{n}",
        "url": f"https://library.example/news/{n}",
        "title": f"News {n}",
        "content_html": f"<p>Details of news {n}.</p>",
        "date_published": f"2026-11-{n:02d}T10:00:00+01:00",
        **fields,
    }


def only_entry(body: bytes) -> Entry:
    [entry] = parse_feed(body, FEED_URL).entries
    return entry


def test_a_real_json_feed_1_0_is_read() -> None:
    body = (FIXTURES / "feeds" / "feed-rs--jsonfeed--jsonfeed_example_1.json").read_bytes()

    feed = parse_feed(body, "https://daringfireball.net/feeds/json", "application/json")

    assert feed.title == "Daring Fireball"
    assert feed.link == "https://daringfireball.net/"
    first = feed.entries[0]
    assert first.key == "id:https://daringfireball.net/linked/2020/01/24/bezos-iphone-x"
    assert first.title == "How Jeff Bezos\u2019s iPhone X Was Hacked"
    assert first.link == "https://daringfireball.net/linked/2020/01/24/bezos-iphone-x"
    assert first.summary.startswith("<p>Good summary from The New York Times.")
    assert first.summary_is_html
    assert first.author == "John Gruber"  # 1.0's single author object
    assert first.published == datetime(2020, 1, 24, 23, 46, 57, tzinfo=UTC)
    # Its own page, not the external_url it links to.
    assert (
        feed.entries[1].link == "https://daringfireball.net/linked/2020/01/20/instagram-for-win95"
    )


def test_every_json_feed_1_1_field_a_post_uses() -> None:
    entry = only_entry(
        json_feed(
            story(
                3,
                title="  Winter  reading ",
                summary="Sign up for winter reading.",
                image="/covers/winter.jpg",
                tags=["Children", "Reading", "Children"],
                language="de-DE",
                authors=[{"name": "Ana"}, {"url": "https://x.example"}, {"name": "Ben"}],
                author={"name": "ignored when authors is given"},
                date_modified="2026-11-04T08:00:00Z",
                attachments=[
                    {
                        "url": "https://cdn.example/poster.png",
                        "mime_type": "image/png",
                        "title": "Poster of the programme",
                    },
                    {"url": "https://cdn.example/talk.mp3", "mime_type": "audio/mpeg"},
                ],
            ),
            language="en",
        )
    )

    assert entry.key == "id:post-3"
    assert entry.title == "Winter reading"
    assert entry.summary == "Sign up for winter reading."  # the summary, like an RSS description
    assert not entry.summary_is_html
    assert entry.categories == ("Children", "Reading")
    assert entry.language == "de"
    assert entry.author == "Ana, Ben"
    assert entry.published == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert entry.updated == datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
    assert entry.images == (
        Image("https://library.example/covers/winter.jpg", ""),
        Image("https://cdn.example/poster.png", "Poster of the programme"),
    )


def test_text_falls_back_from_html_to_plain_and_pictures_to_the_html() -> None:
    html = only_entry(
        json_feed(story(1, content_html='<p><img src="/a.jpg" alt="Reading corner">Hi</p>'))
    )
    plain = only_entry(json_feed({"id": "2", "content_text": "Just text, no title."}))

    assert html.images == (Image("https://library.example/a.jpg", "Reading corner"),)
    assert plain.summary == "Just text, no title."
    assert not plain.summary_is_html
    assert plain.title == ""
    assert plain.language is None


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2026-11-03T10:00:00Z", datetime(2026, 11, 3, 10, 0, tzinfo=UTC)),
        ("2026-11-03T10:00", datetime(2026, 11, 3, 10, 0, tzinfo=UTC)),  # curt.json
        ("Tue, 03 Nov 2026 11:00:00 +0100", datetime(2026, 11, 3, 10, 0, tzinfo=UTC)),
        ("next Tuesday", None),
    ],
)
def test_dates_in_the_forms_real_feeds_write(written: str, meant: datetime | None) -> None:
    assert only_entry(json_feed(story(1, date_published=written))).published == meant


def test_a_byte_order_mark_and_raw_control_characters_are_tolerated() -> None:
    body = json_feed(story(1)).replace(b"Details", b"De\ttails\x01")

    entry = only_entry(b"\xef\xbb\xbf" + body)

    assert entry.key == "id:post-1"
    assert "tails" in entry.summary


def test_items_without_id_are_keyed_by_link_and_unusable_ones_are_named() -> None:
    feed = parse_feed(
        json_feed(
            {"url": "https://library.example/news/7?utm_source=feed", "title": "Seven"},
            {"id": 42, "title": "A numeric id"},
            {"tags": ["nothing else"]},
            {"id": "post-1"},
            story(1),
        ),
        FEED_URL,
    )

    keys = [e.key for e in feed.entries]
    assert keys == ["link:https://library.example/news/7", "id:42", "id:post-1"]
    assert feed.entries[0].link == "https://library.example/news/7"
    assert len(feed.dropped) == 2
    assert "has no id, link, title or text" in feed.dropped[0]
    assert "same identity (id:post-1)" in feed.dropped[1]


def test_a_version_that_is_not_a_url_still_counts() -> None:  # gofeed's fixtures
    body = json.dumps({"version": "1.1", "title": "T", "items": [story(1)]}).encode()

    assert only_entry(body).title == "News 1"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"title": "no items", "status": "ok"}', "is JSON, but not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "is not valid JSON"),
    ],
)
def test_other_json_is_refused_with_advice(body: bytes, said: str) -> None:
    with pytest.raises(NotAFeed, match=said):
        parse_feed(body, FEED_URL)


def test_a_json_feed_is_posted_once_each_with_filters_and_corrections(
    tmp_path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    url = feed_server.serve("/feed.json", json_feed(story(1)), content_type="application/feed+json")
    config = write_config(tmp_path, url, mastodon.url, exclude="cancelled")
    assert once(config) == 0  # first contact: a baseline, nothing posted
    assert mastodon.statuses() == []

    feed_server.serve(
        "/feed.json",
        json_feed(story(3), story(2, title="Cancelled: quiz night"), story(1)),
        content_type="application/feed+json",
    )
    assert once(config) == 0
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "News 3" in status["content"]
    assert "https://library.example/news/3" in status["content"]

    corrected = story(3, content_html="<p>Now in the garden.</p>")
    feed_server.serve("/feed.json", json_feed(corrected), content_type="application/feed+json")
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert "Now in the garden." in status["content"]
