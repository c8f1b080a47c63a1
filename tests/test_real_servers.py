"""The whole bridge against each server whose behaviour was recorded (tests/fixtures/servers):
Takahē and snac through the Mastodon API, Sharkey through Misskey's. What a library sees in
its first days: a first visit, three new items (one with a picture and its description, one
longer than the server takes), a rate-limit answer, a correction, a revoked token and its fix.

Each run must end with every item posted once, none waiting, none refused that the server
would accept; the fakes answer as the recordings do (tests/test_recorded_servers.py)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from fedibridge.cli import main
from tests.fake_misskey import TOKEN as MISSKEY_TOKEN
from tests.fake_servers import SNAC, TAKAHE, TOKEN, Answer, FakeMastodonAPI, LoopbackServer
from tests.fake_sharkey import FakeSharkey
from tests.feedserver import FeedServer
from tests.test_publish_mastodon import tiny_png

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
# Words a catalogue really has: a combining breve (two code points, one character for
# Mastodon), an emoji beyond the BMP (two UTF-16 units for Misskey), Cyrillic.
LONG_WORDS = "Dimitrii\u0306 Prigov 📚 стихи "
ALT = "The cover: a red fox reading under a lamp"


@dataclass
class Server:
    """A recorded server's fake, and how to read what was posted on it."""

    fake: LoopbackServer
    token: str
    limit: int
    posts: Callable[[], list[dict[str, Any]]]  # text, media descriptions
    rate_limit: Callable[[], None]  # make the next post be refused for a second
    edits: bool = True  # Misskey's API cannot edit a note


def takahe_or_snac(profile_name: str) -> Iterator[Server]:
    profile = TAKAHE if profile_name == "takahe" else SNAC
    with FakeMastodonAPI(profile) as fake:

        def posts() -> list[dict[str, Any]]:
            return [
                {
                    "text": status["content"],
                    "descriptions": [m["description"] for m in status["media_attachments"]],
                    "id": status["id"],
                }
                for status in fake.statuses
            ]

        def rate_limit() -> None:
            # Neither sends 429 itself (recorded: ten quick posts all 200), but a proxy in
            # front may: as Mastodon does it, with Retry-After.
            body = json.dumps({"error": "Too many requests"}).encode()
            fake.fail("/api/v1/statuses", Answer(429, body, headers={"Retry-After": "1"}))

        yield Server(fake, TOKEN, profile.max_characters, posts, rate_limit)


def sharkey() -> Iterator[Server]:
    with FakeSharkey() as fake:

        def posts() -> list[dict[str, Any]]:
            return [
                {
                    "text": note["text"],
                    "descriptions": [fake.files[f]["comment"] for f in note["fileIds"]],
                    "id": note["id"],
                }
                for note in fake.notes
            ]

        def rate_limit() -> None:
            # Sharkey allows one note a second; fedibridge keeps 1.1 s by itself. A stricter
            # server makes it meet the 429 and its Retry-After.
            fake.min_interval = 2.5

        yield Server(fake, MISSKEY_TOKEN, 3000, posts, rate_limit, edits=False)


