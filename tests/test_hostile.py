"""A hostile web: websites that bomb, trickle, stall or redirect oddly (issue 11).

Each case is a loopback website misbehaving that way (tests/hostile.py). What is checked is
what staff rely on: the bridge ends the transfer, says why in plain words, and the other feeds
go on. Memory and time figures are measured by bench/hostile.py, not here.
"""

from __future__ import annotations

import itertools
import logging
import random
import resource
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from fedibridge.config import load_settings
from fedibridge.cycle import Bridge
from fedibridge.daemon import run_daemon
from fedibridge.errors import FeedGone, FeedUnavailable, NotAFeed, ServerUnavailable
from fedibridge.fetch import fetch, make_client
from fedibridge.media import ImageUnavailable, download
from fedibridge.models import ServerLimits, Validators
from fedibridge.plan import first_polls
from fedibridge.publish import mastodon as mastodon_publish
from fedibridge.publish.mastodon import read_limits
from fedibridge.transfer import Deadline, Timing
from tests.conftest import Mastodon
from tests.hostile import HostileSite
from tests.proxy import QuirkyProxy
from tests.running import Running
from tests.test_cli import let_backoffs_expire, once, rss, write_config

LIMITS = ServerLimits()


@pytest.fixture
def site() -> Iterator[HostileSite]:
    with HostileSite(rss(1, 2)) as served:
        yield served


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(None) as http:
        yield http


def get_feed(client: httpx.Client, url: str, seconds: float = 60) -> None:
    fetch(client, url, Validators(), deadline=Deadline(seconds))


def get_picture(client: httpx.Client, url: str, seconds: float = 60) -> None:
    download(
        client,
        url,
        LIMITS,
        trusted_host="127.0.0.1",
        allow_private_network=False,
        deadline=Deadline(seconds),
    )


# --- decompression bombs --------------------------------------------------------------------


def test_a_stacked_gzip_bomb_is_refused_before_anything_is_inflated(site, client) -> None:
    with pytest.raises(FeedUnavailable, match="compressed 2 times over \\(gzip, gzip\\)"):
        get_feed(client, site.url("/bomb-gzip-gzip.rss"))


def test_a_gzip_bomb_stops_at_the_size_limit(site, client) -> None:
    # 200 MB of zeros in 200 KB: refused after 10 MB of it were inflated, never all of it.
    with pytest.raises(NotAFeed, match="larger than 10 MB"):
        get_feed(client, site.url("/bomb-gzip.rss"))


def test_a_compression_fedibridge_does_not_read_is_named(site, client) -> None:
    with pytest.raises(FeedUnavailable, match="compressed as 'br', which fedibridge does not"):
        get_feed(client, site.url("/brotli.rss"))


def test_the_bridge_asks_only_for_compressions_it_can_bound(site, client) -> None:
    get_feed(client, site.url("/feed.rss"))
    assert client.headers["Accept-Encoding"] == "gzip, deflate"


def test_bombs_sent_as_pictures_are_left_out(site, client) -> None:
    with pytest.raises(ImageUnavailable, match="larger than the server accepts"):
        get_picture(client, site.url("/bomb-gzip.png"))
    with pytest.raises(ImageUnavailable, match="compressed 2 times over"):
        get_picture(client, site.url("/bomb-gzip-gzip.png"))


def test_a_bomb_then_a_good_feed_in_one_run(tmp_path, site, mastodon) -> None:
    config = two_feeds(tmp_path, site.url("/bomb-gzip-gzip.rss"), site.url("/feed.rss"), mastodon)
    assert once(config) == 1  # the bomb is a problem, reported; not a crash
    assert "/feed.rss" in site.seen  # the next feed was polled
    settings = load_settings(config)
    from fedibridge.state import State

    state = State.open(settings.bridge.state_path)
    try:
        bombed = state.feed("bomb")
        good = state.feed("good")
    finally:
        state.close()
    # The failure is recorded (with its backoff), so cron does not repeat it at every run.
    assert bombed is not None and bombed.last_error and "2 times over" in bombed.last_error
    assert bombed.next_poll_at is not None and bombed.gone_since is None
    assert good is not None and good.last_error is None


