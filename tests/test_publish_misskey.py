"""The native Misskey publisher against a loopback Misskey (tests/fake_misskey.py), and the
commands staff run against it end to end."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fedibridge.cli import main
from fedibridge.errors import AccountUnusable, EditUnsupported, PostRejected, ServerUnavailable
from fedibridge.models import Post, Visibility
from fedibridge.publish.misskey import MisskeyPublisher
from fedibridge.publish.quirks import misskey_reset
from tests.fake_misskey import TOKEN, FakeMisskey
from tests.fake_servers import Answer, text_answer
from tests.feedserver import FeedServer
from tests.test_cli import rss, write_config
from tests.test_publish_mastodon import tiny_png


@pytest.fixture
def misskey() -> Iterator[FakeMisskey]:
    with FakeMisskey() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def publisher(misskey: FakeMisskey, http: httpx.Client, token: str = TOKEN) -> MisskeyPublisher:
    return MisskeyPublisher(misskey.url, token, http=http)


def post(
    text: str = "Story time on Saturday https://library.example/e/1",
    visibility: Visibility = "public",
    spoiler_text: str = "",
) -> Post:
    return Post(
        text=text,
        length=len(text),
        limit=3000,
        language="en",
        visibility=visibility,
        spoiler_text=spoiler_text,
    )


def test_limits_come_from_meta_and_links_count_in_full(
    misskey: FakeMisskey, http: httpx.Client
) -> None:
    misskey.text_limit = 5000
    limits = publisher(misskey, http).limits()
    assert limits.characters_per_url is None
    assert (limits.max_media, limits.description_limit) == (16, 512)
    # A little is kept free for the invisible characters that keep feed text out of MFM.
    assert 4800 <= limits.max_characters < 5000


def test_verify_names_the_account(misskey: FakeMisskey, http: httpx.Client) -> None:
    host = misskey.url.removeprefix("http://")
    assert publisher(misskey, http).verify() == f"@library@{host}"


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [("public", "public"), ("unlisted", "home"), ("private", "followers"), ("direct", "specified")],
)
def test_a_note_is_posted_with_the_feeds_visibility(
    visibility: Visibility, expected: str, misskey: FakeMisskey, http: httpx.Client
) -> None:
    published = publisher(misskey, http).post(post(visibility=visibility), "key-1")
    [note] = misskey.notes
    assert note["visibility"] == expected
    assert note["text"] == "Story time on Saturday https://library.example/e/1"
    assert published.status_id == note["id"]
    assert published.url == f"{misskey.url}/notes/{note['id']}"


def test_the_content_warning_is_sent_as_cw(misskey: FakeMisskey, http: httpx.Client) -> None:
    publisher(misskey, http).post(post(spoiler_text="Loud music"), "k")
    assert misskey.notes[0]["cw"] == "Loud music"


def test_an_image_is_posted_with_its_description(misskey: FakeMisskey, http: httpx.Client) -> None:
    bridge = publisher(misskey, http)
    file_id = bridge.upload(tiny_png(), "image/png", "Children listening to a story")
    bridge.post(post(), "k", [file_id])
    [file] = misskey.notes[0]["files"]
    assert file["comment"] == "Children listening to a story"
    assert file["size"] == len(tiny_png())


def test_feed_text_formats_nothing_and_mentions_nobody(
    misskey: FakeMisskey, http: httpx.Client
) -> None:
    text = (
        "**Banned Books Week** starts :tada:\n> Read a banned book\nThanks @friends!\n"
        "https://library.example/bbw?a_b=1 #BannedBooks"
    )
    bridge = publisher(misskey, http)
    bridge.post(post(text), "k")
    [note] = misskey.notes
    assert note["formatting"] == []
    assert note["mentions"] == []
    assert "https://library.example/bbw?a_b=1" in note["text"]
    assert "#BannedBooks" in note["text"]
    [own] = bridge.recent_posts()
    assert own.text == text  # what readers see is the feed's text
    assert own.links == ("https://library.example/bbw?a_b=1",)


def test_recent_posts_newest_first(misskey: FakeMisskey, http: httpx.Client) -> None:
    bridge = publisher(misskey, http)
    first = bridge.post(post("one https://library.example/1"), "k1")
    second = bridge.post(post("two https://library.example/2"), "k2")
    own = bridge.recent_posts()
    assert [p.status_id for p in own] == [second.status_id, first.status_id]
    assert own[0].created_at is not None
    assert abs(own[0].created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_misskey_cannot_edit(misskey: FakeMisskey, http: httpx.Client) -> None:
    bridge = publisher(misskey, http)
    published = bridge.post(post(), "k")
    with pytest.raises(EditUnsupported, match="cannot edit"):
        bridge.edit(published.status_id, post("changed"))


# --- errors, mapped to the same kinds as for the Mastodon family ------------------------------


def test_a_wrong_token_stops_the_account(misskey: FakeMisskey, http: httpx.Client) -> None:
    with pytest.raises(AccountUnusable) as caught:
        publisher(misskey, http, token="not-a-real-token-XYZ").post(post(), "k")
    assert "not-a-real-token-XYZ" not in str(caught.value)
    assert "AUTHENTICATION_FAILED" in str(caught.value)
    assert misskey.notes == []


def test_a_token_without_write_notes_stops_the_account(
    misskey: FakeMisskey, http: httpx.Client
) -> None:
    misskey.tokens["read-only"] = frozenset({"read:account"})
    with pytest.raises(AccountUnusable, match="PERMISSION_DENIED"):
        publisher(misskey, http, token="read-only").post(post(), "k")


def test_too_long_is_a_rejection_about_length(misskey: FakeMisskey, http: httpx.Client) -> None:
    with pytest.raises(PostRejected) as caught:
        publisher(misskey, http).post(post("x" * 3001), "k")
    assert caught.value.too_long
    assert "3000" in caught.value.reason
    assert misskey.notes == []


def test_a_refused_note_says_why(misskey: FakeMisskey, http: httpx.Client) -> None:
    with pytest.raises(PostRejected) as caught:
        publisher(misskey, http).post(post(spoiler_text="w" * 101), "k")
    assert not caught.value.too_long
    assert "cw" in caught.value.reason


def test_a_rate_limit_means_try_later_at_the_given_time(
    misskey: FakeMisskey, http: httpx.Client
) -> None:
    misskey.note_quota, misskey.retry_after = 0, 90
    with pytest.raises(ServerUnavailable, match="rate limit") as caught:
        publisher(misskey, http).post(post(), "k")
    assert caught.value.retry_at is not None
    expected = datetime.now(UTC) + timedelta(seconds=90)
    assert abs((caught.value.retry_at - expected).total_seconds()) < 5


def test_a_rate_limit_without_a_time_still_means_try_later(
    misskey: FakeMisskey, http: httpx.Client
) -> None:
    misskey.note_quota = 0
    with pytest.raises(ServerUnavailable) as caught:
        publisher(misskey, http).post(post(), "k")
    assert caught.value.retry_at is None


def test_server_errors_and_unreadable_answers_mean_try_later(
    misskey: FakeMisskey, http: httpx.Client
) -> None:
    bridge = publisher(misskey, http)
    misskey.fail("/api/notes/create", text_answer("<html>Bad Gateway</html>", 502, "text/html"))
    with pytest.raises(ServerUnavailable, match="server error"):
        bridge.post(post(), "k")
    misskey.fail("/api/notes/create", Answer(200, b"{not json", "application/json"))
    with pytest.raises(ServerUnavailable, match="could not read"):
        bridge.post(post(), "k")


def test_an_unreachable_server_means_try_later(http: httpx.Client) -> None:
    closed = MisskeyPublisher("http://127.0.0.1:9", TOKEN, http=http)
    with pytest.raises(ServerUnavailable, match="could not reach"):
        closed.post(post(), "k")
    with pytest.raises(ServerUnavailable):
        closed.limits()


# --- end to end: the commands staff run -------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, feed_server: FeedServer, misskey: FakeMisskey) -> Path:
    feed_url = feed_server.serve("/events.rss", rss(1, 2, 3))
    path = write_config(tmp_path, feed_url, misskey.url, backfill=1)
    (tmp_path / "token").write_text(TOKEN + "\n")
    return path


def test_once_posts_each_new_item_once_to_misskey(
    config: Path, feed_server: FeedServer, misskey: FakeMisskey
) -> None:
    assert main(["--config", str(config), "once"]) == 0
    assert [n["text"].splitlines()[0] for n in misskey.notes] == ["Event number 3"]
    feed_server.serve("/events.rss", rss(1, 2, 3, 4, 5))
    assert main(["--config", str(config), "once"]) == 0
    assert main(["--config", str(config), "once"]) == 0
    titles = [n["text"].splitlines()[0] for n in misskey.notes]
    assert titles == ["Event number 3", "Event number 4", "Event number 5"]
    assert all(n["formatting"] == [] and n["mentions"] == [] for n in misskey.notes)
    # Links arrive without their tracking parameters, in full.
    assert "https://library.example/events/5\n" in misskey.notes[-1]["text"] + "\n"


def test_check_says_which_account_and_limits(
    config: Path, misskey: FakeMisskey, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert f"posting as @library@{misskey.url.removeprefix('http://')}" in out
    assert "16 images" in out


def test_a_misskey_reset_is_a_moment_in_epoch_milliseconds() -> None:
    # Sharkey 2024.9's 429 body: "info": {"reset": 1796409422, "resetMs": 1796409422457}
    now = datetime(2026, 12, 4, 18, 37, 1, tzinfo=UTC)
    error = {"code": "RATE_LIMIT_EXCEEDED", "info": {"reset": 1796409422, "resetMs": 1796409422457}}
    assert misskey_reset(error, now) == datetime.fromtimestamp(1796409422.457, UTC)
    assert misskey_reset({"info": {"resetMs": 1500}}, now) == now + timedelta(seconds=1.5)
    assert misskey_reset({"info": {}}, now) is None


def test_notes_are_paced_one_second_apart(misskey: FakeMisskey, http: httpx.Client) -> None:
    bridge = publisher(misskey, http)
    for number in range(3):
        bridge.post(post(text=f"Story time {number}"), f"k{number}")
    sent = [datetime.fromisoformat(note["createdAt"]) for note in misskey.notes]
    assert len(sent) == 3
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) >= 1.0, gaps
