"""Deterministic, realistic library feeds for the benchmarks.

Each feed looks like what a library website's CMS publishes: RSS 2.0 in the WordPress style
(three feeds in four) or Atom (the fourth), with titles that contain ``&``, HTML summaries with
entities, links carrying ``utm_*`` tracking, an inline ``<img>``, categories, dates, an
enclosure or ``media:content`` picture with a description. The same seed gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

_TOPICS = (
    "Storytime",
    "Book club",
    "Coding for teens",
    "Seed library",
    "Local history talk",
    "Tax help",
    "Knitting circle",
    "Author visit",
    "Film night",
    "English conversation group",
    "Makerspace open lab",
    "Genealogy drop-in",
)
_DETAILS = (
    "Arts & crafts",
    "Rhymes & songs",
    "Q&A",
    "for ages 3\u20135",
    "with coffee",
    "in the Reading Room",
    "bring your own project",
    "Café “Les Mots”",
)
_CATEGORIES = (
    "Events",
    "Kids & Family",
    "Arts & crafts",
    "Teens",
    "Adults",
    "New titles",
    "Local history",
    "Digital skills",
    "Öffnungszeiten",
)
_SENTENCES = (
    "Join us for an hour of stories, songs and play.",
    "No registration is needed &ndash; just drop in.",
    "Our librarians&#8217; picks for this season are on the display by the entrance.",
    "Tea &amp; biscuits are provided by the Friends of the Library.",
    "Bring your library card; if you don&#8217;t have one yet, we&#8217;ll make one on the spot.",
    "Spaces are limited&hellip; please arrive ten minutes early.",
    "The event is wheelchair accessible and a hearing loop is available.",
    "Children under 8 must be accompanied by an adult.",
    "Materials are provided free of charge thanks to a grant from the city.",
    "This month we read a novel set on the river&nbsp;delta.",
)


@dataclass(frozen=True, slots=True)
class Item:
    serial: int
    title: str
    link: str
    guid: str
    published: datetime
    categories: tuple[str, ...]
    summary_html: str
    image_url: str
    image_alt: str


def make_item(
    feed: int, serial: int, published: datetime | None = None, *, pictures: str | None = None
) -> Item:
    """Item ``serial`` of feed ``feed``; the same numbers give the same item. Its picture is
    served from ``pictures`` (an origin such as ``http://127.0.0.1:8080``) when given."""
    rng = random.Random(feed * 1_000_003 + serial)
    topic = rng.choice(_TOPICS)
    title = f"{topic}: {rng.choice(_DETAILS)} ({serial})"
    slug = f"{topic.lower().replace(' ', '-')}-{serial}"
    host = f"library{feed}.example"
    link = f"https://{host}/events/{slug}/?utm_source=rss&utm_medium=feed&utm_campaign=news"
    image = (
        f"{pictures or 'https://' + host}/wp-content/uploads/2026/{1 + serial % 12:02d}/{slug}.jpg"
    )
    alt = f"Photo: people at the {topic.lower()} in the library"
    sentences = rng.sample(_SENTENCES, rng.randint(3, 7))
    paragraphs = [
        f"<p>{' '.join(sentences[:2])}</p>",
        f'<p><img src="{image}" alt="{escape(alt)}" width="600" height="400" '
        f'class="wp-image-{serial}" /></p>',
        f"<p>{' '.join(sentences[2:])} "
        f'<a href="https://{host}/calendar/?utm_source=rss">See the calendar</a> or '
        f'<a href="/contact/">ask us</a>.</p>',
    ]
    return Item(
        serial=serial,
        title=title,
        link=link,
        guid=f"https://{host}/?p={10_000 + serial}",
        published=published or BASE_TIME + timedelta(hours=6 * serial),
        categories=tuple(rng.sample(_CATEGORIES, rng.randint(1, 3))),
        summary_html="\n".join(paragraphs),
        image_url=image,
        image_alt=alt,
    )


def picture(size: int = 120_000) -> bytes:
    """Bytes that look like a JPEG photo to the bridge (which never decodes them): the JPEG
    markers around incompressible data, about the size of a CMS's "large" rendition."""
    body = random.Random(size).randbytes(size - 4)
    return b"\xff\xd8\xff\xe0" + body[:-2] + b"\xff\xd9"


def render_feed(feed: int, items: list[Item], *, updated: datetime) -> tuple[bytes, str]:
    """The document for ``items`` (newest first) and its Content-Type."""
    if feed % 4 == 3:
        return _atom(feed, items, updated), "application/atom+xml; charset=UTF-8"
    return _rss(feed, items, updated), "application/rss+xml; charset=UTF-8"


def _rss(feed: int, items: list[Item], updated: datetime) -> bytes:
    host = f"library{feed}.example"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:media="http://search.yahoo.com/mrss/">\n<channel>\n'
        f"<title>Riverside Library {feed} &#8211; News &amp; Events</title>\n"
        f'<atom:link href="https://{host}/feed/" rel="self" type="application/rss+xml" />\n'
        f"<link>https://{host}/</link>\n"
        "<description>What is on at the library</description>\n"
        f"<lastBuildDate>{format_datetime(updated)}</lastBuildDate>\n"
        "<language>en-US</language>\n<sy:updatePeriod xmlns:sy="
        '"http://purl.org/rss/1.0/modules/syndication/">hourly</sy:updatePeriod>\n'
        "<generator>https://wordpress.org/?v=6.6</generator>\n"
    ]
    for item in items:
        categories = "".join(f"<category><![CDATA[{c}]]></category>\n" for c in item.categories)
        picture = (
            f'<enclosure url="{item.image_url}" length="48213" type="image/jpeg" />\n'
            if item.serial % 2
            else f'<media:content url="{item.image_url}" medium="image" width="600">'
            f"<media:description>{escape(item.image_alt)}</media:description>"
            "</media:content>\n"
        )
        parts.append(
            "<item>\n"
            f"<title>{escape(item.title, quote=False)}</title>\n"
            f"<link>{escape(item.link)}</link>\n"
            "<dc:creator><![CDATA[Library staff]]></dc:creator>\n"
            f"<pubDate>{format_datetime(item.published)}</pubDate>\n"
            f"{categories}"
            f'<guid isPermaLink="false">{escape(item.guid)}</guid>\n'
            f"<description><![CDATA[{item.summary_html}]]></description>\n"
            f"{picture}"
            "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


def _atom(feed: int, items: list[Item], updated: datetime) -> bytes:
    host = f"library{feed}.example"
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">\n'
        f'<title type="html">Riverside Library {feed} &amp;#8211; What&amp;#8217;s on</title>\n'
        f'<link href="https://{host}/" rel="alternate" />\n'
        f'<link href="https://{host}/atom.xml" rel="self" />\n'
        f"<id>https://{host}/atom.xml</id>\n"
        f"<updated>{updated.isoformat()}</updated>\n"
    ]
    for item in items:
        categories = "".join(f'<category term="{escape(c)}" />\n' for c in item.categories)
        parts.append(
            "<entry>\n"
            f'<title type="html">{escape(escape(item.title, quote=False))}</title>\n'
            f'<link href="{escape(item.link)}" rel="alternate" />\n'
            f'<link rel="enclosure" type="image/jpeg" href="{item.image_url}" />\n'
            f"<id>{escape(item.guid)}</id>\n"
            f"<published>{item.published.isoformat()}</published>\n"
            f"<updated>{item.published.isoformat()}</updated>\n"
            "<author><name>Library staff</name></author>\n"
            f"{categories}"
            f'<summary type="html">{escape(item.summary_html)}</summary>\n'
            "</entry>\n"
        )
    parts.append("</feed>\n")
    return "".join(parts).encode("utf-8")