# --- websites that trickle or stall ---------------------------------------------------------


def test_a_trickling_feed_ends_at_the_deadline(site, client) -> None:
    with pytest.raises(FeedUnavailable, match="took longer than 1 seconds") as raised:
        get_feed(client, site.url("/trickle.rss"), seconds=1)
    assert "try again later" in str(raised.value)


def test_a_website_that_never_sends_its_headers_ends_at_the_deadline(site, client) -> None:
    with pytest.raises(FeedUnavailable, match="took longer than 1 seconds"):
        get_feed(client, site.url("/silent.rss"), seconds=1)


def test_a_trickling_picture_is_left_out_at_the_deadline(site, client) -> None:
    with pytest.raises(ImageUnavailable, match="took longer than 1 seconds"):
        get_picture(client, site.url("/trickle-picture.png"), seconds=1)


def test_a_stop_ends_a_trickling_transfer(site, client) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(FeedUnavailable, match="fedibridge is stopping"):
        fetch(client, site.url("/trickle.rss"), Validators(), deadline=Deadline(60, stop))


def test_a_stuck_website_holds_only_its_own_slots(tmp_path, site, feed_server, mastodon) -> None:
    """Two trickling feeds take the website's two slots until the deadline, no longer: the
    website's good feed is polled after them, another website's at once."""
    # Another website: another name for the loopback address.
    elsewhere = feed_server.serve("/other.rss", rss(1)).replace("127.0.0.1", "localhost")
    feeds = {
        "slow1": site.url("/trickle1.rss"),
        "slow2": site.url("/trickle2.rss"),
        "good": site.url("/feed.rss"),
        "other": elsewhere,
    }
    config = many_feeds(tmp_path, feeds, mastodon)
    bridge = Bridge(load_settings(config), timing=Timing(feed=1.5))
    try:
        with ThreadPoolExecutor(len(feeds)) as pool:
            reports = dict(zip(feeds, pool.map(bridge.run_feed, feeds), strict=True))
    finally:
        bridge.close()
    assert not reports["slow1"].ok and "took longer than 1.5 seconds" in reports["slow1"].lines[0]
    assert not reports["slow2"].ok
    # The good feed waited for a slot of its website, and got one once the deadline had ended
    # the trickles. (That one website gets at most two requests at a time is test_polite's.)
    assert reports["good"].ok and reports["other"].ok


def test_a_poll_that_finds_its_website_busy_is_left_without_a_failure(
    tmp_path, site, mastodon
) -> None:
    """A poll does not hold a worker for long while its website is stuck: after a short wait
    for a slot it is left (the daemon tries it again soon), which is not a failure of the
    feed."""
    feeds = {
        "slow1": site.url("/trickle1.rss"),
        "slow2": site.url("/trickle2.rss"),
        "good": site.url("/feed.rss"),
    }
    config = many_feeds(tmp_path, feeds, mastodon)
    bridge = Bridge(load_settings(config), timing=Timing(feed=5, slot_wait=0.5))
    try:
        with ThreadPoolExecutor(2) as pool:
            slow = [pool.submit(bridge.run_feed, name) for name in ("slow1", "slow2")]
            wait_until(lambda: {"/trickle1.rss", "/trickle2.rss"} <= set(site.seen))
            report = bridge.run_feed("good")
            for future in slow:
                future.result()
    finally:
        bridge.close()
    assert report.ok, report.lines
    assert report.busy
    assert "not polled this time: the website 127.0.0.1 was still busy" in report.lines[0]
    assert "/feed.rss" not in site.seen, site.seen
    from fedibridge.state import State

    state = State.open(load_settings(config).bridge.state_path)
    try:
        assert state.feed("good") is None  # no failure, no backoff recorded
    finally:
        state.close()


