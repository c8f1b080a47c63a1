"""JSON Feed 1.0 and 1.1 bytes → ``ParsedFeed``, with the same entries RSS would give. Pure.

``parse.parse_feed`` hands a document here when it looks like JSON. Real JSON Feeds are not
always valid JSON or valid JSON Feed (FACTS-events.md §4): a byte-order mark, a raw control
character inside a string, RFC 822 dates instead of RFC 3339, dates without seconds or offset,
a ``version`` that is not a URL, items without ``id``. All of those are read.

Items are keyed like RSS items (``parse.entry_key``: id, else link, else a hash of the text),
so filters, corrections and pictures work the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from fedibridge.errors import NotAFeed
from fedibridge.languages import normalise_language
from fedibridge.models import Entry, Image, ParsedFeed
from fedibridge.parse import (
    _absolute_http,
    _Candidate,
    _first_html_image,
    _shortened,
    _unique_entries,
    entry_key,
)
from fedibridge.urls import strip_tracking

__all__ = ["looks_like_json", "parse_json_feed"]

_Object = Mapping[str, Any]


def looks_like_json(body: bytes) -> bool:
    """True when the document starts like a JSON object (after a BOM and white space)."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """Read a JSON Feed fetched from ``url``. Raises ``NotAFeed`` for any other JSON."""
    document = _decode(body, url)
    if not _is_json_feed(document):
        raise NotAFeed(
            f"{url} is JSON, but not a JSON Feed (it has no list of items). Check that the "
            "feed's address in the configuration points at the feed itself; a JSON Feed's "
            "address often ends in feed.json or /feed/json."
        )
    home = _absolute_http(document.get("home_page_url"), url)
    language = normalise_language(_string(document.get("language")))
    items = [item for item in _list(document.get("items")) if isinstance(item, Mapping)]
    entries, dropped = _unique_entries(_read_item(item, url, language) for item in items)
    return ParsedFeed(
        title=" ".join(_string(document.get("title")).split()),
        link=strip_tracking(home) if home else None,
        language=language,
        entries=tuple(entries),
        dropped=tuple(dropped),
    )


def _decode(body: bytes, url: str) -> _Object:
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        # strict=False lets raw control characters stand inside strings (NetNewsWire's
        # allthis.json); render removes them from what patrons read.
        document = json.loads(text, strict=False)
    except (json.JSONDecodeError, RecursionError) as error:
        where = (
            f" (line {error.lineno}, column {error.colno})"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise NotAFeed(
            f"{url} looks like a JSON Feed but is not valid JSON{where}. The website's feed is "
            "broken; tell whoever runs the website, or use its RSS feed if it has one."
        ) from None
    return document if isinstance(document, Mapping) else {}


def _is_json_feed(document: _Object) -> bool:
    version = _string(document.get("version"))
    return "jsonfeed" in version or isinstance(document.get("items"), list)


def _read_item(item: _Object, feed_url: str, feed_language: str | None) -> _Candidate:
    title = " ".join(_string(item.get("title")).split())
    link = _link(item, feed_url)
    text, is_html = _text(item)
    raw_id = item.get("id")
    # 1.0 feeds sometimes give numbers; an id of another type is no id.
    key_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    label = f'"{_shortened(title)}"' if title else (link or "")
    if not (key_id and key_id.strip()) and not link and not title and not text:
        return _Candidate(None, label)
    entry = Entry(
        key=entry_key(key_id, link, title, text),
        title=title,
        link=link,
        summary=text,
        summary_is_html=is_html,
        categories=_tags(item),
        author=_authors(item),
        language=normalise_language(_string(item.get("language"))) or feed_language,
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
        images=_images(item, feed_url, text if is_html else ""),
    )
    return _Candidate(entry, label)


def _link(item: _Object, feed_url: str) -> str | None:
    """The item's own page, else the page it is about (``external_url``, for linked posts)."""
    for candidate in (item.get("url"), item.get("external_url")):
        absolute = _absolute_http(candidate, feed_url)
        if absolute:
            return strip_tracking(absolute)
    return None


def _text(item: _Object) -> tuple[str, bool]:
    """The text a post shows: the item's summary (plain, short) when it has one, as an RSS
    description comes before the full content; else the HTML content, else the plain one."""
    for name, is_html in (("summary", False), ("content_html", True), ("content_text", False)):
        value = _string(item.get(name)).strip()
        if value:
            return value, is_html
    return "", False


def _tags(item: _Object) -> tuple[str, ...]:
    cleaned = (" ".join(tag.split()) for tag in _list(item.get("tags")) if isinstance(tag, str))
    return tuple(dict.fromkeys(tag for tag in cleaned if tag))


def _authors(item: _Object) -> str | None:
    """``authors`` (1.1), else the deprecated ``author`` (1.0): the names, joined."""
    people = _list(item.get("authors")) or [item.get("author")]
    named = (person.get("name") for person in people if isinstance(person, Mapping))
    joined = ", ".join(name.strip() for name in map(_string, named) if name.strip())
    return joined or None


def _images(item: _Object, base: str, html: str) -> tuple[Image, ...]:
    """``image``, else ``banner_image``, else image attachments, else the first <img>."""
    found: list[Image] = []
    for name in ("image", "banner_image"):
        url = _absolute_http(item.get(name), base)
        if url:
            found.append(Image(url, ""))
            break
    for attachment in _list(item.get("attachments")):
        if not isinstance(attachment, Mapping):
            continue
        url = _absolute_http(attachment.get("url"), base)
        if url and _string(attachment.get("mime_type")).lower().startswith("image/"):
            found.append(Image(url, _string(attachment.get("title")).strip()))
    unique: dict[str, Image] = {}
    for image in found:
        unique.setdefault(image.url, image)
    return tuple(unique.values()) or _first_html_image(html, base)


def _date(value: object) -> datetime | None:
    """RFC 3339, also without seconds or offset (then UTC); else RFC 822; else None."""
    text = _string(value).strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
