"""The Mastodon publisher against a real Mastodon API server on loopback (mastodon-mock)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from fedibridge.errors import AccountUnusable, PostRejected, ServerUnavailable
from fedibridge.models import Post, ServerLimits
from fedibridge.publish.mastodon import MastodonPublisher, limits_from_instance, read_limits
from tests.conftest import TOKEN, Mastodon


def publisher(mastodon: Mastodon, token: str = TOKEN) -> MastodonPublisher:
    return MastodonPublisher(
        mastodon.url, token, user_agent="fedibridge-tests", http=httpx.Client(timeout=10)
    )


def post(text: str = "Story time on Saturday https://library.example/e/1") -> Post:
    return Post(text=text, length=len(text), limit=500, language="en", visibility="unlisted")


def test_posts_with_language_and_visibility(mastodon: Mastodon) -> None:
    published = publisher(mastodon).post(post(), "key-1")
    [status] = mastodon.statuses()
    assert status["id"] == published.status_id
    assert published.url and published.status_id in published.url
    assert status["language"] == "en"
    assert status["visibility"] == "unlisted"
    assert "library.example/e/1" in status["content"]


def test_the_same_idempotency_key_gives_the_same_status(mastodon: Mastodon) -> None:
    bridge = publisher(mastodon)
    first = bridge.post(post(), "key-1")
    again = bridge.post(post(), "key-1")
    assert again.status_id == first.status_id
    assert len(mastodon.statuses()) == 1


def test_reads_the_servers_limits(mastodon: Mastodon) -> None:
    limits = publisher(mastodon).limits()
    assert (limits.max_characters, limits.characters_per_url, limits.max_media) == (500, 23, 4)
    assert limits.image_size_limit == 10 * 1024 * 1024  # what mastodon-mock advertises
    assert "image/png" in limits.image_types


def test_verify_names_the_account(mastodon: Mastodon) -> None:
    assert publisher(mastodon).verify().startswith("@alice@")


def test_a_wrong_token_stops_the_account(mastodon: Mastodon) -> None:
    with pytest.raises(AccountUnusable) as caught:
        publisher(mastodon, token="not-a-real-token-XYZ").post(post(), "k")
    assert "not-a-real-token-XYZ" not in str(caught.value)
    assert "token" in str(caught.value)


def test_too_long_is_a_rejection_about_length(mastodon: Mastodon) -> None:
    with pytest.raises(PostRejected) as caught:
        publisher(mastodon).post(post("x" * 501), "k")
    assert caught.value.too_long
    assert "500" in caught.value.reason


def test_server_errors_and_rate_limits_mean_try_later(mastodon: Mastodon) -> None:
    bridge = publisher(mastodon)
    mastodon.fault("/api/v1/statuses", status=503, count=1)
    with pytest.raises(ServerUnavailable, match="server error"):
        bridge.post(post(), "k")
    reset = datetime(2030, 1, 1, tzinfo=UTC)
    mastodon.fault(
        "/api/v1/statuses", type="ratelimit", count=1,
        headers={"X-RateLimit-Reset": reset.isoformat()},
    )  # fmt: skip
    with pytest.raises(ServerUnavailable, match="rate limit") as caught:
        bridge.post(post(), "k")
    assert caught.value.retry_at is not None
    assert (
        abs((caught.value.retry_at - reset).total_seconds()) < 5
    )  # Mastodon.py corrects for clock skew
    assert mastodon.statuses() == []


def test_an_unreadable_answer_is_an_unknown_outcome(mastodon: Mastodon) -> None:
    mastodon.fault("/api/v1/statuses", type="malformed", count=1)
    with pytest.raises(ServerUnavailable):
        publisher(mastodon).post(post(), "k")


def test_an_unreachable_server_means_try_later() -> None:
    with httpx.Client() as http:
        closed = MastodonPublisher("http://127.0.0.1:9", TOKEN, user_agent="t", http=http)
        with pytest.raises(ServerUnavailable, match="could not reach"):
            closed.post(post(), "k")
        with pytest.raises(ServerUnavailable):
            read_limits(http, "http://127.0.0.1:9")


MASTODON_45 = {
    "configuration": {
        "statuses": {
            "max_characters": 5000,
            "characters_reserved_per_url": 23,
            "max_media_attachments": 6,
        },
        "media_attachments": {"description_limit": 5000},
    }
}


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        (MASTODON_45, ServerLimits(5000, 23, 6, 5000)),
        ({"max_toot_chars": 2000}, ServerLimits(2000, 23, 4, 1500)),  # Pleroma/Akkoma
        ({"version": "0.1"}, ServerLimits()),
        ({"configuration": {"statuses": {"max_characters": "lots"}}}, ServerLimits()),
    ],
)
def test_limits_from_each_instance_shape(instance: dict, expected: ServerLimits) -> None:
    assert limits_from_instance(instance) == expected


def tiny_png() -> bytes:
    """A real 1-by-1 pixel PNG, made here so no image file needs to ship with the tests."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_an_image_is_posted_with_its_description(mastodon: Mastodon) -> None:
    bridge = publisher(mastodon)
    media_id = bridge.upload(tiny_png(), "image/png", "Children listening to a story")
    bridge.post(post(), "key-media", [media_id])
    [status] = mastodon.statuses()
    [attachment] = status["media_attachments"]
    assert attachment["description"] == "Children listening to a story"


def test_recent_posts_show_the_links_the_server_stored(mastodon: Mastodon) -> None:
    bridge = publisher(mastodon)
    published = bridge.post(post("New: story time https://library.example/e/1?a=1&b=2"), "k")
    [own] = bridge.recent_posts()
    assert own.status_id == published.status_id
    assert "https://library.example/e/1?a=1&b=2" in own.links
    assert own.text.startswith("New: story time")


def test_an_edit_changes_the_text_and_keeps_the_visibility(mastodon: Mastodon) -> None:
    bridge = publisher(mastodon)
    published = bridge.post(post("Story time at 10:30"), "k")
    bridge.edit(published.status_id, post("Story time at 11:00 (new time)"))
    [status] = mastodon.statuses()
    assert "11:00" in status["content"]
    assert status["visibility"] == "unlisted"
