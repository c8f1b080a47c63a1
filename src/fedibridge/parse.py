"""Feed bytes → ``ParsedFeed``: stable entry keys, absolute links, plain titles. Pure.

feedparser does the reading. It is only ever handed bytes wrapped in a stream: given a ``str``
it would fetch URLs or open local files, and given ``bytes`` it first tries them as a *file
name*, so a remote body such as ``/etc/…`` would make it read a local file.

feedparser is not told the feed's address either: it would resolve relative guids against it
(Reddit's ``t3_…``, CMS guids such as ``123``), and every key would change when the address
does (http → https, a moved feed), reposting the whole feed. Links and images are resolved
here instead; ``xml:base`` inside the document still applies everywhere. The links inside an
item's text are left as the feed wrote them: only the text is ever used (``html_to_text``
drops link targets), and resolving them took a fifth of a feed's parse.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import io
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from fedibridge.errors import NotAFeed
from fedibridge.events import rss_event
from fedibridge.languages import normalise_language
from fedibridge.models import Entry, Image, ParsedFeed, Reading
from fedibridge.render import html_to_text
from fedibridge.urls import identity_url, strip_tracking

__all__ = ["entry_key", "normalise_language", "parse_feed"]

# feedparser hands back FeedParserDict, an untyped dict subclass.
_Dict = Mapping[str, Any]

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")
# Links that carry a picture of the item: RSS/Atom enclosures and OPDS book covers.
_IMAGE_LINK_RELS = frozenset({"enclosure", "http://opds-spec.org/image"})
_MEDIA_NS = "{http://search.yahoo.com/mrss/}"
# Declared charsets in which valid multi-byte UTF-8 is practically impossible in real text.
_SINGLE_BYTE_CODECS = re.compile(r"^(ascii|latin_1|iso8859-\d+|cp125\d)$")
_FIRST_ELEMENT = re.compile(rb"<\w")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


_READING = Reading()


@dataclass(frozen=True, slots=True)
class _Feed:
    """What every entry of one document is read against."""

    url: str
    language: str | None
    alts: Mapping[str, str]  # media URL → alt text
    reading: Reading


@dataclass(frozen=True, slots=True)
class _Candidate:
    """An entry, or None when the item has nothing to identify or post it by."""

    entry: Entry | None
    label: str  # how staff can recognise the item in a message


def parse_feed(
    body: bytes, url: str, content_type: str | None = None, reading: Reading = _READING
) -> ParsedFeed:
    """Read an RSS/Atom document, a JSON Feed or an iCalendar file fetched from ``url``,
    recognised by its content (servers label feeds wrongly). Raises ``NotAFeed`` for anything
    else. ``reading`` says when the feed is read and how its event dates are meant."""
    from fedibridge import parse_ical, parse_jsonfeed  # they build on this module's helpers

    if parse_jsonfeed.looks_like_json(body):
        return parse_jsonfeed.parse_json_feed(body, url)
    if parse_ical.looks_like_ical(body):
        return parse_ical.parse_calendar(body, url, reading)
    parsed = feedparser.parse(
        io.BytesIO(_declarations_on_their_own_lines(body)),
        response_headers={"content-type": _content_type_for(body, content_type)},
        resolve_relative_uris=False,  # links are resolved per entry where used (see above)
    )
    if not parsed.entries and not parsed.get("version"):
        raise NotAFeed(_not_a_feed_message(body, url))
    channel: _Dict = parsed.feed
    feed = _Feed(url, normalise_language(channel.get("language")), _media_alt_texts(body), reading)
    entries, dropped = _unique_entries(_read_entry(raw, feed) for raw in _dicts(parsed, "entries"))
    return ParsedFeed(
        title=_plain(channel.get("title"), channel.get("title_detail")),
        link=_absolute_http(channel.get("link"), url),
        language=feed.language,
        entries=tuple(entries),
        dropped=tuple(dropped),
        ttl_minutes=_ttl(channel.get("ttl")),
    )


def _ttl(value: object) -> int | None:
    """RSS <ttl>, in minutes; None when absent or not a sensible number."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) <= 7 * 24 * 60 else None


