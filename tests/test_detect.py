"""Finding out which software a server runs, and choosing the publisher for it, against real
HTTP servers on loopback: mastodon-mock for Mastodon, our fakes for the others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fedibridge.cli import main
from fedibridge.errors import AccountUnusable, ServerUnavailable
from fedibridge.publish.detect import (
    DetectingPublisher,
    detect,
    public_limits,
    software_from_version,
)
from fedibridge.publish.quirks import MASTODON, UNKNOWN
from tests.conftest import Mastodon
from tests.fake_misskey import TOKEN as MISSKEY_TOKEN
from tests.fake_misskey import FakeMisskey
from tests.fake_servers import (
    EXAMPLEFORK,
    FRIENDICA,
    GOTOSOCIAL,
    PLEROMA,
    TAKAHE,
    TOKEN,
    FakeMastodonAPI,
    LoopbackServer,
    Software,
    json_answer,
    text_answer,
)
from tests.feedserver import FeedServer
from tests.test_cli import rss, write_config


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def test_mastodon_is_detected_by_nodeinfo(mastodon: Mastodon, http: httpx.Client) -> None:
    software = detect(http, mastodon.url)
    assert (software.name, software.family, software.quirks) == ("mastodon", "mastodon", MASTODON)
    assert software.at_least(4, 3)


@pytest.mark.parametrize(
    ("profile", "raw", "v1_media", "keeps_visibility"),
    [
        (GOTOSOCIAL, True, False, True),
        # Takahē's edits make a post public (recorded): it must not be edited as if it kept
        # visibility.
        (TAKAHE, True, False, False),
        (FRIENDICA, False, True, True),
        (PLEROMA, False, False, True),
        (EXAMPLEFORK, False, False, False),
    ],
)
def test_each_mastodon_api_software_gets_its_quirks(
    profile: Software, raw: bool, v1_media: bool, keeps_visibility: bool, http: httpx.Client
) -> None:
    with FakeMastodonAPI(profile) as fake:
        software = detect(http, fake.url)
    assert (software.name, software.version) == (profile.name, profile.version)
    assert software.family == "mastodon"
    assert software.quirks.urls_count_raw is raw
    assert software.quirks.media_v1_only is v1_media
    assert software.quirks.edit_keeps_visibility is keeps_visibility


@pytest.mark.parametrize("name", ["misskey", "sharkey", "firefish", "iceshrimp"])
def test_misskey_family_software_speaks_misskey(name: str, http: httpx.Client) -> None:
    with FakeMisskey(software=name) as fake:
        software = detect(http, fake.url)
    assert (software.name, software.family) == (name, "misskey")


def test_the_newest_nodeinfo_schema_is_read(http: httpx.Client) -> None:
    with FakeMisskey() as fake:  # links 2.0 (which it does not serve) and 2.1
        detect(http, fake.url)
        assert fake.seen("GET", "/nodeinfo/2.1") and not fake.seen("GET", "/nodeinfo/2.0")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("takahe/0.11.0", ("takahe", "0.11.0")),
        ("2.7.2 (compatible; Pleroma 2.6.1)", ("pleroma", "2.6.1")),
        ("3.5.3 (compatible; Akkoma 3.9.3)", ("akkoma", "3.9.3")),
        ("2.8.0 (compatible; Friendica 2024.03)", ("friendica", "2024.03")),
        ("0.17.0+git-abc", ("", "0.17.0+git-abc")),
    ],
)
def test_version_strings_mastodon_py_cannot_parse(version: str, expected: tuple[str, str]) -> None:
    assert software_from_version(version) == expected


def test_without_nodeinfo_the_instance_version_names_the_software(http: httpx.Client) -> None:
    with FakeMastodonAPI(TAKAHE) as fake:
        fake.with_software(nodeinfo=False)
        software = detect(http, fake.url)
        assert (software.name, software.quirks.urls_count_raw) == ("takahe", True)
        # Asked without the trailing slash, which Takahē answers with a 404 page.
        assert fake.seen("GET", "/api/v2/instance")
        assert not fake.seen("GET", "/api/v2/instance/")


def test_without_nodeinfo_an_unknown_version_gets_careful_quirks(http: httpx.Client) -> None:
    with FakeMastodonAPI(GOTOSOCIAL) as fake:
        fake.with_software(nodeinfo=False)
        software = detect(http, fake.url)
    assert (software.name, software.family, software.quirks) == ("", "mastodon", UNKNOWN)


def test_without_nodeinfo_misskeys_meta_names_it(http: httpx.Client) -> None:
    with FakeMisskey() as fake:
        fake.nodeinfo = False
        software = detect(http, fake.url)
    assert (software.name, software.family) == ("misskey", "misskey")


def test_server_type_overrides_the_family_not_the_quirks(http: httpx.Client) -> None:
    with FakeMisskey(software="sharkey") as fake:
        software = detect(http, fake.url, "mastodon")
    # Sharkey's Mastodon API advertises a link weight it does not count by.
    assert (software.family, software.quirks.urls_count_raw) == ("mastodon", True)


def test_server_type_works_where_nothing_can_be_detected(http: httpx.Client) -> None:
    with LoopbackServer() as nothing:
        assert detect(http, nothing.url, "misskey").family == "misskey"
        with pytest.raises(AccountUnusable, match="server_type"):
            detect(http, nothing.url)


def test_an_unreachable_server_means_try_later(http: httpx.Client) -> None:
    with pytest.raises(ServerUnavailable, match="could not reach"):
        detect(http, "http://127.0.0.1:9")


DETECTION_PATHS = (
    "/.well-known/nodeinfo",
    "/api/v2/instance",
    "/api/v1/instance",
    "/api/v1/instance/",
    "/api/meta",
)


def test_a_busy_nodeinfo_is_passed_over_for_the_instance_api(http: httpx.Client) -> None:
    with FakeMastodonAPI(TAKAHE) as fake:
        fake.fail("/.well-known/nodeinfo", text_answer("busy", 503))
        found = detect(http, fake.url)
    assert (found.name, found.family, found.quirks.urls_count_raw) == ("takahe", "mastodon", True)
    assert "the Mastodon API (/api/v2/instance)" in found.found_by
    assert "nodeinfo answered HTTP 503" in found.found_by


def test_opening_a_publisher_needs_no_network_and_retries_detection(http: httpx.Client) -> None:
    with FakeMastodonAPI(GOTOSOCIAL) as fake:
        publisher = DetectingPublisher(fake.url, TOKEN, user_agent="t", http=http)
        assert fake.requests == []
        for path in DETECTION_PATHS:
            fake.fail(path, text_answer("busy", 503))
        with pytest.raises(ServerUnavailable):
            publisher.limits()
        # The next cycle tries again and, the server being back, posts.
        assert publisher.limits().characters_per_url is None
        assert publisher.verify() == f"@library@{fake.url.removeprefix('http://')}"


def test_limits_of_a_server_without_any_api_mean_try_later(http: httpx.Client) -> None:
    with LoopbackServer() as nothing:
        publisher = DetectingPublisher(nothing.url, TOKEN, user_agent="t", http=http)
        # The cycle treats unreadable limits as "wait"; the message says what to check.
        with pytest.raises(ServerUnavailable, match="server address"):
            publisher.limits()


def test_the_misskey_family_gets_the_native_publisher(http: httpx.Client) -> None:
    with FakeMisskey() as fake:
        publisher = DetectingPublisher(fake.url, MISSKEY_TOKEN, user_agent="t", http=http)
        assert publisher.limits().characters_per_url is None
        assert fake.seen("POST", "/api/meta")


def test_check_tells_staff_to_set_server_type_when_nothing_answers(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_url = feed_server.serve("/events.rss", rss(1))
    with LoopbackServer() as nothing:
        config = write_config(tmp_path, feed_url, nothing.url)
        assert main(["--config", str(config), "check"]) == 1
    out = capsys.readouterr().out
    assert "account main:" in out
    assert 'server_type = "mastodon" or "misskey"' in out


def test_limits_without_a_token_count_like_the_server(
    mastodon: Mastodon, http: httpx.Client
) -> None:
    assert public_limits(http, mastodon.url).characters_per_url == 23
    with FakeMastodonAPI(GOTOSOCIAL) as fake:
        assert public_limits(http, fake.url).characters_per_url is None
    with FakeMisskey() as misskey:
        limits = public_limits(http, misskey.url)
    assert (limits.characters_per_url, limits.max_media) == (None, 16)
    with LoopbackServer() as nothing, pytest.raises(ServerUnavailable, match="server_type"):
        public_limits(http, nothing.url)


# --- a NodeInfo link that cannot be followed (Takahē builds it from its configured domain) ---

UNREACHABLE_NODEINFO = json_answer(
    {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": "https://localhost:9/nodeinfo/2.0/",
            }
        ]
    }
)


def test_an_unreachable_nodeinfo_link_falls_back_to_the_instance_api(http: httpx.Client) -> None:
    with FakeMastodonAPI(TAKAHE) as fake:
        fake.fail("/.well-known/nodeinfo", UNREACHABLE_NODEINFO)
        found = detect(http, fake.url, "mastodon")
    assert (found.name, found.version, found.quirks.urls_count_raw) == ("takahe", "0.11.0", True)
    assert "https://localhost:9/nodeinfo/2.0/ could not be reached" in found.found_by


def test_nothing_detectable_never_holds_posting_back_when_server_type_is_set(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_url = feed_server.serve("/events.rss", rss(1))
    with FakeMastodonAPI(TAKAHE) as fake:
        config = write_config(tmp_path, feed_url, fake.url)
        config.write_text(config.read_text().replace("[accounts.main]", SERVER_TYPE_MASTODON))
        (tmp_path / "token").write_text(TOKEN)
        assert main(["--config", str(config), "once"]) == 0
        for path in DETECTION_PATHS:
            fake.fail(path, text_answer("busy", 503), count=10)
        feed_server.serve("/events.rss", rss(1, 2))
        assert main(["--config", str(config), "once"]) == 0
        assert len(fake.statuses) == 1


SERVER_TYPE_MASTODON = '[accounts.main]\nserver_type = "mastodon"'


def test_what_was_found_is_remembered_and_found_again_after_a_404(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_url = feed_server.serve("/events.rss", rss(1))
    with FakeMastodonAPI(TAKAHE) as fake:
        fake.fail("/.well-known/nodeinfo", UNREACHABLE_NODEINFO)
        config = write_config(tmp_path, feed_url, fake.url)
        (tmp_path / "token").write_text(TOKEN)
        assert main(["--config", str(config), "once"]) == 0
        for newest in (2, 3):
            feed_server.serve("/events.rss", rss(*range(1, newest + 1)))
            assert main(["--config", str(config), "once"]) == 0
        assert len(fake.statuses) == 2
        # The first run that posted found Takahē and read its limits; the next asked nothing
        # about the software or its limits.
        assert len(fake.seen("GET", "/.well-known/nodeinfo")) == 1
        assert len(fake.seen("GET", "/api/v2/instance")) == 1

        # The server answers 404 where its API was: posting waits, and the next run asks again.
        fake.fail("/api/v1/statuses", json_answer({"error": "Record not found"}, 404))
        feed_server.serve("/events.rss", rss(1, 2, 3, 4))
        assert main(["--config", str(config), "once"]) == 1
        assert main(["--config", str(config), "once"]) == 0
        assert len(fake.statuses) == 3
        assert len(fake.seen("GET", "/.well-known/nodeinfo")) == 2

        capsys.readouterr()
        assert main(["--config", str(config), "check"]) == 0
    out = capsys.readouterr().out
    assert "on takahe 0.11.0, found by NodeInfo" in out
