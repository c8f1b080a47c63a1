"""The Mastodon-API publisher on servers that are not Mastodon: each behaviour below is one
that GoToSocial, Takahē, Friendica, Pleroma or an unknown fork shows, served by a loopback fake
(tests/fake_servers.py) that behaves that way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fedibridge.cli import main
from fedibridge.errors import AccountUnusable, EditUnsupported, PostRejected, ServerUnavailable
from fedibridge.models import Post, Visibility
from fedibridge.publish import Publisher
from fedibridge.publish.detect import DetectingPublisher
from fedibridge.publish.quirks import about_length, readable
from tests.fake_servers import (
    EXAMPLEFORK,
    FRIENDICA,
    GOTOSOCIAL,
    PLEROMA,
    TAKAHE,
    TOKEN,
    Answer,
    FakeMastodonAPI,
    Software,
    json_answer,
)
from tests.feedserver import FeedServer
from tests.test_cli import rss, write_config
from tests.test_publish_mastodon import tiny_png


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def serve(software: Software) -> FakeMastodonAPI:
    return FakeMastodonAPI(software)


def publisher(fake: FakeMastodonAPI, http: httpx.Client, token: str = TOKEN) -> Publisher:
    return DetectingPublisher(fake.url, token, user_agent="fedibridge-tests", http=http)


def post(
    text: str = "Story time on Saturday https://library.example/e/1",
    visibility: Visibility = "public",
    language: str | None = "en",
) -> Post:
    return Post(text=text, length=len(text), limit=500, language=language, visibility=visibility)


# --- versions Mastodon.py cannot parse, and no trailing slashes ----------------------------


def test_a_takahe_version_string_breaks_nothing(http: httpx.Client) -> None:
    with serve(TAKAHE) as fake:
        bridge = publisher(fake, http)
        assert bridge.verify().startswith("@library@")
        media_id = bridge.upload(tiny_png(), "image/png", "A reading corner")
        published = bridge.post(post(), "key-1", [media_id])
        [own] = bridge.recent_posts()
        assert own.status_id == published.status_id
        assert fake.statuses[0]["media_attachments"][0]["description"] == "A reading corner"
        # The bridge never asked the form with a trailing slash, which such servers 404.
        assert not fake.seen("GET", "/api/v1/instance/")
        assert httpx.get(f"{fake.url}/api/v1/instance/").status_code == 404


# --- 400 instead of 422, and other wordings of "too long" -----------------------------------


@pytest.mark.parametrize("software", [GOTOSOCIAL, TAKAHE])
def test_a_400_for_a_too_long_post_is_a_rejection_about_length(
    software: Software, http: httpx.Client
) -> None:
    with serve(software) as fake, pytest.raises(PostRejected) as caught:
        publisher(fake, http).post(post("x" * 501), "k")
    assert caught.value.too_long
    assert "too long" in caught.value.reason.lower()


@pytest.mark.parametrize(
    "wording",
    [
        "Text character limit of 500 exceeded",  # Mastodon
        "The status is over the character limit",  # Pleroma, Akkoma
        "Bad Request: status too long, 537 characters provided (including spoiler/content "
        "warning) but limit is 500",  # GoToSocial
        "Status is too long",  # Takahē
        "Invalid param. (#/properties/text/maxLength: must NOT have more than 3000 characters)",
    ],
)
def test_every_known_wording_of_too_long_is_recognised(wording: str) -> None:
    assert about_length(wording)


def test_a_400_that_is_not_about_length_parks_only_that_post(http: httpx.Client) -> None:
    with serve(GOTOSOCIAL) as fake:
        bridge = publisher(fake, http)
        ids = [bridge.upload(tiny_png(), "image/png", f"picture {n}") for n in range(7)]
        with pytest.raises(PostRejected) as caught:
            bridge.post(post(), "k", ids)  # GoToSocial takes 6
        assert not caught.value.too_long
        assert "attachments" in caught.value.reason


# --- plain-text and HTML error bodies -------------------------------------------------------


def test_an_html_error_page_becomes_a_readable_reason(http: httpx.Client) -> None:
    with serve(FRIENDICA) as fake:
        fake.with_software(max_characters=100)
        with pytest.raises(PostRejected) as caught:
            publisher(fake, http).post(post("x" * 150), "k")
    assert caught.value.reason == "Error 422 The post is too long"
    assert caught.value.too_long


def test_a_plain_text_refusal_keeps_its_words(http: httpx.Client) -> None:
    with serve(PLEROMA) as fake:
        fake.with_software(error_style="text")
        with pytest.raises(PostRejected) as caught:
            publisher(fake, http).post(post("x" * 5001), "k")
    assert caught.value.reason == "The status is over the character limit"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": "invalid_grant", "error_description": "The code expired"}', "invalid_grant"),
        ('{"error": {"message": "Invalid param.", "code": "INVALID_PARAM"}}', "Invalid param."),
        ("<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>", "502 Bad Gateway"),
        ("  Invalid Bearer token\n", "Invalid Bearer token"),
        ("x" * 1000, "x" * 299 + "…"),
    ],
)
def test_error_bodies_of_every_shape_read_as_one_line(body: str, expected: str) -> None:
    assert readable(body).startswith(expected)
    assert len(readable(body)) <= 300


# --- 400 instead of 401 for a bad token ---------------------------------------------------


@pytest.mark.parametrize(
    "software",
    [TAKAHE, PLEROMA, GOTOSOCIAL],
)
def test_a_refused_token_stops_the_account_whatever_the_status(
    software: Software, http: httpx.Client
) -> None:
    with serve(software) as fake, pytest.raises(AccountUnusable) as caught:
        publisher(fake, http, token="not-a-real-token-XYZ").post(post(), "k")
    assert "not-a-real-token-XYZ" not in str(caught.value)
    assert "token" in str(caught.value)
    assert fake.statuses == []


def test_a_400_without_words_is_checked_against_the_token(http: httpx.Client) -> None:
    with serve(TAKAHE) as fake:
        fake.with_software(bad_token_body="")
        with pytest.raises(AccountUnusable):
            publisher(fake, http, token="wrong").post(post(), "k")


# --- no rate-limit headers, no Idempotency-Key -------------------------------------------------


def test_a_429_without_rate_limit_headers_means_try_later(http: httpx.Client) -> None:
    with serve(GOTOSOCIAL) as fake:
        bridge = publisher(fake, http)
        fake.fail("/api/v1/statuses", json_answer({"error": "Too Many Requests"}, 429))
        with pytest.raises(ServerUnavailable, match="rate limit") as caught:
            bridge.post(post(), "k")
        assert caught.value.retry_at is None
        fake.fail(
            "/api/v1/statuses", Answer(429, b"slow down", "text/plain", {"Retry-After": "120"})
        )
        with pytest.raises(ServerUnavailable) as caught:
            bridge.post(post(), "k")
        assert caught.value.retry_at is not None
        expected = datetime.now(UTC) + timedelta(seconds=120)
        assert abs((caught.value.retry_at - expected).total_seconds()) < 5
        assert fake.statuses == []


def test_without_idempotency_the_own_posts_show_what_was_posted(http: httpx.Client) -> None:
    with serve(GOTOSOCIAL) as fake:
        bridge = publisher(fake, http)
        first = bridge.post(post("New: story time https://library.example/e/1?a=1&b=2"), "k")
        bridge.post(post("New: story time https://library.example/e/1?a=1&b=2"), "k")
        # The server posted twice: the key is ignored. The bridge's own record and its look at
        # the account's recent posts are what prevent that (see the reliability tests).
        assert len(fake.statuses) == 2
        [_, oldest] = bridge.recent_posts()
        assert oldest.status_id == first.status_id
        assert "https://library.example/e/1?a=1&b=2" in oldest.links


# --- counting, limits and attachments -----------------------------------------------------


@pytest.mark.parametrize(
    ("software", "per_url"),
    [(GOTOSOCIAL, None), (TAKAHE, None)],
)
def test_servers_that_count_links_raw_get_raw_limits(
    software: Software, per_url: int | None, http: httpx.Client
) -> None:
    with serve(software) as fake:
        assert publisher(fake, http).limits().characters_per_url == per_url


def test_pleromas_max_toot_chars_above_500(http: httpx.Client) -> None:
    with serve(PLEROMA) as fake:
        bridge = publisher(fake, http)
        assert bridge.limits().max_characters == 5000
        bridge.post(post("A long description of the book sale. " * 40), "k")
        assert len(fake.statuses) == 1


def test_six_attachments_where_the_server_takes_six(http: httpx.Client) -> None:
    with serve(GOTOSOCIAL) as fake:
        bridge = publisher(fake, http)
        assert bridge.limits().max_media == 6
        ids = [bridge.upload(tiny_png(), "image/png", f"picture {n}") for n in range(6)]
        bridge.post(post(), "k", ids)
        assert len(fake.statuses[0]["media_attachments"]) == 6


# --- media endpoints ----------------------------------------------------------------


def test_friendica_uploads_to_v1_media(http: httpx.Client) -> None:
    with serve(FRIENDICA) as fake:
        bridge = publisher(fake, http)
        media_id = bridge.upload(tiny_png(), "image/png", "The new reading room")
        bridge.post(post(), "k", [media_id])
        assert fake.statuses[0]["media_attachments"][0]["description"] == "The new reading room"
        assert fake.seen("POST", "/api/v1/media")
        assert not fake.seen("POST", "/api/v2/media")


def test_an_unknown_server_without_v2_media_falls_back_to_v1_once(http: httpx.Client) -> None:
    with serve(FRIENDICA) as fake:
        fake.with_software(nodeinfo=False, instance_version="2.8.0")  # not recognisable
        bridge = publisher(fake, http)
        bridge.upload(tiny_png(), "image/png", "one")
        bridge.upload(tiny_png(), "image/png", "two")
        assert len(fake.seen("POST", "/api/v2/media")) == 1
        assert len(fake.seen("POST", "/api/v1/media")) == 2
        assert [m["description"] for m in fake.media.values()] == ["one", "two"]


# --- edits --------------------------------------------------------------------------


def test_no_edit_of_a_followers_only_post_where_edits_may_make_it_public(
    http: httpx.Client,
) -> None:
    with serve(EXAMPLEFORK) as fake:
        bridge = publisher(fake, http)
        published = bridge.post(post("Story time at 10:30", visibility="private"), "k")
        with pytest.raises(EditUnsupported, match="public"):
            bridge.edit(published.status_id, post("Story time at 11:00", visibility="private"))
        assert fake.statuses[0]["visibility"] == "private"
        assert "10:30" in fake.statuses[0]["content"]


def test_public_posts_are_edited_even_there(http: httpx.Client) -> None:
    with serve(EXAMPLEFORK) as fake:
        bridge = publisher(fake, http)
        published = bridge.post(post("Story time at 10:30"), "k")
        bridge.edit(published.status_id, post("Story time at 11:00"))
        assert "11:00" in fake.statuses[0]["content"]


def test_servers_known_to_keep_visibility_edit_any_post(http: httpx.Client) -> None:
    with serve(GOTOSOCIAL) as fake:
        bridge = publisher(fake, http)
        published = bridge.post(post("Story time at 10:30", visibility="unlisted"), "k")
        bridge.edit(published.status_id, post("Story time at 11:00", visibility="unlisted"))
        assert "11:00" in fake.statuses[0]["content"]
        assert fake.statuses[0]["visibility"] == "unlisted"


# --- language ---------------------------------------------------------------------------


def test_a_server_that_ignores_the_language_still_takes_the_post(http: httpx.Client) -> None:
    with serve(TAKAHE) as fake:
        published = publisher(fake, http).post(post(language="de"), "k")
        assert published.status_id == fake.statuses[0]["id"]
        assert fake.statuses[0]["language"] is None


# --- end to end ------------------------------------------------------------------------


def test_once_fits_long_links_on_the_first_try_where_links_count_in_full(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    link = "https://riverside-library.org/events/2026/11/story-time-for-families?id=" + "7" * 60
    feed_url = feed_server.serve(
        "/events.rss", rss(1, summary="Stories and songs. " * 30, link=link)
    )
    with serve(GOTOSOCIAL) as fake:
        config = write_config(tmp_path, feed_url, fake.url, backfill=1)
        (tmp_path / "token").write_text(TOKEN)
        assert main(["--config", str(config), "once"]) == 0
        [status] = fake.statuses
        assert link in status["content"].replace("&amp;", "&")
        # No refusal and second try: the post was counted like the server counts.
        assert len(fake.seen("POST", "/api/v1/statuses")) == 1