def entry_key(raw_id: str | None, link: str | None, title: str, text: str) -> str:
    """The identity of an entry within its feed: guid, else normalised link, else content hash.

    The prefixes keep the kinds apart, so a guid that happens to look like a link or a hash can
    never match an entry identified the other way.
    """
    if raw_id and raw_id.strip():
        return "id:" + raw_id.strip()
    if link:
        return "link:" + identity_url(link)
    digest = hashlib.sha256((title + "\n" + text).encode("utf-8")).hexdigest()
    return "hash:" + digest[:32]


# ---- one entry ------------------------------------------------------------------------------


def _read_entry(raw: _Dict, feed: _Feed) -> _Candidate:
    title = _plain(raw.get("title"), raw.get("title_detail"))
    link = _entry_link(raw, feed.url)
    text, detail = _text(raw, _alts_of_entry(raw, feed.alts))
    raw_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    label = f'"{_shortened(title)}"' if title else (link or "")
    if not (raw_id and raw_id.strip()) and not link and not title and not text:
        return _Candidate(None, label)
    is_html = detail.get("type", "text/html") in _HTML_TYPES
    base = _entry_base(raw, feed.url)
    published = _utc(raw.get("published_parsed"))
    entry = Entry(
        # The key hashes the text as the document has it, its links unresolved, for the same
        # reason guids are not resolved (see the module doc).
        key=entry_key(raw_id, link, title, text),
        title=title,
        link=link,
        summary=text,
        summary_is_html=is_html,
        categories=_categories(raw),
        author=_text_or_none(raw.get("author")),
        language=_entry_language(raw) or feed.language,
        published=published,
        updated=_utc(_own(raw, "updated_parsed")),
        images=_images(raw, base, feed.alts) or _first_html_image(text if is_html else "", base),
        event=rss_event(raw, published, feed.reading.zone, feed.reading.dates),
    )
    return _Candidate(entry, label)


def _unique_entries(candidates: Iterable[_Candidate]) -> tuple[list[Entry], list[str]]:
    """Keep the first entry of each key, in document order; say why the others were left out."""
    entries: list[Entry] = []
    dropped: list[str] = []
    first_position: dict[str, int] = {}
    for position, candidate in enumerate(candidates, start=1):
        named = f"item {position}" + (f" ({candidate.label})" if candidate.label else "")
        if candidate.entry is None:
            dropped.append(f"{named} has no id, link, title or text, so there is nothing to post")
            continue
        key = candidate.entry.key
        if key in first_position:
            dropped.append(
                f"{named} has the same identity ({key}) as item {first_position[key]}; "
                "only the first one is used"
            )
            continue
        first_position[key] = position
        entries.append(candidate.entry)
    return entries, dropped


def _entry_base(raw: _Dict, feed_url: str) -> str:
    """What relative references in this entry are relative to: its xml:base, else the feed."""
    details = [
        *_dicts([raw.get("title_detail"), raw.get("summary_detail")]),
        *_dicts(raw, "content"),
    ]
    bases = [detail.get("base") for detail in details]
    return urljoin(feed_url, next((base for base in bases if isinstance(base, str) and base), ""))


def _entry_link(raw: _Dict, feed_url: str) -> str | None:
    alternates = [
        link.get("href") for link in _dicts(raw, "links") if link.get("rel") == "alternate"
    ]
    for candidate in [raw.get("link"), *alternates]:
        # feedparser offers the guid as the link when there is none; only a web address is one.
        if candidate == raw.get("id") and not _absolute_http(candidate, ""):
            continue
        # feedparser has applied xml:base to links already; what is left is the feed's address.
        absolute = _absolute_http(candidate, feed_url)
        if absolute:
            return strip_tracking(absolute)
    return None