def test_the_daemon_polls_a_feed_left_by_its_busy_website_again_soon(
    tmp_path, site, mastodon, caplog
) -> None:
    """Issue 14: a feed whose first poll found its website's two slots taken (two feeds that
    hang) is polled again within about Timing.busy_retry, not an interval (15 minutes) later."""
    feeds = {
        "slow1": site.url("/trickle1.rss"),
        "slow2": site.url("/trickle2.rss"),
        "good": site.url("/feed.rss"),
    }
    config = many_feeds(tmp_path, feeds, mastodon)
    # First polls 2 s apart (plan.first_polls): the trickles hold both slots past the third
    # feed's wait for one, and end before its retry is due.
    timing = Timing(feed=8, slot_wait=1, busy_retry=6)
    caplog.set_level(logging.INFO, logger="fedibridge")
    stop = threading.Event()
    codes: list[int] = []
    daemon = threading.Thread(
        target=lambda: codes.append(run_daemon(load_settings(config), stop, timing=timing))
    )
    daemon.start()
    try:
        # Generous: the retry is due about 12 s after the start, the regular poll 15 min.
        wait_until(lambda: "/feed.rss" in site.seen, timeout=60)
    finally:
        stop.set()
        daemon.join(timeout=40)
    assert codes == [0]
    # The skipped poll asked nothing of the website; the retry asked once.
    assert site.seen == ["/trickle1.rss", "/trickle2.rss", "/feed.rss"]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("feed good:")]
    assert "was still busy" in skipped[0] and "; tried again in about" in skipped[0], skipped
    assert skipped[0].startswith("feed good: not polled this time")
    assert all(r.levelno == logging.INFO for r in caplog.records if "feed good:" in r.getMessage())


def test_a_trickling_picture_holds_up_no_other_feed_of_the_account(
    tmp_path, site, feed_server, mastodon
) -> None:
    picture_feed = feed_server.serve("/pictures.rss", rss(1))
    plain_feed = feed_server.serve("/plain.rss", rss(1))
    config = many_feeds(tmp_path, {"pictures": picture_feed, "plain": plain_feed}, mastodon)
    assert once(config) == 0  # first contact: the baseline
    feed_server.serve("/pictures.rss", with_picture(rss(1, 2), site.url("/trickle-picture.png")))
    feed_server.serve("/plain.rss", rss(1, 3))
    bridge = Bridge(load_settings(config), timing=Timing(picture=5))
    try:
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(bridge.run_feed, "pictures")
            wait_until(lambda: "/trickle-picture.png" in site.seen)
            pool.submit(bridge.run_feed, "plain").result()
            # The other feed of the account posted while the picture was still arriving.
            assert not slow.done()
            report = slow.result()
    finally:
        bridge.close()
    assert any("left out: it took longer than 5 seconds" in line for line in report.lines)
    contents = [status["content"] for status in mastodon.statuses()]
    assert len(contents) == 2 and "Event number 3" in contents[0]
    assert "Event number 2" in contents[1]  # posted, without its picture


def test_sigterm_ends_the_daemon_whatever_is_in_flight(tmp_path, site, mastodon) -> None:
    config = two_feeds(tmp_path, site.url("/trickle.rss"), site.url("/silent.rss"), mastodon)
    with Running(config) as daemon:
        daemon.wait_for("started")
        wait_until(lambda: {"/trickle.rss", "/silent.rss"} <= set(site.seen))
        assert daemon.stop() == 0  # Running.stop gives it 20 s, then kills it
    assert daemon.count("Traceback") == 0


# --- redirects and wording ------------------------------------------------------------------


def test_a_redirect_to_another_scheme_is_a_passing_problem(site, client) -> None:
    with pytest.raises(FeedUnavailable) as raised:
        get_feed(client, site.url("/gopher.rss"))
    assert not isinstance(raised.value, FeedGone)
    message = str(raised.value)
    assert "redirected to gopher://example.org/1/feed" in message
    assert "which fedibridge does not follow" in message


