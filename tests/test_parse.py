"""parse: real feeds nobody here wrote, plus small inline feeds for one behaviour each."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fedibridge.errors import NotAFeed
from fedibridge.models import Entry, Image, ParsedFeed
from fedibridge.parse import entry_key, normalise_language, parse_feed
from tests.conftest import REAL_FEEDS

FEED_URL = "https://library.example/news/feed.xml"


def shared(name: str, url: str = FEED_URL, content_type: str | None = None) -> ParsedFeed:
    return parse_feed((REAL_FEEDS / name).read_bytes(), url, content_type)


def rss(items: str, channel: str = "", rss_attributes: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" {rss_attributes}>'
        f"<channel><title>Library news</title>{channel}{items}</channel></rss>"
    ).encode()


def only_entry(feed: ParsedFeed) -> Entry:
    assert len(feed.entries) == 1, feed
    return feed.entries[0]


# ---- character encodings --------------------------------------------------------------------

ENCODED = [
    ("miniflux--parser--encoding_WINDOWS-1251.xml", "Цитата #17703"),
    ("feed-rs--rss1--rss_1.0_iso8859.xml", "Digitalministerium: Neue Glasfaserförderung mit"),
    ("feed-rs--rss0--rss_0.91_missing_id.xml", "TÉCNICO/A (INGENIE. TÉC. FORESTAL)"),
    ("rss-parser--encoding-gb2312.xml", "拟298亿元重组盛大游戏后 世纪华通发20亿回购预案"),
    ("miniflux--parser--urdu_UTF8.xml", "امریکی عسکری امداد کی بندش کی وجوہات"),
]


@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
@pytest.mark.parametrize(("name", "first_title"), ENCODED)
def test_declared_encodings_decode_to_the_right_text(
    name: str, first_title: str, content_type: str | None
) -> None:
    feed = shared(name, content_type=content_type)

    assert first_title in feed.entries[0].title


def test_feed_level_text_is_decoded_too() -> None:
    assert shared("rss-parser--encoding-gb2312.xml").title == "互联网"
    assert shared("feed-rs--rss0--rss_0.91_missing_id.xml").title.endswith("Diputación de valencia")


def test_utf8_body_with_a_windows_1252_prolog_is_read_as_utf8_and_has_no_entries() -> None:
    feed = shared("miniflux--encoding--windows-1252-incorrect-prolog.xml")

    assert feed.entries == ()
    assert feed.title == "Euro €"


def test_utf8_body_that_the_server_labels_latin1_is_read_as_utf8() -> None:
    body = rss("<item><title>Café für alle</title><guid>1</guid></item>")

    feed = parse_feed(body, FEED_URL, "application/rss+xml; charset=ISO-8859-1")

    assert only_entry(feed).title == "Café für alle"


def test_a_genuine_latin1_feed_stays_latin1() -> None:
    body = rss("<item><title>Café für alle</title><guid>1</guid></item>").replace(
        b"utf-8", b"iso-8859-1"
    )
    latin1 = body.decode("utf-8").encode("iso-8859-1")

    assert only_entry(parse_feed(latin1, FEED_URL, None)).title == "Café für alle"


# ---- links ----------------------------------------------------------------------------------


def test_links_of_real_feeds_are_absolute() -> None:
    relurl = shared("feed-rs--rss2--rss_2.0_relurl_1.xml")
    chattanooga = shared("library--chattanooga-booksforcha-feed.xml")

    assert [entry.link for entry in relurl.entries] == [
        "https://insanity.industries/post/pareto-optimal-compression/",
        "https://insanity.industries/post/pacman-tracking-leftover-packages/",
    ]
    assert [entry.link for entry in chattanooga.entries] == [
        "http://www.example.com/books/1",
        "http://www.example.com/books/2",
    ]
    assert chattanooga.link == "http://www.example.com"


def test_xml_base_resolves_references_inside_the_text() -> None:
    entry = only_entry(shared("feed-rs--atom--atom_xml_base.xml"))

    assert entry.images[0].url == "https://numi.st/post/2022/travel-uke/IMG_1232.jpeg"
    assert entry.link == "https://numi.st/post/2022/travel-uke"


def test_relative_references_resolve_against_the_feed_address() -> None:
    body = rss(
        "<item><title>Story time</title><link>events/story-time</link>"
        '<enclosure url="/images/story.jpg" type="image/jpeg" length="1"/>'
        '<description>&lt;a href="../kids/"&gt;Kids&lt;/a&gt;</description></item>',
        channel="<link>/</link>",
    )

    feed = parse_feed(body, "https://library.example/news/feed.xml")

    entry = only_entry(feed)
    assert feed.link == "https://library.example/"
    assert entry.link == "https://library.example/news/events/story-time"
    assert entry.images == (Image("https://library.example/images/story.jpg", ""),)


def test_relative_references_resolve_against_xml_base() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://events.example/">'
        b"<title>Events</title>"
        b'<entry xml:base="/calendar/"><id>urn:event:1</id><title>Book club</title>'
        b'<link href="book-club"/>'
        b'<link rel="enclosure" type="image/png" href="club.png" title="Chairs in a circle"/>'
        b"</entry></feed>"
    )

    entry = only_entry(parse_feed(body, FEED_URL))

    assert entry.link == "https://events.example/calendar/book-club"
    assert entry.images == (
        Image("https://events.example/calendar/club.png", "Chairs in a circle"),
    )


def test_the_text_patrons_read_is_the_same_as_with_its_links_resolved() -> None:
    # Links inside an item's text are left as the feed wrote them, because only the text is
    # used; resolving them with feedparser's resolver (as 0.1.0 did) changes nothing patrons
    # read or what marks a correction, in any real feed, so an upgrade edits no post.
    from feedparser.urls import resolve_relative_uris

    from fedibridge.plan import fingerprint
    from fedibridge.render import html_to_text

    names = sorted(p.name for p in REAL_FEEDS.iterdir() if p.suffix in {".xml", ".rss", ".atom"})
    entries = [e for name in names for e in shared(name).entries if e.summary_is_html]
    resolved = [
        replace(e, summary=resolve_relative_uris(e.summary, FEED_URL, "utf-8", "text/html"))
        for e in entries
    ]

    assert len(entries) > 200
    assert any(a.summary != b.summary for a, b in zip(entries, resolved, strict=True))
    assert [html_to_text(e.summary) for e in entries] == [html_to_text(e.summary) for e in resolved]
    assert [fingerprint(e) for e in entries] == [fingerprint(e) for e in resolved]


def test_tracking_parameters_are_removed_from_links_and_the_rest_kept() -> None:
    body = rss(
        "<item><title>New titles</title>"
        "<link>https://catalogue.example/search?q=new&amp;utm_source=rss&amp;fbclid=abc"
        "&amp;source=opac</link></item>"
    )

    entry = only_entry(parse_feed(body, FEED_URL))

    assert entry.link == "https://catalogue.example/search?q=new&source=opac"
    assert entry.key == "link:https://catalogue.example/search?q=new&source=opac"


def test_ids_that_are_not_web_addresses_are_not_links() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b"<entry><id>urn:uuid:1225c695</id><title>No link here</title></entry></feed>"
    )

    entry = only_entry(parse_feed(body, FEED_URL))

    assert entry.link is None
    assert entry.key == "id:urn:uuid:1225c695"


def test_youtube_link_is_the_watch_page_not_the_video_id() -> None:
    entry = only_entry(shared("feed-rs--atom--atom_mediarss_youtube_1.xml"))

    assert entry.key == "id:yt:video:0A1ouV7iD8o"
    assert entry.link == "https://www.youtube.com/watch?v=0A1ouV7iD8o"


# ---- identity -------------------------------------------------------------------------------


def test_items_without_guid_get_link_keys() -> None:
    feed = shared("library--chattanooga-booksforcha-feed.xml")

    assert [entry.key for entry in feed.entries] == [
        "link:http://www.example.com/books/1",
        "link:http://www.example.com/books/2",
    ]


@pytest.mark.parametrize(
    "name", ["feed-rs--rss2--rss_2.0_ghost_1.xml", "feed-rs--rss0--rss_0.91_missing_id.xml"]
)
def test_items_without_guid_or_link_get_hash_keys_that_are_stable(name: str) -> None:
    first = only_entry(shared(name))
    again = only_entry(shared(name, url="https://elsewhere.example/feed"))

    assert first.key.startswith("hash:")
    assert len(first.key) == len("hash:") + 32
    assert first.key == again.key


def test_keys_do_not_depend_on_the_address_the_feed_was_fetched_from() -> None:
    # Reddit's ids are not URIs; resolved against the feed's address they would change with it.
    over_http = shared("feed-rs--atom--atom_example_reddit.xml", url="http://reddit.example/r.rss")
    over_https = shared("feed-rs--atom--atom_example_reddit.xml", url="https://new.example/r")

    assert only_entry(over_http).key == only_entry(over_https).key == "id:t3_glvkc5"


def test_every_key_of_a_real_feed_is_stable_across_parses() -> None:
    keys = [entry.key for entry in shared("rss-parser--guardian.rss").entries]

    assert keys == [entry.key for entry in shared("rss-parser--guardian.rss").entries]
    assert len(set(keys)) == len(keys) == 55


def test_a_repeated_id_keeps_the_first_item_and_says_why_the_other_was_dropped() -> None:
    body = rss(
        "<item><guid>42</guid><title>First</title></item>"
        "<item><guid>7</guid><title>Other</title></item>"
        "<item><guid> 42 </guid><title>Repeat</title></item>"
    )

    feed = parse_feed(body, FEED_URL)

    assert [entry.title for entry in feed.entries] == ["First", "Other"]
    assert len(feed.dropped) == 1
    assert '"Repeat"' in feed.dropped[0]
    assert "item 3" in feed.dropped[0]
    assert "item 1" in feed.dropped[0]


def test_an_item_with_nothing_to_identify_it_is_dropped_with_a_reason() -> None:
    body = rss("<item></item><item><guid>1</guid><title>Real</title></item>")

    feed = parse_feed(body, FEED_URL)

    assert [entry.title for entry in feed.entries] == ["Real"]
    assert feed.dropped == ("item 1 has no id, link, title or text, so there is nothing to post",)


def test_entry_key_prefers_the_guid_then_the_normalised_link_then_a_hash() -> None:
    link = "https://Library.example:443/e?utm_source=x#top"

    assert entry_key("  abc ", link, "t", "x") == "id:abc"
    assert entry_key("   ", link, "t", "x") == "link:https://library.example/e"
    assert entry_key(None, None, "t", "x").startswith("hash:")
    assert entry_key(None, None, "t", "x") == entry_key(None, None, "t", "x")
    assert entry_key(None, None, "t", "x") != entry_key(None, None, "t", "y")
    # The separator keeps "ab" + "c" apart from "a" + "bc".
    assert entry_key(None, None, "ab", "c") != entry_key(None, None, "a", "bc")


def test_entries_stay_in_document_order() -> None:
    titles = [entry.title for entry in shared("rss-parser--guardian.rss").entries]

    assert titles[:2] == [
        "Trump State of the Union address promised unity but emphasized discord",
        "So, how did conservatives like the State of the Union?",
    ]


# ---- text -----------------------------------------------------------------------------------


def test_mastodon_rss_uses_the_toot_text_and_has_no_titles() -> None:
    feed = shared("mastodon--m.cmx.im-nova.rss")

    assert len(feed.entries) == 20
    first = feed.entries[0]
    assert first.title == ""
    assert first.summary.startswith("<p>早上发现自己一直在梦里哭")
    assert first.summary_is_html
    assert sum(len(entry.images) for entry in feed.entries) == 15
    assert all(
        image.url.startswith("https://media.cmx.edu.kg/")
        for e in feed.entries
        for image in e.images
    )


MASTODON_ITEM = """
<item>
  <guid isPermaLink="true">https://social.example/@library/1</guid>
  <link>https://social.example/@library/1</link>
  <pubDate>Fri, 16 Feb 2024 00:14:19 +0000</pubDate>
  <description>{description}</description>
  <media:content url="https://files.example/a.jpeg" type="image/jpeg" medium="image">
    <media:rating scheme="urn:simple">nonadult</media:rating>
    <media:description type="plain">Two armchairs by a sunny window</media:description>
  </media:content>
  <media:content url="https://files.example/b.png" type="image/png" medium="image">
    <media:rating scheme="urn:simple">nonadult</media:rating>
    <media:description type="plain">A shelf of picture books</media:description>
  </media:content>