def _text(raw: _Dict, alt_texts: set[str]) -> tuple[str, _Dict]:
    """The item's text and the detail that tells its type and base.

    ``summary`` (RSS description) comes first and ``content`` is only a fallback: in Mastodon's
    RSS the image descriptions land in ``content`` (FACTS.md), and one that is really an
    image's alt text is skipped.
    """
    summary = raw.get("summary")
    if isinstance(summary, str) and summary.strip():
        detail = raw.get("summary_detail")
        # feedparser overwrites summary_detail with a later media:description while the summary
        # keeps the first text; then the detail says nothing about the summary (assume HTML).
        if isinstance(detail, Mapping) and detail.get("value") == summary:
            return summary.strip(), detail
        return summary.strip(), {}
    for content in _dicts(raw, "content"):
        value = content.get("value")
        if isinstance(value, str) and value.strip() and value.strip() not in alt_texts:
            return value.strip(), content
    return "", {}


def _categories(raw: _Dict) -> tuple[str, ...]:
    terms = (tag.get("term") for tag in _dicts(raw, "tags"))
    cleaned = (term.strip() for term in terms if isinstance(term, str))
    return tuple(dict.fromkeys(term for term in cleaned if term))


def _entry_language(raw: _Dict) -> str | None:
    """The item's own language: its dc:language (or OPDS's dcterms:language), else the
    xml:lang of its texts, the text patrons read before the title. feedparser hands the
    feed's xml:lang down to every text that has none of its own, so that one counts here too;
    an RSS channel's <language> is the caller's fallback."""
    candidates = [raw.get("language"), raw.get("dcterms_language")]
    details = [raw.get("summary_detail"), *_dicts(raw, "content"), raw.get("title_detail")]
    candidates += [detail.get("language") for detail in _dicts(details)]
    return next((lang for lang in map(normalise_language, candidates) if lang), None)


def _own(raw: _Dict, key: str) -> object:
    """``raw[key]`` without feedparser's aliases: it answers ``updated_parsed`` with the
    published date (and a DeprecationWarning) when an item has no updated date."""
    return dict.get(raw, key) if isinstance(raw, dict) else raw.get(key)


def _utc(parsed: object) -> datetime | None:
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        # feedparser gives UTC struct_times; timegm tolerates a leap second that datetime() won't.
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


# ---- images ---------------------------------------------------------------------------------


def _images(raw: _Dict, base: str, alts: Mapping[str, str]) -> tuple[Image, ...]:
    """Pictures of the item. Thumbnails only count when there is no full-size picture."""
    found = _unique_images([*_link_images(raw, base), *_media_images(raw, base, alts)])
    if found:
        return found
    thumbnails = _dicts(raw, "media_thumbnail")
    return _unique_images(pair for item in thumbnails for pair in _media_image(item, base, alts))


def _link_images(raw: _Dict, base: str) -> Iterator[tuple[Image, int]]:
    for link in _dicts(raw, "links"):
        rel, kind = link.get("rel"), str(link.get("type") or "")
        href = _absolute_http(link.get("href"), base)
        if rel in _IMAGE_LINK_RELS and kind.startswith("image/") and href:
            yield Image(href, _text_or_none(link.get("title")) or ""), 0


def _media_images(raw: _Dict, base: str, alts: Mapping[str, str]) -> Iterator[tuple[Image, int]]:
    for item in _dicts(raw, "media_content"):
        if _is_picture(item.get("medium"), item.get("type"), item.get("url")):
            yield from _media_image(item, base, alts)


def _is_picture(medium: object, kind: object, url: object) -> bool:
    if medium or kind:
        return medium == "image" or str(kind or "").startswith("image/")
    # The Guardian gives neither medium nor type; the file name is all there is to go on.
    return _path_of(url).lower().endswith(_IMAGE_EXTENSIONS)


def _path_of(url: object) -> str:
    try:
        return urlsplit(url).path if isinstance(url, str) else ""
    except ValueError:  # "http://[::1" and other broken hosts
        return ""


