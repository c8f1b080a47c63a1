"""The server's limits kept in the state with its software (issue 14, posting cost): a run
whose server is known and whose limits are fresh asks the server nothing but its posts; the
limits are read again after a day, or at once after a post refused as too long.

Real SQLite state files; mastodon-mock behind a recording proxy, the recorded-server fakes
and the Misskey fake on loopback; a moved clock where a day has to pass."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fedibridge.cli import main
from fedibridge.config import load_settings
from fedibridge.cycle import Bridge
from fedibridge.models import ServerLimits
from fedibridge.publish.detect import LIMITS_KEPT_FOR
from fedibridge.state import MIGRATIONS, KnownServer, State
from tests.conftest import Mastodon
from tests.fake_misskey import TOKEN as MISSKEY_TOKEN
from tests.fake_misskey import FakeMisskey
from tests.fake_servers import TOKEN, FakeMastodonAPI, Software
from tests.feedserver import FeedServer
from tests.proxy import QuirkyProxy
from tests.test_cli import item, once, rss, write_config

# Mastodon as the recorded-server fake plays it: counts like Mastodon, so only the limits
# decide whether a post fits.
MASTODON = Software("mastodon", "4.3.1", "4.3.1", counts_raw=False)
LIMITS_PATHS = ("/api/v1/instance", "/api/v2/instance", "/api/meta")
DAY0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = DAY0

    def __call__(self) -> datetime:
        return self.now


def asked_about_the_server(requests: list[str]) -> list[str]:
    """Detection and limits requests among ``requests`` ("GET /api/v2/instance"...)."""
    return [r for r in requests if "nodeinfo" in r or r.split()[1] in LIMITS_PATHS]


def stored(config: Path) -> KnownServer:
    state = State.open(config.parent / "state" / "fedibridge.sqlite3")
    try:
        [server] = [row[0] for row in state._db.execute("SELECT server FROM servers")]
        known = state.known_server(server)
    finally:
        state.close()
    assert known is not None
    return known


@pytest.fixture
def proxy(mastodon: Mastodon) -> Iterator[QuirkyProxy]:
    """mastodon-mock, with every request it gets written down."""
    with QuirkyProxy(mastodon.url, ignore_idempotency_key=False) as recording:
        yield recording


# --- (a) a second posting run asks nothing about the server ---------------------------------


def test_a_second_posting_run_sends_only_its_post_to_mastodon(
    tmp_path: Path, feed_server: FeedServer, proxy: QuirkyProxy
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), proxy.url)
    assert once(config) == 0  # first contact: nothing posted, nothing asked
    feed_server.serve("/events.rss", rss(1, 2))
    assert once(config) == 0
    assert asked_about_the_server(proxy.requests) == [
        "GET /.well-known/nodeinfo",  # mastodon-mock links its document at its own address
        "GET /api/v2/instance",
    ]
    proxy.requests.clear()

    feed_server.serve("/events.rss", rss(1, 2, 3))
    assert once(config) == 0
    # Before the limits were kept: ["GET /api/v2/instance", "POST /api/v1/statuses"].
    assert proxy.requests == ["POST /api/v1/statuses"]
    limits = stored(config).limits  # as mastodon-mock advertises them
    assert limits is not None and (limits.max_characters, limits.characters_per_url) == (500, 23)


def test_a_second_posting_run_sends_only_its_note_to_misskey(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    with FakeMisskey() as misskey:
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), misskey.url)
        (tmp_path / "token").write_text(MISSKEY_TOKEN)
        for newest in (1, 2):
            feed_server.serve("/events.rss", rss(*range(1, newest + 1)))
            assert once(config) == 0
        misskey.requests.clear()

        feed_server.serve("/events.rss", rss(1, 2, 3))
        assert once(config) == 0
        # Before: ["POST /api/meta", "POST /api/notes/create"].
        assert [f"{r.method} {r.path}" for r in misskey.requests] == ["POST /api/notes/create"]
        assert len(misskey.notes) == 2
    limits = stored(config).limits
    assert limits is not None and limits.max_characters == 3000  # as /api/meta says it


# --- (b) a day later they are read again ------------------------------------------------------


def long_item(*numbers: int) -> bytes:
    """Item 1, and items whose text fits 1000 characters but not 500."""
    items = "".join(item(n, summary="Story time " * 70) for n in numbers)
    return rss(1).replace(b"</channel>", items.encode() + b"</channel>")


def whole(status: dict[str, object]) -> bool:
    """The post carries the long item's whole text (it was not shortened)."""
    return str(status["content"]).count("Story time") == 70