def test_an_html_page_sent_as_a_picture_is_called_so(site, client) -> None:
    with pytest.raises(ImageUnavailable, match="a web page \\(text/html\\)"):
        get_picture(client, site.url("/html-picture.png"))


# --- helpers ----------------------------------------------------------------------------------


def two_feeds(tmp_path: Path, first: str, second: str, mastodon: Mastodon) -> Path:
    return many_feeds(tmp_path, {"bomb": first, "good": second}, mastodon)


def many_feeds(tmp_path: Path, feeds: dict[str, str], mastodon: Mastodon) -> Path:
    config = write_config(tmp_path, "unused", mastodon.url)
    head = config.read_text().split("[feeds.events]")[0]
    lines = "".join(f'\n[feeds.{name}]\nurl = "{url}"\n' for name, url in feeds.items())
    config.write_text(head + textwrap.dedent(lines))
    return config


def with_picture(feed: bytes, picture_url: str) -> bytes:
    """The feed with a picture on its newest item."""
    enclosure = f'<enclosure url="{picture_url}" type="image/png" length="72"/></item>'
    return feed.replace(b"</item>", enclosure.encode(), 1)


def wait_until(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the website never saw the request"
        time.sleep(0.02)


# --- state problems ---------------------------------------------------------------------------


def run_once(
    config: Path, *, file_size_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "fedibridge", "--config", str(config), "once"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )


def test_a_state_folder_that_cannot_be_written_is_named_with_the_fix(
    tmp_path, feed_server, mastodon
) -> None:
    # The tests run as root, for whom chmod changes nothing, and mounting a read-only volume
    # needs privileges a test should not ask for: /sys is a folder nobody may create files in
    # (read-only in containers, EPERM elsewhere), as a read-only volume is.
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    config.write_text(
        config.read_text().replace(
            'state_path = "state/fedibridge.sqlite3"',
            'state_path = "/sys/fedibridge/fedibridge.sqlite3"',
        )
    )
    result = run_once(config)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "/sys/fedibridge/fedibridge.sqlite3" in result.stderr
    assert "read-only or belongs to another user" in result.stderr
    assert "bridge.state_path" in result.stderr


def test_a_damaged_state_file_is_named_with_the_fix(tmp_path, feed_server, mastodon) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "fedibridge.sqlite3").write_bytes(b"not a database at all" * 100)
    result = run_once(config)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "fedibridge.sqlite3 cannot be read" in result.stderr
    assert "Restore it from a backup" in result.stderr


def test_a_full_disk_stops_with_a_message_and_loses_nothing(
    tmp_path, feed_server, mastodon
) -> None:
    """A full disk is simulated with a file size limit (RLIMIT_FSIZE) on the `once` process:
    SQLite then fails to write exactly as on a full disk, without needing a small volume."""
    big = {"summary": "A long description. " * 1000}  # 20 KB an item
    first = feed_server.serve("/first.rss", rss(1, **big))
    second = feed_server.serve("/second.rss", rss(1, **big))
    config = many_feeds(tmp_path, {"first": first, "second": second}, mastodon)
    assert run_once(config).returncode == 0  # the baseline
    feed_server.serve("/first.rss", rss(1, 2, 3, 4, 5, **big))
    feed_server.serve("/second.rss", rss(1, 2, 3, 4, 5, **big))

    full = run_once(config, file_size_limit=64 * 1024)

    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "fedibridge.sqlite3 could not be written: the disk is full" in full.stderr
    assert "Free space" in full.stderr
    # Both feeds were still read, and nothing was half-recorded: nothing posted yet.
    assert len(feed_server.requests_to("/second.rss")) == 2
    assert mastodon.statuses() == []

    again = run_once(config)  # the space is back
    assert again.returncode == 0, again.stdout + again.stderr
    contents = [status["content"] for status in mastodon.statuses()]
    assert len(contents) == 8  # 4 new items per feed, each posted once