def _media_image(item: _Dict, base: str, alts: Mapping[str, str]) -> Iterator[tuple[Image, int]]:
    raw_url = item.get("url")
    url = _absolute_http(raw_url, base)
    if url:
        yield Image(url, alts.get(str(raw_url), "")), _int(item.get("width"))


def _unique_images(found: Iterable[tuple[Image, int]]) -> tuple[Image, ...]:
    """Drop repeats. Pictures that share a path and declare a width are renditions of one
    picture in several sizes (the Guardian sends 140 and 460 px): keep the widest. A repeat
    may carry the description the first mention lacked (an enclosure, then its media:content):
    keep the description."""
    chosen: dict[str, tuple[Image, int]] = {}
    for image, width in found:
        parts = urlsplit(image.url)
        same = f"{parts.netloc}{parts.path}" if width else image.url
        earlier, earlier_width = chosen.get(same, (None, -1))
        best = image if width > earlier_width else earlier
        assert best is not None
        alt = best.alt or image.alt or (earlier.alt if earlier else "")
        chosen[same] = (Image(best.url, alt), max(width, earlier_width))
    return tuple(image for image, _ in chosen.values())


def _alts_of_entry(raw: _Dict, alts: Mapping[str, str]) -> set[str]:
    media = [*_dicts(raw, "media_content"), *_dicts(raw, "media_thumbnail")]
    return {alts[url] for url in (str(item.get("url")) for item in media) if url in alts}


def _media_alt_texts(body: bytes) -> dict[str, str]:
    """Media RSS URL → the picture's media:description (else media:title), read from the XML.

    feedparser cannot give these: it files media:description as the item's content or summary
    and keeps only one of several. Best effort: a feed that is not well-formed XML (feedparser
    still reads those) just gets no alt texts. Documents with a DOCTYPE are skipped, so no
    entity expansion can happen here.
    """
    if b"search.yahoo.com/mrss" not in body or _DOCTYPE.search(body):
        return {}
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError, LookupError):
        return {}
    alts: dict[str, str] = {}
    for parent in root.iter():
        for child in parent:
            url, alt = child.get("url"), _media_alt(child, parent)
            if url and alt and url not in alts:
                alts[url] = alt
    return alts


def _media_alt(element: ElementTree.Element, parent: ElementTree.Element) -> str:
    """A picture's own description, else its media:group's. A thumbnail's surroundings describe
    a video (YouTube, Vimeo), not the picture, so only its own text counts."""
    if element.tag == _MEDIA_NS + "thumbnail":
        return _media_text(element)
    if element.tag != _MEDIA_NS + "content":
        return ""
    if not _is_picture(element.get("medium"), element.get("type"), element.get("url")):
        return ""
    in_group = parent.tag == _MEDIA_NS + "group"
    return _media_text(element) or (_media_text(parent) if in_group else "")


def _media_text(element: ElementTree.Element) -> str:
    for name in ("description", "title"):
        found = element.find(_MEDIA_NS + name)
        if found is not None and found.text and found.text.strip():
            return found.text.strip()
    return ""


# ---- text and URLs --------------------------------------------------------------------------


class _FirstImage(HTMLParser):
    """The first real picture in an item's HTML (tracking pixels and icons are no picture)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img" or self.found is not None:
            return
        values = {name: value or "" for name, value in attrs}
        tiny = any(
            values.get(side, "").strip() in {"0", "1", "1px"} for side in ("width", "height")
        )
        if values.get("src") and not tiny:
            self.found = (values["src"], values.get("alt", "").strip())


def _first_html_image(html: str, base: str) -> tuple[Image, ...]:
    """When the feed names no picture, the first <img> in the item's text, with its alt."""
    if "<img" not in html.lower():
        return ()
    finder = _FirstImage()
    finder.feed(html)
    finder.close()
    if finder.found is None:
        return ()
    url = _absolute_http(finder.found[0], base)
    return (Image(url, finder.found[1]),) if url else ()


