"""Pictures travel with their descriptions; a picture that cannot be had never holds back its
item."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedibridge.media import sniff
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import once, write_config
from tests.test_publish_mastodon import tiny_png

DESCRIPTION = "A librarian reads a picture book to children sitting on cushions."


def feed_with_picture(image_url: str, number: int = 2) -> bytes:
    items = [
        f"""<item><title>Story time {n}</title><link>https://library.example/e/{n}</link>
        <guid>e-{n}</guid><description>Stories and songs.</description>
        <media:content url="{image_url}" medium="image">
          <media:description>{DESCRIPTION}</media:description>
        </media:content></item>"""
        for n in range(number, 0, -1)
    ]
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>Events</title>{''.join(items)}</channel></rss>"
    ).encode()


@pytest.fixture
def picture_feed(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon):
    def make(picture: bytes | None, **options: object) -> Path:
        image_url = feed_server.url("/story.png")
        if picture is not None:
            feed_server.serve("/story.png", picture, content_type="image/png")
        url = feed_server.serve("/events.rss", feed_with_picture(image_url, 1))
        config = write_config(tmp_path, url, mastodon.url, **options)
        once(config)
        feed_server.serve("/events.rss", feed_with_picture(image_url, 2))
        return config

    return make


def test_a_picture_is_posted_with_its_description(picture_feed, mastodon: Mastodon) -> None:
    config = picture_feed(tiny_png())  # on the feed's own website: trusted like the feed
    assert once(config) == 0
    [status] = mastodon.statuses()
    [attachment] = status["media_attachments"]
    assert attachment["description"] == DESCRIPTION


def test_a_picture_on_another_private_host_is_left_out(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    # The configured feed is on 127.0.0.1 (trusted); "localhost" is another host on loopback,
    # named only by the feed's content: off limits by default.
    feed_server.serve("/story.png", tiny_png(), content_type="image/png")
    elsewhere = feed_server.url("/story.png").replace("127.0.0.1", "localhost")
    url = feed_server.serve("/events.rss", feed_with_picture(elsewhere, 1))
    config = write_config(tmp_path, url, mastodon.url)
    once(config)
    feed_server.serve("/events.rss", feed_with_picture(elsewhere, 2))
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert status["media_attachments"] == []
    assert "private network" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("picture", "reason"),
    [(None, "HTTP 404"), (b"<html>not a picture</html>", "not a picture")],
)
def test_a_missing_or_wrong_picture_is_left_out(
    picture_feed, mastodon: Mastodon, capsys, picture: bytes | None, reason: str
) -> None:
    config = picture_feed(picture, allow_private_network=True)
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert status["media_attachments"] == []
    assert "Story time 2" in status["content"]
    assert reason in capsys.readouterr().out


def test_media_none_posts_text_only(picture_feed, mastodon: Mastodon) -> None:
    config = picture_feed(tiny_png(), allow_private_network=True, media="none")
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert status["media_attachments"] == []


def test_pictures_are_recognised_by_their_bytes() -> None:
    assert sniff(tiny_png()) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"<svg") is None


def test_sensitive_marks_the_post_and_hides_its_picture(picture_feed, mastodon: Mastodon) -> None:
    config = picture_feed(tiny_png(), allow_private_network=True, sensitive=True)
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert status["sensitive"] is True
    assert len(status["media_attachments"]) == 1


def test_a_picture_without_description_gets_the_configured_one(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    image_url = feed_server.url("/story.png")
    feed_server.serve("/story.png", tiny_png(), content_type="image/png")
    undescribed = feed_with_picture(image_url, 2).replace(
        f"<media:description>{DESCRIPTION}</media:description>".encode(), b""
    )
    url = feed_server.serve("/events.rss", feed_with_picture(image_url, 1))
    config = write_config(
        tmp_path, url, mastodon.url, allow_private_network=True,
        image_description="Poster for {title}",
    )  # fmt: skip
    once(config)
    feed_server.serve("/events.rss", undescribed)
    assert once(config) == 0
    [status] = mastodon.statuses()
    assert status["media_attachments"][0]["description"] == "Poster for Story time 2"


def test_image_from_page_takes_the_pages_sharing_picture(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon
) -> None:
    feed_server.serve("/cover.png", tiny_png(), content_type="image/png")
    page = (
        '<html><head><meta property="og:image" content="/cover.png">'
        '<meta property="og:image:alt" content="The cover of the new novel"></head>'
        "<body>…</body></html>"
    ).encode()
    feed_server.serve("/e/2", page, content_type="text/html")
    without_pictures = rss_without_pictures(feed_server, 2)
    url = feed_server.serve("/events.rss", rss_without_pictures(feed_server, 1))
    config = write_config(tmp_path, url, mastodon.url, image_from_page=True)
    once(config)
    feed_server.serve("/events.rss", without_pictures)
    assert once(config) == 0
    [status] = mastodon.statuses()
    [attachment] = status["media_attachments"]
    assert attachment["description"] == "The cover of the new novel"


def rss_without_pictures(feed_server: FeedServer, number: int) -> bytes:
    items = "".join(
        f"<item><title>New novel {n}</title><link>{feed_server.url(f'/e/{n}')}</link>"
        f"<guid>n-{n}</guid><description>Just arrived.</description></item>"
        for n in range(number, 0, -1)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>New</title>'
    return f"{head}{items}</channel></rss>".encode()