def test_a_full_disk_stops_the_daemon_with_exit_2(tmp_path, feed_server, mastodon) -> None:
    big = {"summary": "A long description. " * 1000}
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1, **big)), mastodon.url)
    assert run_once(config).returncode == 0  # the baseline
    feed_server.serve("/events.rss", rss(1, 2, 3, 4, 5, **big))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run(
        [sys.executable, "-m", "fedibridge", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
    )
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "could not be written: the disk is full" in result.stdout
    assert mastodon.statuses() == []


# --- the first round of polls -------------------------------------------------------------------


def test_many_feeds_are_all_first_polled_within_their_interval() -> None:
    websites = [f"library{n % 50}.example" for n in range(5000)]
    offsets = first_polls([60.0] * 5000, websites, random.Random(1).random)
    assert max(offsets) <= 60 * 1.1


def test_a_library_s_few_feeds_are_first_polled_within_seconds() -> None:
    one_website = first_polls([900.0, 900.0, 3600.0], ["a.example"] * 3, lambda: 0.5)
    assert one_website == [0.5, 2.5, 4.5]  # its feeds 2 s apart, in the config's order
    three = first_polls([900.0] * 3, ["a.example", "b.example", "c.example"], lambda: 0.5)
    assert three == [0.5, 1.5, 2.5]  # websites a second apart


def test_a_website_with_many_feeds_gets_them_spaced_for_its_slots() -> None:
    # 400 feeds of one catalogue listed together, then 9,600 on 24 other websites: each
    # website's feeds are 2 s apart (what its two request slots can serve), never in a run;
    # every feed is still due within the interval.
    websites = ["catalogue.example"] * 400 + [f"branch{n % 24}.example" for n in range(9600)]
    offsets = first_polls([900.0] * 10_000, websites, random.Random(3).random)
    mine = zip(offsets, websites, strict=True)
    catalogue = sorted(offset for offset, site in mine if site == websites[0])
    gaps = [later - earlier for earlier, later in itertools.pairwise(catalogue)]
    assert min(gaps) >= 2.0 - 1e-9
    assert max(offsets) < 900


def test_a_consortium_s_first_round_asks_no_faster_than_the_rounds_after_it() -> None:
    # bench/ websites-10000's layout: 5 websites with 400 feeds, 20 with 100, 6,000 with one,
    # listed together. Each website's feeds 2 s apart from the start made the first 200 s
    # ask 1.8 times as fast as every round after (so the daemon's busiest minutes came then).
    websites = [f"catalogue{n}.example" for n in range(5) for _ in range(400)]
    websites += [f"branch{n}.example" for n in range(20) for _ in range(100)]
    websites += [f"library{n}.example" for n in range(6000)]
    offsets = first_polls([900.0] * 10_000, websites, random.Random(5).random)

    per_10_s = Counter(int(offset // 10) for offset in offsets)
    steady = 10_000 / 900 * 10  # polls in 10 s once every feed comes once per interval
    assert max(per_10_s.values()) < 1.3 * steady
    assert max(offsets) < 900


# --- servers that answer oddly ----------------------------------------------------------------


def test_a_post_answered_without_a_status_id_is_reconciled_not_recorded(
    tmp_path, feed_server, mastodon, capsys
) -> None:
    with QuirkyProxy(mastodon.url, ignore_idempotency_key=True) as proxy:
        config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), proxy.url)
        assert once(config) == 0
        feed_server.serve("/events.rss", rss(1, 2))
        proxy.empty_answers_to_posts = 1
        assert once(config) == 1
        assert "without saying which post it made (no status id)" in capsys.readouterr().out
        assert entry_states(config) == {"id:event-1": "skipped", "id:event-2": "pending"}

        let_backoffs_expire(config)
        assert once(config) == 0
    assert "already on the account" in capsys.readouterr().out
    [status] = mastodon.statuses()
    assert stored_status_ids(config) == [str(status["id"])]


def test_an_edit_of_a_deleted_post_concerns_that_post_only(
    tmp_path, feed_server, mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    once(config)
    feed_server.serve("/events.rss", rss(1, 2))
    once(config)
    [status] = mastodon.statuses()
    mastodon.client.status_delete(status["id"])
    feed_server.serve("/events.rss", rss(1, 2).replace(b"Details of event 2.", b"Moved."))
    capsys.readouterr()

    assert once(config) == 1
    said = capsys.readouterr().out
    assert "is not on" in said and "cannot be corrected" in said
    assert "Mastodon API" not in said and "account main" not in said
    assert once(config) == 0  # asked once, not at every poll


def entry_states(config: Path) -> dict[str, str]:
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        return dict(db.execute("SELECT key, state FROM entries"))


def stored_status_ids(config: Path) -> list[str]:
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        return [
            row[0] for row in db.execute("SELECT status_id FROM entries WHERE status_id NOT NULL")
        ]


def test_a_slow_server_is_called_slow_not_down(site, monkeypatch) -> None:
    monkeypatch.setattr(mastodon_publish, "REQUEST_TIMEOUT", 0.5)
    with httpx.Client(timeout=5) as http:
        publisher = mastodon_publish.MastodonPublisher(
            site.url("/silent"), "a-token", user_agent="fedibridge-tests", http=http
        )
        with pytest.raises(ServerUnavailable) as raised:
            publisher.verify()
    assert "did not answer within 0.5 seconds" in str(raised.value)
    assert "down" not in str(raised.value)


def test_a_fediverse_server_answer_is_bounded_too(site, client) -> None:
    # Every reader of the bridge's client gets answers inflated with a bound: here the
    # server's limits, read before posting.
    for bomb in ("/bomb-gzip-gzip", "/bomb-gzip"):
        with pytest.raises(ServerUnavailable, match="to read its limits"):
            read_limits(client, site.url(bomb))


def test_sigterm_while_the_server_does_not_answer_a_post_exits_0_in_time(
    tmp_path, feed_server, mastodon
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1, 2)), mastodon.url)
    assert once(config) == 0  # the baseline
    feed_server.serve("/events.rss", rss(1, 2, 3))
    mastodon.fault("/api/v1/statuses", type="latency", delay_ms=60_000)
    with Running(config) as daemon:
        daemon.wait_for("started")
        wait_until(lambda: attempted(config))  # the post is in flight, and stays so
        assert daemon.stop(timeout=30) == 0  # the promise to staff: within 30 s
    assert daemon.count("stopping now: 1 polls did not end within 20 seconds") == 1
    assert daemon.count("Traceback") == 0