def test_limits_are_read_again_after_a_day_and_a_raised_limit_is_used(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    clock = Clock()
    with FakeMastodonAPI(MASTODON) as fake:
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), fake.url)
        (tmp_path / "token").write_text(TOKEN)

        def run_at(moment: datetime, feed: bytes) -> None:
            clock.now = moment
            feed_server.serve("/events.rss", feed)
            bridge = Bridge(load_settings(config), clock=clock)  # a run from cron
            try:
                assert all(report.ok for report in bridge.run_all())
            finally:
                bridge.close()

        run_at(DAY0, rss(1))
        run_at(DAY0, rss(1, 2))  # posts, reading the limits: 500 characters
        assert len(fake.seen("GET", "/api/v2/instance")) == 1
        assert stored(config).limits_read_at == DAY0

        # The admin raises the limit. Within the day the kept limits are used...
        fake.with_software(max_characters=1000)
        run_at(DAY0 + LIMITS_KEPT_FOR - timedelta(minutes=1), long_item(3))
        assert len(fake.seen("GET", "/api/v2/instance")) == 1
        assert not whole(fake.statuses[-1])  # shortened to the old limit

        # ...and the first run after a day reads them again, and keeps them.
        later = DAY0 + LIMITS_KEPT_FOR + timedelta(minutes=1)
        run_at(later, long_item(4))
        assert len(fake.seen("GET", "/api/v2/instance")) == 2
        assert whole(fake.statuses[-1])  # in the new limit
        assert len(fake.seen("GET", "/.well-known/nodeinfo")) == 1  # the software stays known
    known = stored(config)
    assert (known.limits_read_at, known.limits and known.limits.max_characters) == (later, 1000)


def test_a_daemon_reads_the_limits_again_after_a_day_too(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    clock = Clock()
    with FakeMastodonAPI(MASTODON) as fake:
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), fake.url)
        (tmp_path / "token").write_text(TOKEN)
        bridge = Bridge(load_settings(config), clock=clock)  # one Bridge: the daemon
        try:
            for hours, feed in ((0, rss(1)), (1, rss(1, 2)), (2, rss(1, 2, 3))):
                clock.now = DAY0 + timedelta(hours=hours)
                feed_server.serve("/events.rss", feed)
                bridge.run_all()
            assert len(fake.seen("GET", "/api/v2/instance")) == 1
            clock.now = DAY0 + timedelta(hours=1) + LIMITS_KEPT_FOR
            feed_server.serve("/events.rss", rss(1, 2, 3, 4))
            bridge.run_all()
        finally:
            bridge.close()
        assert len(fake.seen("GET", "/api/v2/instance")) == 2
        assert len(fake.statuses) == 3


# --- (c) a post refused as too long forgets them ----------------------------------------------


def test_a_post_refused_as_too_long_forgets_the_limits_and_the_retry_still_posts(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, proxy: QuirkyProxy
) -> None:
    # mastodon-mock, like GoToSocial, counts every character of a link although it advertises
    # 23 per link: a long link makes the first attempt too long, and the retry counts raw.
    # (A link to a reserved name such as library.example is counted in full from the start.)
    long_link = "https://library.org/events/4?" + "&".join(f"p{i}=v{i}" for i in range(40))
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), proxy.url)
    once(config)
    feed_server.serve(
        "/events.rss",
        rss(1).replace(
            b"</channel>", item(4, summary="word " * 80, link=long_link).encode() + b"</channel>"
        ),
    )
    assert once(config) == 0
    assert proxy.requests.count("POST /api/v1/statuses") == 2  # refused, then posted
    [status] = mastodon.statuses()
    assert "p39=v39" in status["content"]  # the link arrived whole
    known = stored(config)
    assert (known.software, known.limits, known.limits_read_at) == ("mastodon", None, None)
    proxy.requests.clear()

    feed_server.serve("/events.rss", rss(1, 5))
    assert once(config) == 0
    assert proxy.requests == ["GET /api/v2/instance", "POST /api/v1/statuses"]  # read again
    assert stored(config).limits is not None