@pytest.fixture(params=["takahe", "snac", "sharkey"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if request.param == "sharkey":
        yield from sharkey()
    else:
        yield from takahe_or_snac(request.param)


def item(n: int, title: str, summary: str) -> str:
    return textwrap.dedent(f"""\
        <item>
          <title>{title}</title>
          <link>https://library.example/news/{n}?utm_campaign=rss</link>
          <guid isPermaLink="false">news-{n}</guid>
          <pubDate>{format_datetime(START + timedelta(days=n))}</pubDate>
          <description><![CDATA[{summary}]]></description>
        </item>""")


def feed(items: dict[int, tuple[str, str]]) -> bytes:
    body = "\n".join(item(n, *items[n]) for n in sorted(items, reverse=True))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Riverside Library news</title><link>https://library.example/</link>"
        f"<language>en</language>{body}</channel></rss>"
    ).encode()


def write_config(tmp_path: Path, feed_url: str, server: Server) -> Path:
    (tmp_path / "token").write_text(server.token + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bridge]
        state_path = "state/fedibridge.sqlite3"
        contact = "https://library.example/contact"

        [accounts.main]
        server = "{server.fake.url}"
        access_token_file = "{tmp_path / "token"}"

        [feeds.news]
        url = "{feed_url}"
        allow_private_network = true
        """)
    )
    return config


def once(config: Path) -> int:
    return main(["--config", str(config), "once"])


def counts(config: Path) -> dict[str, int]:
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM entries GROUP BY state").fetchall())


def test_a_library_s_first_days_on_each_recorded_server(
    server: Server, tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = feed_server.serve("/fox.png", tiny_png(), content_type="image/png")
    items = {1: ("Opening hours", "<p>Open every day.</p>"), 2: ("Book club", "<p>Monthly.</p>")}
    feed_url = feed_server.serve("/news.rss", feed(items))
    config = write_config(tmp_path, feed_url, server)

    assert once(config) == 0  # first visit: nothing old is posted
    assert server.posts() == []

    long_text = LONG_WORDS * (server.limit // len(LONG_WORDS) + 20)
    items[3] = ("A new reading corner", f'<p>Come and see it.</p><img src="{picture}" alt="{ALT}">')
    items[4] = ("Poems from our collection", f"<p>{long_text}</p>")
    items[5] = ("Story time", "<p>Saturdays at 10:30.</p>")
    feed_server.serve("/news.rss", feed(items))
    server.rate_limit()
    assert once(config) == 0, capsys.readouterr().out
    posts = server.posts()
    assert len(posts) == 3  # each once, in one run, the rate limit waited out
    corner, poems, story = posts
    assert "A new reading corner" in corner["text"] and corner["descriptions"] == [ALT]
    assert "Poems from our collection" in poems["text"]
    assert "…" in poems["text"]  # shortened to what this server takes, and accepted
    assert "Story time" in story["text"]
    assert all("utm_campaign" not in post["text"] for post in posts)
    assert counts(config) == {"posted": 3, "skipped": 2}

    # The website corrects an item: its post is edited where the server can, never repeated.
    items[5] = ("Story time, now at 11:00", "<p>Saturdays at 11:00.</p>")
    feed_server.serve("/news.rss", feed(items))
    capsys.readouterr()
    assert once(config) == 0
    posts = server.posts()
    assert len(posts) == 3
    if server.edits:
        assert "now at 11:00" in posts[2]["text"]
    else:
        assert "cannot edit a note" in capsys.readouterr().out

    # The token is revoked: nothing is lost, and once it is fixed the item is posted.
    (tmp_path / "token").write_text("revoked-token\n")
    items[6] = ("Closed on Monday", "<p>For the holiday.</p>")
    feed_server.serve("/news.rss", feed(items))
    capsys.readouterr()
    assert once(config) == 1
    assert "refused the access token" in capsys.readouterr().out
    assert counts(config)["pending"] == 1
    (tmp_path / "token").write_text(server.token + "\n")
    assert once(config) == 0
    posts = server.posts()
    assert len(posts) == 4 and "Closed on Monday" in posts[-1]["text"]
    assert counts(config) == {"posted": 4, "skipped": 2}


# --- login and check, as staff do them -------------------------------------------------------


def login_config(tmp_path: Path, server: str, feed_url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bridge]
        state_path = "state/fedibridge.sqlite3"

        [accounts.main]
        server = "{server}"
        access_token_file = "secrets/fedibridge_main"

        [feeds.news]
        url = "{feed_url}"
        backfill = 1
        """)
    )
    return config


def staff_log_in(config: Path, fake: FakeMastodonAPI) -> int:
    """`fedibridge login main` in two runs, with what staff do in the browser between."""
    assert main(["--config", str(config), "login", "main"]) == 0
    [client_id] = fake.apps
    return main(["--config", str(config), "login", "main", "--code", fake.approve(client_id)])


def test_a_code_that_begins_with_a_dash_logs_in(tmp_path: Path, feed_server: FeedServer) -> None:
    # Mastodon's codes are URL-safe base64: one in 64 begins with "-", which a command line
    # parser takes for an option ("--code: expected one argument"). CI met one.
    feed_url = feed_server.serve("/news.rss", feed({1: ("Story time", "<p>Saturdays.</p>")}))
    with FakeMastodonAPI(TAKAHE) as fake:
        config = login_config(tmp_path, fake.url, feed_url)
        assert main(["--config", str(config), "login", "main"]) == 0
        [client_id] = fake.apps
        fake.codes["-mZGQ6cUc2rS4MZG"] = client_id

        assert main(["--config", str(config), "login", "main", "--code", "-mZGQ6cUc2rS4MZG"]) == 0
        assert main(["--config", str(config), "check"]) == 0


@pytest.mark.parametrize(
    ("profile", "scopes"),
    [
        (TAKAHE, {"write:statuses", "write:media", "read"}),
        (SNAC, {"write:statuses", "write:media", "read:statuses", "read:accounts"}),
    ],
    ids=["takahe", "snac"],
)
def test_login_check_and_a_real_post(
    profile: Any,
    scopes: set[str],
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_url = feed_server.serve("/news.rss", feed({1: ("Story time", "<p>Saturdays.</p>")}))
    with FakeMastodonAPI(profile) as fake:
        config = login_config(tmp_path, fake.url, feed_url)
        assert staff_log_in(config, fake) == 0
        token_file = tmp_path / "secrets" / "fedibridge_main"
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert fake.tokens[token] == scopes  # the least this software enforces
        assert main(["--config", str(config), "check"]) == 0
        assert once(config) == 0
        [status] = fake.statuses
    out = capsys.readouterr().out
    assert token not in out
    assert f"on {profile.name} {profile.version}, found by NodeInfo" in out
    assert "Story time" in status["content"]


def test_a_token_that_fails_its_check_is_revoked_and_the_refusal_named(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_url = feed_server.serve("/news.rss", feed({1: ("Story time", "<p>Saturdays.</p>")}))
    with FakeMastodonAPI(TAKAHE) as fake:
        # A Takahē that wants still more to say whose a token is than fedibridge asks for.
        fake.with_software(verify_scopes=("admin:read",))
        config = login_config(tmp_path, fake.url, feed_url)
        assert staff_log_in(config, fake) == 1
        [revoked] = fake.revoked
    err = capsys.readouterr().err
    assert "out_of_scope_for_token" in err
    assert "The token was revoked on the server" in err
    assert revoked not in err
    assert not (tmp_path / "secrets" / "fedibridge_main").exists()