def _plain(value: object, detail: object) -> str:
    """Plain, single-line text from a feed text construct (HTML titles exist in Atom)."""
    if not isinstance(value, str):
        return ""
    if isinstance(detail, Mapping) and detail.get("type") in _HTML_TYPES:
        value = html_to_text(value)
    return " ".join(value.split())


def _shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _text_or_none(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _absolute_http(reference: object, base: str) -> str | None:
    """``reference`` resolved against ``base``; None unless it is a web address.

    feedparser turns Atom ids such as ``urn:…`` or ``yt:…`` into links; those are not
    something a patron can open.
    """
    if not isinstance(reference, str) or not reference.strip():
        return None
    try:
        absolute = urljoin(base, reference.strip())
        parts = urlsplit(absolute)
        # .port raises for "host:99999" or "host:x"; identity_url would trip over it later.
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # "http://[::1" and other broken hosts
        return None
    return absolute if usable else None


def _dicts(source: object, name: str | None = None) -> list[_Dict]:
    """The mappings in a feedparser list (``source[name]`` when a name is given), skipping
    anything else: malformed feeds put odd values where a list of dicts is expected."""
    if name is not None:
        source = source.get(name) if isinstance(source, Mapping) else None
    if not isinstance(source, list):
        return []
    return [item for item in source if isinstance(item, Mapping)]


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


# ---- encoding and diagnosis -----------------------------------------------------------------


def _content_type_for(body: bytes, content_type: str | None) -> str:
    """The Content-Type to let feedparser pick the character encoding from.

    An empty value (not a missing one, which means ISO-8859-1 to feedparser) makes it follow
    the XML declaration, else UTF-8. A body that is valid UTF-8 but *declared* as a single-byte
    charset is UTF-8 mislabelled (a common server or CMS default; miniflux corrects it too).
    """
    declared = _declared_charset(body, content_type)
    if declared and _SINGLE_BYTE_CODECS.match(declared) and _is_utf8_beyond_ascii(body):
        return "application/xml; charset=utf-8"
    return content_type or ""


def _declared_charset(body: bytes, content_type: str | None) -> str | None:
    label = None
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            label = value.strip().strip("\"'")
    if not label:
        match = _XML_ENCODING.match(body[:512])
        label = match.group(1).decode("ascii") if match else None
    try:
        return codecs.lookup(label).name if label else None
    except LookupError:
        return None


def _is_utf8_beyond_ascii(body: bytes) -> bool:
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _declarations_on_their_own_lines(body: bytes) -> bytes:
    """feedparser removes nested <!ENTITY> declarations ("billion laughs": each level multiplies
    the text) only where they start a line; a one-line prolog slips through to expat, which
    expands it up to 100-fold. Putting each declaration on its own line lets feedparser's
    defence work."""
    first_element = _FIRST_ELEMENT.search(body)
    end = first_element.start() if first_element else len(body)
    if b"<!ENTITY" not in body[:end]:
        return body
    prolog = body[:end].replace(b"<!ENTITY", b"\n<!ENTITY").replace(b"<!DOCTYPE", b"\n<!DOCTYPE")
    return prolog + body[end:]


def _not_a_feed_message(body: bytes, url: str) -> str:
    start = body[:2048].lstrip().lower()
    if not start:
        looks_like = "the answer was empty"
    elif start.startswith((b"{", b"[")):
        looks_like = "it looks like JSON, but not a JSON Feed"
    elif b"<html" in start or b"<!doctype html" in start:
        looks_like = "it looks like a web page"
    else:
        looks_like = "fedibridge could not recognise it"
    return (
        f"{url} is not an RSS or Atom feed ({looks_like}). Check that the feed's address in "
        "the configuration points at the feed itself, not at the page that links to it; "
        "the feed address often ends in /feed, /rss or .xml."
    )
