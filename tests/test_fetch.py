"""fetch: against a real HTTP server on loopback, raw sockets for misbehaving servers."""

from __future__ import annotations

import gzip
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from fedibridge import __version__
from fedibridge.errors import FeedGone, FeedUnavailable, NotAFeed
from fedibridge.fetch import fetch, make_client, parse_retry_after, user_agent
from fedibridge.models import Validators
from fedibridge.transfer import Deadline
from tests.conftest import REAL_FEEDS
from tests.feedserver import FeedServer

FEED = (REAL_FEEDS / "library--chattanooga-booksforcha-feed.xml").read_bytes()
CONTACT = "https://library.example/about-our-bot"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(CONTACT, timeout=5.0) as client:
        yield client


# ---- conditional GET ------------------------------------------------------------------------


def test_first_fetch_returns_the_feed_and_its_validators(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", FEED)

    fetched = fetch(client, url, Validators())

    assert fetched.body == FEED
    assert fetched.url == url
    assert fetched.content_type == "application/rss+xml; charset=utf-8"
    assert fetched.moved_to is None
    assert fetched.validators.etag
    assert fetched.validators.last_modified == "Tue, 14 Nov 2023 22:13:20 GMT"
    sent = feed_server.requests_to("/feed.xml")[0].headers
    assert "if-none-match" not in sent
    assert "if-modified-since" not in sent


def test_an_unchanged_feed_is_not_downloaded_again(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", FEED)
    first = fetch(client, url, Validators())

    second = fetch(client, url, first.validators)

    assert second.not_modified
    assert second.body is None
    assert second.validators == first.validators
    sent = feed_server.requests_to("/feed.xml")[1].headers
    assert sent["if-none-match"] == first.validators.etag
    assert sent["if-modified-since"] == first.validators.last_modified


def test_last_modified_alone_makes_the_request_conditional(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", FEED)
    first = fetch(client, url, Validators())

    second = fetch(client, url, Validators(last_modified=first.validators.last_modified))

    assert second.not_modified
    sent = feed_server.requests_to("/feed.xml")[1].headers
    assert "if-none-match" not in sent
    assert sent["if-modified-since"] == first.validators.last_modified
    # The 304 carried an ETag: keep it for next time, along with the old Last-Modified.
    assert second.validators == first.validators


def test_a_changed_feed_is_downloaded_with_its_new_validators(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", FEED)
    first = fetch(client, url, Validators())
    feed_server.serve("/feed.xml", FEED.replace(b"Cool", b"Warm"))

    second = fetch(client, url, first.validators)

    assert second.body is not None
    assert b"Warm" in second.body
    assert second.validators.etag != first.validators.etag


def test_validators_the_server_stopped_sending_are_forgotten(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", FEED, conditional=False)

    fetched = fetch(client, url, Validators(etag='"old"', last_modified="yesterday"))

    assert fetched.body == FEED
    assert fetched.validators == Validators()


# ---- size cap -------------------------------------------------------------------------------


def test_a_feed_larger_than_the_cap_is_refused(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/huge.xml", b"x" * (1024 * 1024 + 1))

    with pytest.raises(NotAFeed) as raised:
        fetch(client, url, Validators(), max_bytes=1024 * 1024)

    assert str(raised.value).startswith(f"The feed at {url} is larger than 1 MB;")


def test_a_feed_exactly_at_the_cap_is_fine(feed_server: FeedServer, client: httpx.Client) -> None:
    url = feed_server.serve("/feed.xml", FEED)

    assert fetch(client, url, Validators(), max_bytes=len(FEED)).body == FEED


def test_the_cap_counts_decompressed_bytes(feed_server: FeedServer, client: httpx.Client) -> None:
    bomb = gzip.compress(b" " * 200_000)
    url = feed_server.serve("/bomb.xml", bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(NotAFeed, match=r"larger than 97\.6562 KB"):
        fetch(client, url, Validators(), max_bytes=100_000)


def test_a_compressed_feed_is_decompressed(feed_server: FeedServer, client: httpx.Client) -> None:
    url = feed_server.serve("/feed.xml", gzip.compress(FEED), headers={"Content-Encoding": "gzip"})

    assert fetch(client, url, Validators()).body == FEED


# ---- HTTP status ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_a_missing_feed_is_gone(feed_server: FeedServer, client: httpx.Client, status: int) -> None:
    url = feed_server.serve("/feed.xml", b"no", status=status, conditional=False)

    with pytest.raises(FeedGone) as raised:
        fetch(client, url, Validators())

    assert url in str(raised.value)
    assert str(status) in str(raised.value)


def test_an_unknown_path_is_gone(feed_server: FeedServer, client: httpx.Client) -> None:
    with pytest.raises(FeedGone):
        fetch(client, feed_server.url("/nothing-here"), Validators())


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_temporary(
    feed_server: FeedServer, client: httpx.Client, status: int
) -> None:
    url = feed_server.serve("/feed.xml", b"oops", status=status, conditional=False)

    with pytest.raises(FeedUnavailable) as raised:
        fetch(client, url, Validators())

    assert raised.value.retry_after is None
    assert f"HTTP {status}" in str(raised.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(
    feed_server: FeedServer, client: httpx.Client, status: int
) -> None:
    url = feed_server.serve(
        "/feed.xml", b"", status=status, conditional=False, headers={"Retry-After": "120"}
    )

    with pytest.raises(FeedUnavailable) as raised:
        fetch(client, url, Validators())

    assert raised.value.retry_after == 120.0
    assert "120 seconds" in str(raised.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_honoured(
    feed_server: FeedServer, client: httpx.Client, status: int
) -> None:
    later = formatdate(time.time() + 600, usegmt=True)
    url = feed_server.serve(
        "/feed.xml", b"", status=status, conditional=False, headers={"Retry-After": later}
    )

    with pytest.raises(FeedUnavailable) as raised:
        fetch(client, url, Validators())

    assert raised.value.retry_after is not None
    assert 590 <= raised.value.retry_after <= 600


@pytest.mark.parametrize("header", [None, "soon", "-5", "1.5"])
def test_a_missing_or_unreadable_retry_after_is_none(
    feed_server: FeedServer, client: httpx.Client, header: str | None
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    url = feed_server.serve("/feed.xml", b"", status=429, conditional=False, headers=headers)

    with pytest.raises(FeedUnavailable) as raised:
        fetch(client, url, Validators())

    assert raised.value.retry_after is None


@pytest.mark.parametrize("status", [401, 403])
def test_refused_access_is_explained(
    feed_server: FeedServer, client: httpx.Client, status: int
) -> None:
    url = feed_server.serve("/feed.xml", b"", status=status, conditional=False)

    with pytest.raises(FeedUnavailable, match="refuses fedibridge access"):
        fetch(client, url, Validators())


def test_an_unexpected_client_error_is_temporary(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", b"", status=400, conditional=False)

    with pytest.raises(FeedUnavailable, match="HTTP 400"):
        fetch(client, url, Validators())


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Wed, 01 May 2024 12:02:00 GMT", now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after(formatdate((now + timedelta(hours=1)).timestamp()), now) == 3600
    assert parse_retry_after("", now) is None
    assert parse_retry_after("in a minute", now) is None
    assert parse_retry_after(None, now) is None


# ---- redirects ------------------------------------------------------------------------------


def redirect(server: FeedServer, path: str, status: int, to: str) -> str:
    return server.serve(path, b"", status=status, conditional=False, headers={"Location": to})


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_reports_where_the_feed_moved(
    feed_server: FeedServer, client: httpx.Client, status: int
) -> None:
    new = feed_server.serve("/new.xml", FEED)
    old = redirect(feed_server, "/old.xml", status, new)

    fetched = fetch(client, old, Validators())

    assert fetched.body == FEED
    assert fetched.url == new
    assert fetched.moved_to == new


@pytest.mark.parametrize("status", [302, 303, 307])
def test_a_temporary_redirect_is_followed_without_a_move(
    feed_server: FeedServer, client: httpx.Client, status: int
) -> None:
    new = feed_server.serve("/today.xml", FEED)
    old = redirect(feed_server, "/feed.xml", status, new)

    fetched = fetch(client, old, Validators())

    assert fetched.body == FEED
    assert fetched.url == new
    assert fetched.moved_to is None


def test_a_move_ends_where_the_permanent_redirects_end(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    today = feed_server.serve("/today.xml", FEED)
    moved = redirect(feed_server, "/moved.xml", 302, today)
    old = redirect(feed_server, "/old.xml", 301, moved)

    assert fetch(client, old, Validators()).moved_to == moved


def test_a_temporary_redirect_first_means_no_move(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    final = feed_server.serve("/final.xml", FEED)
    middle = redirect(feed_server, "/middle.xml", 301, final)
    start = redirect(feed_server, "/start.xml", 302, middle)

    assert fetch(client, start, Validators()).moved_to is None


def test_a_redirect_to_nowhere_names_both_addresses(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    old = redirect(feed_server, "/old.xml", 301, feed_server.url("/missing.xml"))

    with pytest.raises(FeedGone) as raised:
        fetch(client, old, Validators())

    assert f"{old} (redirected to {feed_server.url('/missing.xml')})" in str(raised.value)


def test_a_redirect_loop_is_temporary_trouble(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    loop = redirect(feed_server, "/loop.xml", 302, feed_server.url("/loop.xml"))

    with pytest.raises(FeedUnavailable, match="redirected more than 20 times"):
        fetch(client, loop, Validators())


# ---- who we are -----------------------------------------------------------------------------


def test_the_user_agent_names_fedibridge_and_the_contact(
    feed_server: FeedServer, client: httpx.Client
) -> None:
    url = feed_server.serve("/feed.xml", FEED)

    fetch(client, url, Validators())

    agent = feed_server.requests_to("/feed.xml")[0].headers["user-agent"]
    assert agent == f"fedibridge/{__version__} (+{CONTACT})"


def test_the_user_agent_without_a_contact() -> None:
    assert user_agent(None) == f"fedibridge/{__version__}"
    assert user_agent("  ") == f"fedibridge/{__version__}"


def test_feeds_are_asked_for_first(feed_server: FeedServer, client: httpx.Client) -> None:
    url = feed_server.serve("/feed.xml", FEED)

    fetch(client, url, Validators())

    assert (
        feed_server.requests_to("/feed.xml")[0].headers["accept"].startswith("application/rss+xml")
    )


# ---- network trouble ------------------------------------------------------------------------


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections (the kernel does, from the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@contextmanager
def hanging_up_server() -> Iterator[int]:
    """Accepts each connection, reads the request and closes without a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = sock.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_connection_refused_is_temporary(client: httpx.Client) -> None:
    with closed_port() as port, pytest.raises(FeedUnavailable) as raised:
        fetch(client, f"http://127.0.0.1:{port}/feed.xml", Validators())

    message = str(raised.value)
    assert f"http://127.0.0.1:{port}/feed.xml" in message
    assert "could not connect" in message
    assert "Traceback" not in message


def test_a_server_that_never_answers_times_out() -> None:
    with (
        silent_server() as port,
        make_client(None) as impatient,
        pytest.raises(FeedUnavailable, match=r"took (too long to answer|longer than 0.3 seconds)"),
    ):
        fetch(impatient, f"http://127.0.0.1:{port}/feed.xml", Validators(), deadline=Deadline(0.3))


def test_a_server_that_hangs_up_is_temporary(client: httpx.Client) -> None:
    with hanging_up_server() as port, pytest.raises(FeedUnavailable, match="broke off"):
        fetch(client, f"http://127.0.0.1:{port}/feed.xml", Validators())


def failing_client(error: Exception) -> httpx.Client:
    """A client whose transport fails the way a real one does, without touching the network."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(str(error), request=request) from error

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "name could not be found (DNS)"),
        (ssl.SSLCertVerificationError("certificate has expired"), "certificate"),
    ],
)
def test_name_and_certificate_failures_are_told_apart(cause: Exception, words: str) -> None:
    with failing_client(cause) as client, pytest.raises(FeedUnavailable) as raised:
        fetch(client, "https://library.example/feed.xml", Validators())

    assert words in str(raised.value)
    assert "https://library.example/feed.xml" in str(raised.value)


@pytest.mark.parametrize("url", ["ftp://library.example/feed.xml", "http://[::1"])
def test_an_address_fedibridge_cannot_use_is_gone(client: httpx.Client, url: str) -> None:
    with pytest.raises(FeedGone, match="must start with https://"):
        fetch(client, url, Validators())


# ---- local files ----------------------------------------------------------------------------


def test_a_local_file_is_read_and_then_not_modified(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)

    first = fetch(client, str(path), Validators())
    second = fetch(client, str(path), first.validators)

    assert first.body == FEED
    assert first.validators.etag
    assert second.not_modified
    assert second.validators == first.validators


def test_a_changed_local_file_is_read_again(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = fetch(client, str(path), Validators())
    path.write_bytes(FEED.replace(b"Cool", b"Warm"))  # same size: the mtime must tell
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    second = fetch(client, str(path), first.validators)

    assert second.body is not None
    assert b"Warm" in second.body


def test_a_file_url_works_too(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "my feeds" / "feed.xml"
    path.parent.mkdir()
    path.write_bytes(FEED)

    assert fetch(client, path.as_uri(), Validators()).body == FEED


def test_a_missing_local_file_is_gone(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "nope.xml"

    with pytest.raises(FeedGone, match=f"There is no feed file at {path}"):
        fetch(client, str(path), Validators())


def test_a_folder_is_not_a_feed_file(client: httpx.Client, tmp_path: Path) -> None:
    with pytest.raises(FeedGone, match="is a folder"):
        fetch(client, str(tmp_path), Validators())


def test_a_local_file_has_the_same_size_cap(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)

    with pytest.raises(NotAFeed, match="larger than 100 bytes"):
        fetch(client, str(path), Validators(), max_bytes=100)


# --- addresses from feed content stay out of private networks ----------------------------------


def test_a_redirect_to_another_host_inside_the_network_is_refused(feed_server: FeedServer) -> None:
    # 127.0.0.1 is what staff configured (trusted); "localhost" is another host name, chosen by
    # the website's redirect, and it resolves to loopback.
    target = feed_server.serve("/real.rss", FEED)
    elsewhere = target.replace("127.0.0.1", "localhost")
    url = feed_server.serve("/hop", b"", status=302, headers={"Location": elsewhere})
    with make_client(None) as client:
        with pytest.raises(FeedUnavailable, match="private network") as caught:
            fetch(client, url, Validators())
        assert "allow_private_network" in str(caught.value)
        assert fetch(client, url, Validators(), allow_private_network=True).body == FEED


def test_a_redirect_on_the_configured_host_is_followed(feed_server: FeedServer) -> None:
    target = feed_server.serve("/real.rss", FEED)
    url = feed_server.serve("/hop", b"", status=302, headers={"Location": target})
    with make_client(None) as client:
        assert fetch(client, url, Validators()).body == FEED


def test_freshness_comes_from_max_age_or_expires() -> None:
    import httpx

    from fedibridge.fetch import fresh_for

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    in_an_hour = "Thu, 26 Nov 2026 13:00:00 GMT"
    assert fresh_for(httpx.Headers({"Cache-Control": "public, max-age=600"}), now) == 600
    assert fresh_for(httpx.Headers({"Expires": in_an_hour}), now) == 3600
    assert (
        fresh_for(httpx.Headers({"Cache-Control": "no-cache", "Expires": in_an_hour}), now) is None
    )
    assert fresh_for(httpx.Headers({}), now) is None