def attempted(config: Path) -> bool:
    with sqlite3.connect(config.parent / "state" / "fedibridge.sqlite3") as db:
        return bool(db.execute("SELECT 1 FROM entries WHERE attempts > 0").fetchone())


# --- the fediverse server's own answers, read by Mastodon.py -----------------------------------


def gzipped(data: bytes, times: int) -> bytes:
    import gzip

    for _ in range(times):
        data = gzip.compress(data, compresslevel=9)
    return data


@pytest.mark.parametrize(
    ("coding", "body", "said"),
    [
        ("gzip, gzip", gzipped(b"\0" * 200_000_000, 2), "compressed 2 times over"),
        ("gzip", gzipped(b"\0" * 40 * 1024 * 1024, 1), "larger than 32 MB"),
    ],
    ids=["stacked", "single"],
)
def test_a_bomb_from_the_fediverse_server_is_refused_unread(
    coding: str, body: bytes, said: str
) -> None:
    from fedibridge.publish.detect import DetectingPublisher
    from tests.fake_servers import GOTOSOCIAL, TOKEN, Answer, FakeMastodonAPI

    with FakeMastodonAPI(GOTOSOCIAL) as fake, httpx.Client() as http:
        publisher = DetectingPublisher(fake.url, TOKEN, user_agent="t", http=http)
        publisher.verify()
        bomb = Answer(200, body, headers={"Content-Encoding": coding})
        fake.fail("/api/v1/accounts/verify_credentials", bomb)
        with pytest.raises(ServerUnavailable, match=f"would not read: it .*{said}"):
            publisher.verify()