def test_a_lowered_limit_is_read_again_after_a_refusal(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    with FakeMastodonAPI(MASTODON) as fake:
        fake.with_software(max_characters=1000)
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), fake.url)
        (tmp_path / "token").write_text(TOKEN)
        once(config)
        feed_server.serve("/events.rss", rss(1, 2))
        assert once(config) == 0  # posted; 1000 characters kept

        fake.with_software(max_characters=500)  # the admin lowers the limit
        feed_server.serve("/events.rss", long_item(3))
        assert once(config) == 1  # rendered for 1000: refused, and parked as before
        assert stored(config).limits is None
        assert len(fake.seen("GET", "/api/v2/instance")) == 1

        feed_server.serve("/events.rss", long_item(3, 5))
        assert main(["--config", str(config), "retry", "events"]) == 0
        assert once(config) == 0  # read again: 500, and the refused item fits now
        assert len(fake.seen("GET", "/api/v2/instance")) == 2
        assert [whole(status) for status in fake.statuses] == [False, False, False]
        assert len(fake.statuses) == 3


# --- (d) a state file written before the limits were kept ------------------------------------


def test_a_state_file_from_before_is_upgraded_and_keeps_its_software(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodonAPI(MASTODON) as fake:
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), fake.url)
        (tmp_path / "token").write_text(TOKEN)
        path = tmp_path / "state" / "fedibridge.sqlite3"
        # The version before: its migrations, and the servers row its first post wrote.
        monkeypatch.setattr("fedibridge.state.MIGRATIONS", MIGRATIONS[:4])
        assert once(config) == 0
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT INTO servers VALUES (?, 'mastodon', '4.3.1', 'mastodon', ?, ?)",
                (fake.url, "NodeInfo", DAY0.isoformat()),
            )
        db.close()
        monkeypatch.undo()

        for newest in (2, 3):
            feed_server.serve("/events.rss", rss(*range(1, newest + 1)))
            assert once(config) == 0
        assert len(fake.statuses) == 2
        assert fake.seen("GET", "/.well-known/nodeinfo") == []  # the old row's software
        assert len(fake.seen("GET", "/api/v2/instance")) == 1  # read once, then kept
    known = stored(config)
    assert (known.found_by, known.limits) == ("NodeInfo", ServerLimits())


# --- `fedibridge check` asks afresh and keeps what it found -----------------------------------


def test_check_reads_live_and_refreshes_the_stored_limits(
    tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeMastodonAPI(MASTODON) as fake:
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), fake.url)
        (tmp_path / "token").write_text(TOKEN)
        assert main(["--config", str(config), "check"]) == 0
        assert not (tmp_path / "state").exists()  # check makes no state file
        once(config)
        feed_server.serve("/events.rss", rss(1, 2))
        assert once(config) == 0

        fake.with_software(max_characters=5000)
        capsys.readouterr()
        assert main(["--config", str(config), "check"]) == 0
        assert "up to 5000 characters" in capsys.readouterr().out
        assert len(fake.seen("GET", "/.well-known/nodeinfo")) == 3  # check asks every time
        known = stored(config)
        assert known.limits is not None and known.limits.max_characters == 5000

        feed_server.serve("/events.rss", long_item(3))
        assert once(config) == 0
        assert len(fake.seen("GET", "/api/v2/instance")) == 3  # two checks, one run
        assert whole(fake.statuses[-1])


# --- the state itself --------------------------------------------------------------------------


def test_limits_are_kept_with_the_software_and_forgotten_alone(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.sqlite3")
    limits = ServerLimits(max_characters=5000, characters_per_url=None, image_types=("image/png",))
    state.remember_limits("https://nowhere.example", limits, read_at=DAY0)  # no software: none
    assert state.known_server("https://nowhere.example") is None

    known = KnownServer("https://s.example", "gotosocial", "0.17", "mastodon", "NodeInfo", DAY0)
    state.remember_server(known)
    state.remember_limits("https://s.example", limits, read_at=DAY0)
    assert state.known_server("https://s.example") == KnownServer(
        "https://s.example", "gotosocial", "0.17", "mastodon", "NodeInfo", DAY0, limits, DAY0
    )
    state.forget_limits("https://s.example")
    assert state.known_server("https://s.example") == known

    # Limits this version cannot read (another shape) are read again, never guessed.
    state.remember_limits("https://s.example", limits, read_at=DAY0)
    state._db.execute("UPDATE servers SET limits = '{\"chars\": 5}'")
    assert state.known_server("https://s.example") == known
    state.close()
