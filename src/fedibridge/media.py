"""Fetch an item's picture so it can be uploaded with its description.

Image URLs come from the feed, not from staff, so every one passes the private-network guard
(unless the feed allows it). Downloads are capped by the server's own size limit and must be
a picture type the server accepts: anything else is left out of the post, never the item.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from fedibridge.errors import FedibridgeError
from fedibridge.fetch import network_problem
from fedibridge.models import Image, ServerLimits
from fedibridge.netguard import Guard, PrivateAddressRefused
from fedibridge.transfer import (
    AnswerRefused,
    Deadline,
    Timing,
    TooLarge,
    TransferFailed,
    read_body,
)

# The picture formats servers accept, recognised by their first bytes: a website's
# Content-Type header is often missing or wrong ("application/octet-stream").
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class ImageUnavailable(FedibridgeError):
    """This picture cannot be attached; the item is posted without it."""


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    mime_type: str


def download(
    client: httpx.Client,
    url: str,
    limits: ServerLimits,
    *,
    trusted_host: str | None,
    allow_private_network: bool,
    deadline: Deadline | None = None,
) -> Picture:
    """The picture's bytes and type. Raises ImageUnavailable with a plain reason.
    ``trusted_host`` is the configured feed's: pictures on the library's own site are fine."""
    guard = Guard(trusted_host=trusted_host, allow_private_network=allow_private_network)
    deadline = deadline or Deadline(Timing().picture)
    try:
        with (
            deadline,
            client.stream(
                "GET", url, extensions=guard.extensions() | deadline.extensions()
            ) as response,
        ):
            if response.status_code != 200:
                raise ImageUnavailable(f"the website answered HTTP {response.status_code}")
            _refuse_declared_size(response, limits.image_size_limit)
            data = read_body(response, limits.image_size_limit, deadline)
            declared = response.headers.get("Content-Type")
    except PrivateAddressRefused as error:
        raise ImageUnavailable(str(error)) from None
    except TooLarge as error:
        limit = _mb(error.limit)
        raise ImageUnavailable(f"it is larger than the server accepts ({limit})") from None
    except TransferFailed as error:
        raise ImageUnavailable(f"it {error}") from None
    except AnswerRefused as error:
        raise ImageUnavailable(f"it {error.reason}") from None
    except httpx.HTTPError as error:
        if (failure := deadline.failure()) is not None:
            raise ImageUnavailable(f"it {failure}") from None
        raise ImageUnavailable(f"it could not be downloaded ({network_problem(error)})") from None
    mime_type = sniff(data)
    if mime_type is None:
        raise ImageUnavailable(f"it is not a picture ({_what_it_is(declared)})")
    if mime_type not in limits.image_types:
        raise ImageUnavailable(f"the server does not accept {mime_type} pictures")
    return Picture(data, mime_type)


def _what_it_is(content_type: str | None) -> str:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if not kind:
        return "the website sent something else, without saying what"
    if kind.startswith("text/html"):
        return "the website sent a web page (text/html) instead"
    return f"the website sent {kind}"


PAGE_LIMIT = 1024 * 1024  # an article page's <head> comes first; a megabyte is plenty


def page_picture(
    client: httpx.Client,
    page_url: str,
    *,
    trusted_host: str | None,
    allow_private_network: bool,
    deadline: Deadline | None = None,
) -> Image | None:
    """The picture a web page announces for sharing (og:image, with og:image:alt), or None.
    Any trouble means no picture: this is a nicety, never a reason to hold back an item."""
    guard = Guard(trusted_host=trusted_host, allow_private_network=allow_private_network)
    deadline = deadline or Deadline(Timing().page)
    try:
        with (
            deadline,
            client.stream(
                "GET", page_url, extensions=guard.extensions() | deadline.extensions()
            ) as response,
        ):
            if response.status_code != 200:
                return None
            html = _page_head(response, deadline)
    except (httpx.HTTPError, PrivateAddressRefused, TransferFailed):
        return None
    finder = _OpenGraph()
    finder.feed(html)
    finder.close()
    image = finder.properties.get("og:image") or finder.properties.get("og:image:url")
    if not image:
        return None
    return Image(urljoin(str(response.url), image), finder.properties.get("og:image:alt", ""))


class _OpenGraph(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.properties: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta":
            return
        values = {name: value or "" for name, value in attrs}
        name = values.get("property") or values.get("name") or ""
        if name.startswith("og:image") and name not in self.properties:
            self.properties[name] = values.get("content", "").strip()


def sniff(data: bytes) -> str | None:
    for signature, mime_type in _SIGNATURES:
        if data.startswith(signature):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _refuse_declared_size(response: httpx.Response, limit: int) -> None:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)


def _page_head(response: httpx.Response, deadline: Deadline) -> str:
    """The page's first PAGE_LIMIT bytes, as text: the og: tags are in its <head>."""
    try:
        data = read_body(response, PAGE_LIMIT, deadline)
    except TooLarge:
        return ""
    return data.decode(response.encoding or "utf-8", "replace")


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"