</item>
"""


def test_mastodon_image_descriptions_become_alt_text_not_the_post_text() -> None:
    body = rss(MASTODON_ITEM.format(description="&lt;p&gt;Our new reading room is open&lt;/p&gt;"))

    entry = only_entry(parse_feed(body, "https://social.example/@library.rss"))

    assert entry.summary == "<p>Our new reading room is open</p>"
    # feedparser labels the summary with the last media:description's type (text/plain).
    assert entry.summary_is_html
    assert entry.images == (
        Image("https://files.example/a.jpeg", "Two armchairs by a sunny window"),
        Image("https://files.example/b.png", "A shelf of picture books"),
    )


def test_a_toot_with_only_pictures_does_not_post_their_alt_text_as_its_text() -> None:
    body = rss(MASTODON_ITEM.format(description=""))

    entry = only_entry(parse_feed(body, "https://social.example/@library.rss"))

    assert entry.summary == ""
    assert entry.images[0].alt == "Two armchairs by a sunny window"


def test_summary_is_preferred_over_content() -> None:
    body = rss(
        "<item><guid>1</guid><description>Short summary</description>"
        "<content:encoded>&lt;p&gt;The whole article&lt;/p&gt;</content:encoded></item>",
        rss_attributes='xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    )

    assert only_entry(parse_feed(body, FEED_URL)).summary == "Short summary"


def test_content_is_used_when_there_is_no_summary() -> None:
    entry = only_entry(shared("feed-rs--rss2--rss_2.0_ghost_1.xml"))

    assert entry.summary == "Example"


def test_html_titles_become_plain_text_and_plain_text_is_flagged() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">&lt;i&gt;Our&lt;/i&gt;'
        b" library</title><entry><id>urn:1</id>"
        b'<title type="html">&lt;b&gt;Bold&lt;/b&gt;   &amp;amp; co\n  ltd</title>'
        b'<summary type="text">1 &lt; 2</summary></entry></feed>'
    )

    feed = parse_feed(body, FEED_URL)

    entry = only_entry(feed)
    assert feed.title == "Our library"
    assert entry.title == "Bold & co ltd"
    assert entry.summary == "1 < 2"
    assert not entry.summary_is_html


def test_categories_are_stripped_deduplicated_and_in_order() -> None:
    body = rss(
        "<item><guid>1</guid><category> Arts &amp; crafts </category><category>Kids</category>"
        "<category>Arts &amp; crafts</category><category>  </category></item>"
    )

    assert only_entry(parse_feed(body, FEED_URL)).categories == ("Arts & crafts", "Kids")


def test_author_and_categories_from_a_real_feed() -> None:
    entry = shared("rss-parser--guardian.rss").entries[0]

    assert entry.author == "David Smith in Washington"
    assert entry.categories[:2] == ("Donald Trump", "State of the Union address")


# ---- language -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("feed-rs--rss2--rss_2.0_spiegel.xml", "de"),
        ("feed-rs--rss0--rss_0.91_missing_id.xml", "es"),  # es-ES
        ("miniflux--parser--urdu_UTF8.xml", "ur"),
        ("rss-parser--encoding-gb2312.xml", "zh"),  # zh-cn
        ("feed-rs--rss2--rss_2.0_ilgiornale.xml", "it"),
        ("miniflux--parser--encoding_WINDOWS-1251.xml", "ru"),
        ("rss-parser--guardian.rss", "en"),  # en-gb, in <language> and in dc:language
        ("feed-rs--rss2--rss_2.0_relurl_1.xml", "en"),  # en-US
        ("feed-rs--rss2--rss_2.0_vimeo_media.xml", "en"),  # xml:lang="en-US" on the channel
        ("nypl-opds--feedbooks--feed_with_open_access_book.atom", "en"),  # dcterms:language
        ("mastodon--m.cmx.im-nova.rss", None),
    ],
)
def test_language_is_iso_639_1_for_the_feed_and_its_entries(
    name: str, language: str | None
) -> None:
    feed = shared(name)

    assert feed.language == language
    assert {entry.language for entry in feed.entries} == {language}


def test_the_language_of_an_atom_entrys_content_counts_when_the_feed_has_none() -> None:
    feed = shared("netnewswire--DaringFireball.atom")  # <content xml:lang="en">

    assert feed.language is None
    assert {entry.language for entry in feed.entries} == {"en"}


def test_an_items_dc_language_overrides_the_channels_language() -> None:
    body = (
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        b"<title>t</title><language>en-gb</language>"
        b"<item><guid>1</guid><title>Hora del cuento</title><dc:language>spa</dc:language></item>"
        b"<item><guid>2</guid><title>Vorlesestunde</title><dc:language>ger</dc:language></item>"
        b"<item><guid>3</guid><title>Story time</title><dc:language>Klingon</dc:language></item>"
        b"</channel></rss>"
    )

    feed = parse_feed(body, FEED_URL)

    assert [entry.language for entry in feed.entries] == ["es", "de", "en"]


def test_an_entry_language_overrides_the_feed_language() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB"><title>t</title>'
        b'<entry xml:lang="fr-CA"><id>1</id><title>Heure du conte</title></entry>'
        b"<entry><id>2</id><title>Story time</title></entry></feed>"
    )

    feed = parse_feed(body, FEED_URL)

    assert feed.language == "en"
    assert [entry.language for entry in feed.entries] == ["fr", "en"]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en-US", "en"),
        ("es-es", "es"),
        ("de", "de"),
        ("EN_gb", "en"),
        (" pt-BR ", "pt"),
        ("", None),
        ("english", None),
        ("x", None),
        (None, None),
        ("12", None),
        ("de-DE", "de"),
        ("zh-Hans", "zh"),
        ("zh-Hant-TW", "zh"),
        ("ur", "ur"),
        ("ur-PK", "ur"),
        ("deu", "de"),  # ISO 639-2/T
        ("ger", "de"),  # ISO 639-2/B, as library catalogues write it
        ("eng", "en"),
        ("fre", "fr"),
        ("nob", "nb"),
        ("iw", "he"),  # withdrawn, but Java still writes it
        ("ast", None),  # Asturian has no two-letter code
        ("zz", None),
        ("xx-pirate", None),
        ("en-", "en"),
        (42, None),
    ],
)
def test_normalise_language(tag: str | None, expected: str | None) -> None:
    assert normalise_language(tag) == expected


# ---- dates ----------------------------------------------------------------------------------


def test_dates_are_timezone_aware_utc() -> None:
    entry = shared("library--chattanooga-booksforcha-feed.xml").entries[0]

    assert entry.published == datetime(2015, 3, 28, 16, 0, tzinfo=UTC)
    assert entry.published is not None
    assert entry.published.utcoffset() is not None
    # RSS has no updated date; feedparser's published-for-updated alias must not leak through.
    assert entry.updated is None


def test_atom_updated_and_missing_dates() -> None:
    atom = only_entry(shared("feed-rs--atom--atom_xml_base.xml"))
    ghost = only_entry(shared("feed-rs--rss2--rss_2.0_ghost_1.xml"))

    assert atom.published is None
    assert atom.updated == datetime(2022, 4, 21, tzinfo=UTC)
    assert ghost.published is None
    assert ghost.updated is None


# ---- images ---------------------------------------------------------------------------------


def test_guardian_pictures_come_once_each_in_their_largest_size() -> None:
    feed = shared("rss-parser--guardian.rss")

    first = feed.entries[0]
    assert len(first.images) == 1
    assert first.images[0].url.startswith(
        "https://i.guim.co.uk/img/media/b73c8752cd4667c923dff7f1542f1fb20089e421/"
    )
    assert "w=460" in first.images[0].url
    assert first.images[0].alt == ""
    assert all(len(entry.images) <= 1 for entry in feed.entries)
    assert sum(len(entry.images) for entry in feed.entries) > 40


def test_a_thumbnail_is_used_only_when_there_is_no_full_size_picture() -> None:
    youtube = only_entry(shared("feed-rs--atom--atom_mediarss_youtube_1.xml"))
    spiegel = only_entry(shared("feed-rs--rss2--rss_2.0_spiegel.xml"))

    # YouTube's media:description describes the video, not the thumbnail.
    assert youtube.images == (Image("https://i1.ytimg.com/vi/0A1ouV7iD8o/hqdefault.jpg", ""),)
    # Spiegel's audio enclosure is no picture; its image media:content is.
    assert [image.url.split("?")[0] for image in spiegel.images] == [
        "https://www.omnycontent.com/d/programs/5ac1e950-45c7-4eb7-87c0-aa0f018441b8/"
        "bb17ca27-51f4-4349-bc1e-abc00102c975/image.jpg"
    ]


def test_book_covers_of_an_opds_feed_are_pictures() -> None:
    entry = only_entry(shared("nypl-opds--feedbooks--feed_with_open_access_book.atom"))

    assert entry.images == (
        Image("http://covers.feedbooks.net/book/677.jpg?size=large&t=1428398185", ""),
    )


def test_pictures_are_deduplicated_and_keep_their_order() -> None:
    body = rss(
        "<item><guid>1</guid>"
        '<enclosure url="https://img.example/a.jpg" type="image/jpeg" length="1"/>'
        '<media:content url="https://img.example/b.jpg" medium="image"/>'
        '<media:content url="https://img.example/a.jpg" type="image/jpeg"/>'
        '<media:content url="https://img.example/talk.mp3" type="audio/mpeg"/>'
        "</item>"
    )

    images = only_entry(parse_feed(body, FEED_URL)).images

    assert [image.url for image in images] == [
        "https://img.example/a.jpg",
        "https://img.example/b.jpg",
    ]


# ---- not feeds ------------------------------------------------------------------------------


def test_json_that_is_not_a_json_feed_is_not_a_feed() -> None:
    with pytest.raises(NotAFeed, match="JSON"):
        parse_feed(b'[{"title": "a list, not a feed"}]', FEED_URL, "application/json")


def test_a_web_page_is_not_a_feed() -> None:
    page = b"<!DOCTYPE html><html><head><title>Library</title></head><body><p>Hi</p></body></html>"

    with pytest.raises(NotAFeed, match="is not an RSS or Atom feed \\(it looks like a web page\\)"):
        parse_feed(page, "https://library.example/", "text/html; charset=utf-8")


def test_an_empty_answer_is_not_a_feed() -> None:
    with pytest.raises(NotAFeed, match="empty"):
        parse_feed(b"", FEED_URL)


def test_an_empty_but_valid_feed_has_no_entries() -> None:
    feed = parse_feed(rss(""), FEED_URL)

    assert feed == ParsedFeed(title="Library news", link=None, language=None, entries=())


def test_a_body_that_names_a_local_file_is_not_read_as_that_file(tmp_path: Path) -> None:
    # Given bytes, feedparser first tries them as a file name.
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("<item><guid>1</guid><title>Private</title></item>"))

    with pytest.raises(NotAFeed):
        parse_feed(str(secret).encode(), FEED_URL)


def test_a_doctype_with_entities_does_not_blow_up() -> None:
    laughs = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 12))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "ha">{laughs}]>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>t</title>'
        "<item><guid>1</guid><title>&l11;</title></item></channel></rss>"
    ).encode()

    started = time.monotonic()
    feed = parse_feed(body, FEED_URL)

    assert time.monotonic() - started < 5
    assert len(feed.entries[0].title) < 1000


def test_broken_addresses_are_left_out_instead_of_failing_the_feed() -> None:
    body = rss(
        "<item><guid>1</guid><title>Bad host</title><link>http://[::1/event</link>"
        '<media:content url="http://[oops/a.jpg"/>'
        '<enclosure url="https://img.example:99999/b.jpg" type="image/jpeg" length="1"/></item>'
        "<item><title>Bad port</title><link>https://library.example:port/event</link></item>"
        "<item><title>Not the web</title><link>mailto:desk@library.example</link></item>"
    )

    feed = parse_feed(body, FEED_URL)

    assert [(entry.link, entry.images) for entry in feed.entries] == [(None, ())] * 3


def test_a_long_title_is_shortened_in_the_reason_an_item_was_dropped() -> None:
    title = "A very long title " * 10
    body = rss(f"<item><guid>1</guid><title>{title}</title></item>" * 2)

    (reason,) = parse_feed(body, FEED_URL).dropped

    assert "A very long title A very long title" in reason
    assert title.strip() not in reason
    assert len(reason) < 200


def test_an_enclosure_and_its_media_content_give_one_image_with_its_description() -> None:
    body = (Path(__file__).resolve().parents[1] / "examples" / "library-news.xml").read_bytes()
    parsed = parse_feed(body, "https://library.example/news/feed/")
    story_time = parsed.entries[0]
    assert story_time.images == (
        Image(
            "https://library.example/images/moomins.jpg",
            "A librarian reads a Moomin picture book to a group of small children sitting on "
            "cushions.",
        ),
    )


def test_without_a_named_picture_the_first_img_of_the_text_is_used() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>Author talk</title><guid>a1</guid><link>https://library.example/a1</link>
    <description><![CDATA[<img src="/pixel.gif" width="1" height="1">
    <p>Meet the author.</p><img src="/img/author.jpg" alt="The author at her desk">
    <img src="/img/second.jpg" alt="not this one">]]></description></item>
    </channel></rss>"""
    [entry] = parse_feed(body, "https://library.example/feed/").entries
    assert entry.images == (
        Image("https://library.example/img/author.jpg", "The author at her desk"),
    )
