"""The one place where feed bytes come from the network (or from a local file).

Every poll is a conditional GET, every body is capped, and every failure leaves here as one
of the kinds in ``errors`` with a message library staff can act on.
"""

from __future__ import annotations

import itertools
import os
import socket
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from fedibridge import __version__
from fedibridge.errors import FeedError, FeedGone, FeedUnavailable, NotAFeed
from fedibridge.models import Fetched, Validators
from fedibridge.netguard import Guard, PrivateAddressRefused, check_request
from fedibridge.transfer import (
    ACCEPT_ENCODING,
    CONNECT_TIMEOUT,
    AnswerRefused,
    BoundedTransport,
    Deadline,
    Timing,
    TooLarge,
    TransferFailed,
    read_body,
    size_text,
)

USER_AGENT_TEMPLATE = "fedibridge/{version} (+{contact})"
"""The User-Agent names the software and, when configured, how the website can reach us."""

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# Feeds first, but take whatever the server has: some send feeds as text/html.
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, text/calendar, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.9, */*;q=0.8"
)
_PERMANENT_REDIRECTS = frozenset({301, 308})


def user_agent(contact: str | None) -> str:
    if contact and contact.strip():
        return USER_AGENT_TEMPLATE.format(version=__version__, contact=contact.strip())
    return f"fedibridge/{__version__}"


def make_client(contact: str | None, timeout: float = 30.0) -> httpx.Client:
    """An HTTP client for feeds: follows redirects, gives up on silent servers, says who it is."""
    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
        headers={
            "User-Agent": user_agent(contact),
            "Accept": _ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        event_hooks={"request": [check_request]},
        # Answers are inflated by fedibridge, bounded, for every reader of this client.
        transport=BoundedTransport(httpx.HTTPTransport()),
    )


def fetch(
    client: httpx.Client,
    url: str,
    validators: Validators,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private_network: bool = False,
    deadline: Deadline | None = None,
) -> Fetched:
    """Fetch a feed unless it is unchanged since ``validators`` were given, within
    ``deadline`` (``Timing().feed`` seconds from now if not given).

    Raises ``FeedGone``, ``FeedUnavailable`` or ``NotAFeed`` (too large); nothing else.
    """
    deadline = deadline or Deadline(Timing().feed)
    try:
        path = _local_path(url)
    except ValueError as error:  # urlsplit: "http://[::1" and the like
        raise FeedGone(_bad_address(url), permanent=True) from error
    if path is not None:
        return _fetch_file(url, path, validators, max_bytes)
    # The configured address is trusted; a redirect to another host is not.
    guard = Guard(urlsplit(url).hostname, allow_private_network)
    try:
        with (
            deadline,
            client.stream(
                "GET",
                url,
                headers=_conditional_headers(validators),
                extensions=guard.extensions() | deadline.extensions(),
            ) as response,
        ):
            problem = status_error(response, url)
            if problem is not None:
                raise problem
            return _fetched(response, validators, max_bytes, url, deadline)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        elsewhere = _redirected_to(error, url)
        if elsewhere is not None:
            # The website's doing, maybe for a moment: the configured address may still be right.
            raise FeedUnavailable(
                f"The feed at {url} redirected to {elsewhere}, which fedibridge does not follow "
                "(only http:// and https:// addresses). fedibridge will try again later; if it "
                "lasts, ask the website's administrator, or find the feed's address on the site."
            ) from None
        # Retrying cannot help: the address itself is wrong.
        raise FeedGone(_bad_address(url), permanent=True) from error
    except TransferFailed as error:
        raise _transfer_failed(url, error) from None
    except AnswerRefused as error:
        raise FeedUnavailable(
            f"The feed at {url} {error.reason}. fedibridge will try again later."
        ) from None
    except httpx.RequestError as error:
        failure = deadline.failure()  # the deadline's cut shows as a broken connection
        if failure is not None:
            raise _transfer_failed(url, failure) from None
        raise FeedUnavailable(_network_message(url, error)) from error
    except PrivateAddressRefused as error:
        raise FeedUnavailable(f"The feed at {url} redirects elsewhere: {error}") from None


def status_error(response: httpx.Response, url: str) -> FeedError | None:
    """The one mapping from an HTTP status to what happens next; None when there is a feed
    (2xx) or it is unchanged (304)."""
    status = response.status_code
    if 200 <= status < 300 or status == 304:
        return None
    where = _where(url, response)
    if status in (404, 410):
        return FeedGone(
            f"There is no feed at {where} (the website answered {status}, "
            f"{'gone for good' if status == 410 else 'not found'}). Check the feed's address in "
            "the configuration; if the website was reorganised, find the feed's new address on "
            "the site and put it there.",
            permanent=status == 410,
        )
    if status in (401, 403):
        return FeedUnavailable(
            f"The website refuses fedibridge access to {where} (HTTP {status}). If the feed needs "
            "a login or the site blocks automated readers, ask the website's administrator to "
            "let fedibridge in (its User-Agent starts with 'fedibridge/'). Trying again later."
        )
    retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    if status == 429:
        return FeedUnavailable(
            f"The website asks fedibridge to slow down for {where} (HTTP 429, too many "
            f"requests{_wait_hint(retry_after)}). fedibridge will try again later; if this keeps "
            "happening, poll this feed less often.",
            retry_after=retry_after,
        )
    if status >= 500:
        return FeedUnavailable(
            f"The website at {where} {_server_trouble(status)} (HTTP {status}"
            f"{_wait_hint(retry_after)}). This is usually temporary; fedibridge will try again "
            "later. If it lasts for days, tell the website's administrator.",
            retry_after=retry_after,
        )
    return FeedUnavailable(
        f"The website answered {where} with HTTP {status} ({response.reason_phrase}), which "
        "fedibridge did not expect; it will try again later. Check that the address in the "
        "configuration is the feed's own address.",
        retry_after=retry_after,
    )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None if the
    header is absent or unreadable. A date in the past means "now" (0)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" in an HTTP date means UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# ---- HTTP ----------------------------------------------------------------------------------


def _conditional_headers(validators: Validators) -> dict[str, str]:
    # httpx can only send ASCII header values; a stray non-ASCII validator would otherwise
    # make every later poll of the feed fail.
    headers = {
        "If-None-Match": validators.etag,
        "If-Modified-Since": validators.last_modified,
    }
    return {name: value for name, value in headers.items() if value and value.isascii()}


def _transfer_failed(url: str, error: TransferFailed) -> FeedError:
    if isinstance(error, TooLarge):
        return NotAFeed(_too_large(f"The feed at {url}", error.limit))
    return FeedUnavailable(f"The feed at {url} {error}. fedibridge will try again later.")


def _redirected_to(error: Exception, url: str) -> str | None:
    """Where a redirect led, when the refused address is not the configured one."""
    if not isinstance(error, httpx.RequestError):
        return None
    try:
        target = str(error.request.url)
    except RuntimeError:  # no request attached
        return None
    return target if target != url else None


def _fetched(
    response: httpx.Response, validators: Validators, max_bytes: int, url: str, deadline: Deadline
) -> Fetched:
    if response.status_code == 304:
        # Read the (empty) body: httpx returns a connection to its pool only after the answer
        # was read to its end, so otherwise every 304 costs a new connection and, on HTTPS, a
        # new TLS handshake (bench/: -37 % CPU per unchanged feed when feeds share a host).
        read_body(response, max_bytes, deadline)
        # A 304 may carry fresh validators; whatever it leaves out stays as it was.
        body = None
        validators = Validators(
            etag=response.headers.get("ETag") or validators.etag,
            last_modified=response.headers.get("Last-Modified") or validators.last_modified,
        )
    else:
        # Inflated here, one layer at most, the cap counting inflated bytes: a small gzip bomb
        # fails as early as a large plain body, and never fills the memory.
        body = read_body(response, max_bytes, deadline)
        # Only what this answer says: a server that stopped sending a validator must not be
        # asked with the stale one.
        validators = Validators(
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )
    return Fetched(
        url=str(response.url),
        body=body,
        validators=validators,
        content_type=response.headers.get("Content-Type"),
        moved_to=_moved_to(response),
        fresh_for=fresh_for(response.headers, datetime.now(UTC)),
    )


def fresh_for(headers: httpx.Headers, now: datetime) -> float | None:
    """Seconds the answer stays fresh by Cache-Control max-age (else Expires); None if the
    website says nothing, or says not to cache (which is no request to poll less)."""
    cache_control = headers.get("Cache-Control", "").lower()
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name == "max-age" and value.strip('"').isdigit():
            return float(value.strip('"'))
    expires = headers.get("Expires")
    if expires is None or "no-cache" in cache_control or "no-store" in cache_control:
        return None
    seconds = parse_retry_after(expires, now)
    return seconds or None


def _moved_to(response: httpx.Response) -> str | None:
    """Where the leading run of permanent redirects (301/308) ends: the address to put in the
    configuration. A temporary redirect before it means the configured address is still right."""
    target = None
    hops = [*response.history, response]
    for hop, following in itertools.pairwise(hops):
        if hop.status_code not in _PERMANENT_REDIRECTS:
            break
        target = str(following.url)
    return target


def _where(url: str, response: httpx.Response) -> str:
    return f"{url} (redirected to {response.url})" if response.history else url


def _server_trouble(status: int) -> str:
    if status == 503:
        return "is unavailable for now, often for maintenance"
    if status in (502, 504):
        return "could not reach its own server in time"
    return "had an internal problem"


def _wait_hint(retry_after: float | None) -> str:
    return "" if retry_after is None else f"; it asks to wait {round(retry_after)} seconds"


def _network_message(url: str, error: httpx.RequestError) -> str:
    return (
        f"Could not fetch {url}: {network_problem(error)}. This is usually temporary; "
        "fedibridge will try again later. If it lasts, check that the address in the "
        "configuration opens in a web browser."
    )


def network_problem(error: httpx.HTTPError) -> str:
    """What went wrong, in words, from the exception's kind and what caused it."""
    if isinstance(error, httpx.ConnectTimeout):
        return "the website did not accept a connection in time (timeout)"
    if isinstance(error, httpx.TimeoutException):
        return "the website took too long to answer (timeout)"
    if _caused_by(error, socket.gaierror):
        return "the website's name could not be found (DNS); check the address for typos"
    if _caused_by(error, ssl.SSLError):
        return "the secure connection failed (the website's certificate may be expired or wrong)"
    if isinstance(error, httpx.ConnectError):
        return "could not connect to the website (connection refused or network unreachable)"
    if isinstance(error, httpx.TooManyRedirects):
        return (
            "the website redirected more than 20 times (a redirect loop, or a chain too long "
            "to follow)"
        )
    if isinstance(error, httpx.DecodingError):
        return "the website sent a damaged compressed answer"
    if isinstance(error, httpx.ProxyError):
        return "the proxy server refused the connection"
    if isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError):
        return "the connection broke off before the feed was complete"
    return "a network error occurred"


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _bad_address(url: str) -> str:
    return (
        f"{url!r} is not a feed address fedibridge can use: it must start with https:// or "
        "http://, or be the path of a local file. Correct the feed's address in the configuration."
    )


# ---- local files ---------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    """A path for ``file://…`` or a bare path (the example configuration uses one), else None."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "":
        return Path(url)
    return None


def _fetch_file(url: str, path: Path, validators: Validators, max_bytes: int) -> Fetched:
    """Read a local feed file, "not modified" while its modification time and size stay put."""
    try:
        with path.open("rb") as file:
            # fstat on the open file, not stat on the path: the etag describes what is read.
            status = os.fstat(file.fileno())
            etag = f'"{status.st_mtime_ns:x}-{status.st_size:x}"'
            if validators.etag == etag:
                return Fetched(url=url, body=None, validators=validators)
            body = file.read(max_bytes + 1)
    except FileNotFoundError as error:
        raise FeedGone(
            f"There is no feed file at {path}. Check the feed's address in the configuration."
        ) from error
    except IsADirectoryError as error:
        raise FeedGone(
            f"{path} is a folder, not a feed file. Name the feed file itself."
        ) from error
    except OSError as error:
        raise FeedUnavailable(
            f"Could not read the feed file {path} ({error.strerror or 'unknown error'}). Check "
            "that the file exists and that fedibridge may read it."
        ) from error
    if len(body) > max_bytes:
        raise NotAFeed(_too_large(f"The feed file {path}", max_bytes))
    return Fetched(url=url, body=body, validators=Validators(etag=etag))


def _too_large(what: str, max_bytes: int) -> str:
    return (
        f"{what} is larger than {size_text(max_bytes)}; fedibridge stopped reading it. A feed "
        "this large is usually a mistake: have fewer items published in it (most websites "
        "have a setting for the number of items in a feed)."
    )
