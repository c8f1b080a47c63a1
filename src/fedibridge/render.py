"""Entry + feed style + server limits → the post exactly as the server will receive it. Pure.

Counting follows Mastodon (``app/validators/status_length_validator.rb``): every link the server
recognises weighs ``characters_per_url``, everything else counts by grapheme cluster, and the
content warning counts too. Where we cannot know exactly what the server will see we count a
little more, never less: a post that is a few characters short of the limit is harmless, a post
that is one character over is refused.

The output is plain text, exactly what a Mastodon-API server receives. Feed text in it cannot
mention anyone, make a hashtag other than the post's own, or carry control characters and
bidi overrides (``defuse``, ``plain_feed_text``). Servers that render markup (Misskey's MFM)
get the text escaped by their publisher, not here.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Final

from fedibridge.dates import cancelled_word, format_date, format_day, format_time, format_when
from fedibridge.events import is_cancelled_title
from fedibridge.models import ContentWarningRule, Entry, Event, Image, Post, ServerLimits, Style
from fedibridge.urls import URL_PATTERN, strip_tracking, trim_url_match

__all__ = [
    "EVENT_FIELDS",
    "TEMPLATE_FIELDS",
    "WORD_JOINER",
    "content_warning",
    "count_length",
    "defuse",
    "hashtag",
    "hashtags_for",
    "html_to_text",
    "plain_feed_text",
    "raw_length",
    "render",
    "template_fields",
    "truncate",
]

# Fields of events (a calendar's items, or RSS items with event dates); empty for others.
EVENT_FIELDS: Final = frozenset({"starts", "ends", "when", "location", "date", "time"})
TEMPLATE_FIELDS: Final = (
    frozenset({"title", "summary", "link", "hashtags", "feed", "published", "author", "categories"})
    | EVENT_FIELDS
)

ELLIPSIS: Final = "…"


# --------------------------------------------------------------------------------------------
# HTML → text
# --------------------------------------------------------------------------------------------

# Elements that start a new paragraph. A post has no layout, so a blank line is all we keep.
_BLOCKS: Final = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "center", "dd", "details",
        "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "main", "nav", "ol", "p",
        "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_LISTS: Final = frozenset({"ul", "ol", "menu"})
_CELLS: Final = frozenset({"td", "th"})
# Their text is code, styling or fallback for absent features: never something to post.
_HIDDEN: Final = frozenset({"script", "style", "template", "noscript", "svg", "math", "iframe"})
_BULLET: Final = "• "
# List items that already start with a marker of their own ("• Dune", "📚 Dune", "- Dune")
# get no second one: a screen reader would read "bullet, books, Dune".
_MARKERS: Final = frozenset("•◦‣▪▫●○■□►▸▹▶➤→✓✔✗✘☐☑*-\u2013\u2014")


def _has_own_marker(text: str) -> bool:
    first = text[0]
    # Symbols from the arrows block on are pictographs and emoji; below it are ©, ® and °.
    return first in _MARKERS or (unicodedata.category(first) == "So" and ord(first) >= 0x2190)


class _TextExtractor(HTMLParser):
    """Collects lines; an empty string in ``lines`` stands for a paragraph break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._buffer: list[str] = []
        self._bullet = False
        self._hidden = 0
        self._pre = 0
        # How many list items are open, and how many were open when each list started, so an
        # unclosed <li> (common in hand-written HTML) cannot swallow the rest of the text.
        self._items = 0
        self._items_at_list_start: list[int] = []

    # Lines -------------------------------------------------------------------------------

    def _end_line(self, *, forced: bool = False) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer.clear()
        if self._bullet:
            if not text:
                return  # an empty list item: keep the bullet for the text still to come
            text = text if _has_own_marker(text) else _BULLET + text
            self._bullet = False
        if text or forced:
            self.lines.append(text)

    def _break_paragraph(self) -> None:
        self._end_line()
        # Inside a list item a paragraph is only a new line: blank lines would break the list.
        if self._items == 0:
            self.lines.append("")

    # Parser callbacks --------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif self._hidden:
            return
        elif tag == "br":
            self._end_line(forced=True)
        elif tag == "li":
            self._end_line()
            self._items = (self._items_at_list_start[-1] if self._items_at_list_start else 0) + 1
            self._bullet = True
        elif tag in _LISTS:
            self._break_paragraph()
            self._items_at_list_start.append(self._items)
        elif tag in _BLOCKS:
            self._break_paragraph()
            self._pre += tag == "pre"
        elif tag in _CELLS:
            self._buffer.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> must not also count as a closing </br>; <p/> is an empty paragraph either way.
        self.handle_starttag(tag, attrs)
        if tag not in _HIDDEN and tag != "br":
            self.handle_endtag(tag)
        elif tag in _HIDDEN:
            self._hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif self._hidden:
            return
        elif tag == "li":
            self._end_line()
            self._items = self._items_at_list_start[-1] if self._items_at_list_start else 0
        elif tag in _LISTS:
            if self._items_at_list_start:
                self._items = self._items_at_list_start.pop()
            self._break_paragraph()
        elif tag in _BLOCKS:
            self._pre = max(0, self._pre - (tag == "pre"))
            self._break_paragraph()
        elif tag in _CELLS:
            self._buffer.append(" ")

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if not self._pre:
            self._buffer.append(data)
            return
        first, *rest = data.split("\n")
        self._buffer.append(first)
        for line in rest:
            self._end_line(forced=True)
            self._buffer.append(line)

    def text(self) -> str:
        self._end_line()
        return _join_lines(self.lines)


def _join_lines(lines: Iterable[str]) -> str:
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: paragraphs as blank lines, list items as "• " lines.

    Link targets, images, scripts and styles are dropped; anchor text is kept. Broken markup
    gives the best text the parser could make of it, never an exception.
    """
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser has raised on odd markup in the past: text beats a crash
        crude = unescape(re.sub(r"<[^>]*>", " ", html))
        return _join_lines(" ".join(line.split()) for line in crude.split("\n"))
    return extractor.text()


# --------------------------------------------------------------------------------------------
# Hashtags
# --------------------------------------------------------------------------------------------

# Mastodon (app/models/tag.rb) accepts these inside a tag but not at its ends: the middle dot
# of Catalan "col·lecció" and the zero-width non-joiner that Persian and Urdu spelling needs.
_INNER_JOINERS: Final = "\u00b7\u200c"


def _is_word_char(char: str) -> bool:
    # Ruby's [[:word:]], which Mastodon's hashtag pattern uses: letters, marks, decimal digits
    # and connector punctuation. Python's \w differs (it lacks the marks of Indic scripts).
    category = unicodedata.category(char)
    return category[0] in "LM" or category in ("Nd", "Pc")


def _words(label: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for index, char in enumerate(label):
        joins = (
            char in _INNER_JOINERS
            and bool(current)
            and index + 1 < len(label)
            and _is_word_char(label[index + 1])
        )
        if _is_word_char(char) or joins:
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def hashtag(label: str) -> str | None:
    """The hashtag for a category, without "#": "Story time" → "StoryTime".

    Every run of characters that cannot be in a tag separates words; each word gets a capital
    first letter (the rest keeps its case, so "YA" stays "YA"). None when no letter remains:
    Mastodon links a tag only when it has a letter, so not "#2024" (nor "#___").
    """
    words = _words(label.lstrip("#"))
    tag = "".join(word[0].upper() + word[1:] for word in words)
    if not any(unicodedata.category(char)[0] == "L" for char in tag):
        return None
    return tag


def hashtags_for(entry_categories: Iterable[str], extra: Iterable[str]) -> list[str]:
    """ "#Tag" strings: the entry's categories first, then the feed's own tags, each once.

    Two labels giving the same tag in a different case ("Teens", "teens") give one tag, in the
    form seen first, because Mastodon treats tags case-insensitively.
    """
    seen: set[str] = set()
    tags: list[str] = []
    for label in (*entry_categories, *extra):
        tag = hashtag(label)
        if tag is not None and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append("#" + tag)
    return tags


# --------------------------------------------------------------------------------------------
# Feed text made safe: no mentions, no stray tags, no hidden formatting
# --------------------------------------------------------------------------------------------

WORD_JOINER: Final = "\u2060"
"""Invisible, no line-break opportunity, ignored by screen readers, and not a character any
server allows inside a username or (on Mastodon) a hashtag: after an "@" or "#" it keeps the
server from reading a mention or tag while readers see the same text. Mastodon counts it as
one character (its own grapheme cluster), and so does ``count_length``."""

_MARKS: Final = re.compile("[@#\uff20\uff03]")
# Characters Mastodon allows inside a tag besides word characters (app/models/tag.rb).
_TAG_SEPARATORS: Final = "\u00b7\u30fb\u200c"
# C0 and C1 controls other than tab and newline, and the bidi embeddings and overrides
# (LRE, RLE, PDF, LRO, RLO): an unclosed RLO in a title would show the rest of the line
# reversed, the link and tags included. Isolates (U+2066-2069) and LRM/RLM stay: they are
# what careful writers of right-to-left text use, and their effect ends with the paragraph.
_HIDDEN_FORMATTING: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def plain_feed_text(text: str) -> str:
    """Feed text without control characters or bidi overrides; line ends as "\\n"."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _HIDDEN_FORMATTING.sub("", text)


def _tag_name(text: str, start: int) -> str:
    """The tag a server would read from the "#" just before ``start``."""
    end = start
    while end < len(text) and (_is_word_char(text[end]) or text[end] in _TAG_SEPARATORS):
        end += 1
    return text[start:end].rstrip(_TAG_SEPARATORS)


def _starts_live_mark(text: str, index: int, live_tags: frozenset[str] | None) -> bool:
    """Whether a server could read a mention or a tag from the mark at ``index``."""
    following = text[index + 1 : index + 2]
    if not following or not _is_word_char(following):
        return False  # "C#", "# 5", "@ 10am": nothing to link
    previous = text[index - 1] if index else " "
    if text[index] in "@\uff20":
        # After a word character it is an e-mail address, which no server makes a mention
        # (Mastodon's MENTION_RE); it stays intact so that it can still be copied.
        return not _is_word_char(previous)
    # "item#5" and "QA76.73#2" are no tags anywhere. Only an ASCII letter or digit counts:
    # Misskey reads "ü#tag" as a tag although Mastodon does not.
    if previous.isascii() and previous.isalnum():
        return False
    return live_tags is not None and _tag_name(text, index + 1).casefold() not in live_tags


def defuse(text: str, live_tags: Iterable[str] | None = ()) -> str:
    """``text`` from a feed, looking the same but unable to mention or tag anyone.

    A word joiner goes after every "@" that could start a mention (every mention in a feed
    would notify a stranger of that name on the server) and after every "#" that could start
    a tag, except the tags in ``live_tags`` (with or without "#", any case): the post's own
    tags, which are wanted anyway. ``live_tags=None`` keeps every tag. Links are left exactly
    as they are, "@" and "#" inside them included.
    """
    links = [
        (match.start(), match.start() + len(trim_url_match(match.group())))
        for match in URL_PATTERN.finditer(text)
    ]
    keep = None if live_tags is None else frozenset(t.lstrip("#").casefold() for t in live_tags)
    pieces: list[str] = []
    done = 0
    for match in _MARKS.finditer(text):
        index = match.start()
        in_link = any(start <= index < end for start, end in links)
        if not in_link and _starts_live_mark(text, index, keep):
            pieces += [text[done : index + 1], WORD_JOINER]
            done = index + 1
    return "".join(pieces) + text[done:]


# --------------------------------------------------------------------------------------------
# Length counting
# --------------------------------------------------------------------------------------------

_ZWJ: Final = "\u200d"
_ZWNJ: Final = "\u200c"
# Spacing marks that start a cluster of their own under UAX #29 (Myanmar, Tai Tham, ...):
# letting them join the character before would count less than the server does.
_MC_BREAKS: Final = frozenset(
    "\u102b\u102c\u1038\u1062\u1063\u1064\u1067\u1068\u1069\u106a\u106b\u106c\u106d\u1083"
    "\u1087\u1088\u1089\u108a\u108b\u108c\u108f\u109a\u109b\u109c\u1a61\u1a63\u1a64\uaa7b"
    "\uaa7d\U00011720\U00011721"
)
# Thai and Lao SARA AM are letters by category but never start a cluster of their own.
_LETTER_EXTENDERS: Final = frozenset("\u0e33\u0eb3")
# After these a new cluster always starts (UAX #29 GB4/GB5: Control, CR, LF).
# Surrogates and code points unassigned in our Unicode version are treated the same way, since
# the server's newer Unicode may make them controls.
_CLUSTER_BARRIERS: Final = frozenset({"Cc", "Zl", "Zp", "Cf", "Cs", "Cn"})


def _extends(char: str) -> bool:
    """Whether ``char`` joins the cluster of the character before it."""
    if char in (_ZWJ, _ZWNJ) or char in _LETTER_EXTENDERS:
        return True
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF:
        return True
    return unicodedata.category(char) in ("Mn", "Me", "Mc") and char not in _MC_BREAKS


def _starts_cluster(previous: str | None, char: str) -> bool:
    if previous is None or not _extends(char):
        return True
    barrier = unicodedata.category(previous) in _CLUSTER_BARRIERS
    return barrier and previous not in (_ZWJ, _ZWNJ)


def _count_clusters(text: str, previous: str | None = None) -> int:
    # Every character starts a cluster except some outside ASCII (no ASCII character joins
    # the one before it), so only those are looked at: most posts are mostly ASCII.
    count = len(text)
    for match in _NON_ASCII.finditer(text):
        index = match.start()
        count -= not _starts_cluster(text[index - 1] if index else previous, match.group())
    return count


_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")


# Characters that every link detector we know keeps inside a URL (RFC 3986, ASCII only).
_URL_SAFE: Final = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&*+,;=%()")
# Mastodon's pattern lets a URL end only on these (twitter-text valid_url_*_ending_chars).
_URL_ENDING: Final = frozenset(string.ascii_letters + string.digits + "=_#/-)")
_HOST: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+([a-z]{2,})", re.IGNORECASE)
# Mastodon links only hosts under a known top-level domain. We cannot carry the whole list,
# but intranet names must not pass for links: a long one would count far less than it should.
_NOT_TLDS: Final = frozenset(
    {"corp", "example", "home", "internal", "intranet", "invalid", "lan", "local", "localhost",
     "test"}
)  # fmt: skip
# twitter-text's valid_url_preceding_chars: after these the server sees no link at all.
_NOT_BEFORE_URL: Final = frozenset("@$#\uff20\uff03\ufeff\ufffe\uffff")


def _host_is_plausible(url: str) -> bool:
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    host = _HOST.fullmatch(re.sub(r":\d+$", "", authority))
    return host is not None and host.group(1).lower() not in _NOT_TLDS


def _balanced_parentheses(url: str) -> bool:
    depth = 0
    for char in url:
        depth += (char == "(") - (char == ")")
        if not 0 <= depth <= 1:
            return False
    return depth == 0


def _linked_part(url: str) -> str:
    """The longest start of ``url`` that Mastodon surely turns into a link (may be shorter)."""
    end = next((i for i, char in enumerate(url) if char not in _URL_SAFE), len(url))
    linked = url[:end]
    if not _balanced_parentheses(linked):
        linked = linked[: min(i for i, char in enumerate(linked) if char in "()")]
    while linked and linked[-1] not in _URL_ENDING:
        linked = linked[:-1]
    return linked


def _url_weight(text: str, start: int, url: str, per_url: int) -> int:
    before = text[start - 1] if start else " "
    linked = _linked_part(url)
    if before.isalnum() or before in _NOT_BEFORE_URL or not _host_is_plausible(linked):
        # Mastodon counts this one character by character, unless its link detector knows
        # better than ours: the larger of the two can never be too little.
        return max(per_url, _count_clusters(url))
    return per_url + _count_clusters(url[len(linked) :], linked[-1])


def raw_length(text: str) -> int:
    """``text``'s length in UTF-16 code units: what JavaScript's ``length`` says, and never
    less than its code points."""
    return len(text.encode("utf-16-le")) // 2


def count_length(text: str, characters_per_url: int | None) -> int:
    """How many characters a Mastodon server counts in ``text``; never fewer.

    Each http(s) link weighs ``characters_per_url`` (its real length when None, for servers
    that count every character). The rest counts by grapheme cluster, with a conservative
    approximation of Unicode's rules, since the standard library has no segmentation:
    combining marks, variation selectors, skin-tone modifiers, ZWJ and ZWNJ join the character
    before them, every other code point counts one. So ordinary text in Latin, Cyrillic, Greek,
    CJK, Arabic, Urdu, Devanagari and Thai counts exactly, while these count more than the
    server does: emoji joined by ZWJ (👩‍💻 is 2), flags (🇩🇪 is 2), tag sequences, decomposed
    Hangul, and Indic conjuncts under Unicode 15.1's rule GB9c (क्ष is 2 here, 1 on a server
    whose Unicode is that new; servers with older Unicode count 2 as we do).

    Links count more than ``characters_per_url`` where Mastodon would link only part of them
    (characters outside ASCII, unbalanced parentheses), and count in full where it would not
    link them (a host without a dot or under an intranet name such as ".local", or a link glued
    to a preceding letter as in "seehttps://…"). Mastodon also refuses top-level domains not in
    its list; such a link (rare: a made-up TLD) is counted as a link here.
    A mention counts in full, although Mastodon counts only its "@user" part: never less.
    Feed text holds no mentions once ``defuse`` has broken them (then Mastodon counts them in
    full too, word joiner included), so only mentions staff write in a template count more.

    Without a weight per link (``characters_per_url`` None) the server counts raw: every
    character of every link, and characters rather than grapheme clusters. Takahē and
    GoToSocial count code points, Misskey counts as JavaScript does (UTF-16 code units, so an
    emoji beyond the BMP is two); the count is in UTF-16 code units, never less than either.
    """
    if characters_per_url is None:
        return raw_length(text)
    total = 0
    position = 0
    previous: str | None = None
    for match in URL_PATTERN.finditer(text):
        url = trim_url_match(match.group())
        start = match.start()
        total += _count_clusters(text[position:start], previous)
        total += _url_weight(text, start, url, characters_per_url)
        position = start + len(url)
        previous = url[-1]
    return total + _count_clusters(text[position:], previous)


# --------------------------------------------------------------------------------------------
# Truncation
# --------------------------------------------------------------------------------------------

_TOKEN: Final = re.compile(r"\S+")
# Left dangling before "…" these read as a mistake: "Stories, songs and…" not "songs and,…".
_DANGLING: Final = " \t\n\r\f\v\u00a0,;:-\u2013\u2014([{&\u201c\u2018\u00ab\u201e\u00a1\u00bf•|"

Measure = Callable[[str], int]


def _is_protected(token: str) -> bool:
    """Tokens that must be kept whole or dropped: a cut link, tag or mention points elsewhere.

    Any "#" or "@" counts, wherever it is in the token ("(#StoryTime)", "email@host").
    """
    return any(mark in token for mark in "#@\uff03\uff20") or URL_PATTERN.search(token) is not None


def _url_end(text: str) -> int:
    """Where the last link in ``text`` ends (0 when there is none)."""
    end = 0
    for match in URL_PATTERN.finditer(text):
        end = match.start() + len(trim_url_match(match.group()))
    return end


def _with_ellipsis(prefix: str) -> str:
    url_end = _url_end(prefix)
    kept = prefix.rstrip(_DANGLING)
    if len(kept) < url_end:
        kept = prefix[:url_end]
    if not kept.strip():
        return ""
    # Glued to a link, "…" could be read as part of its address by some link detectors.
    return kept + (" " + ELLIPSIS if url_end == len(kept) and url_end else ELLIPSIS)


def _largest_fitting(cuts: list[int], text: str, budget: int, measure: Measure) -> str:
    """The longest ``text[:cut] + "…"`` that fits; ``cuts`` ascending. Binary search works
    because a longer prefix never measures less."""
    best = ""
    low, high = 0, len(cuts) - 1
    while low <= high:
        middle = (low + high) // 2
        candidate = _with_ellipsis(text[: cuts[middle]])
        # An empty candidate (only punctuation before the cut) fits but is not worth keeping;
        # searching on past it keeps the search monotonic.
        if measure(candidate) <= budget:
            best, low = candidate or best, middle + 1
        else:
            high = middle - 1
    return best


def _cluster_cuts(text: str, start: int, end: int) -> list[int]:
    """Places inside ``text[start:end]`` where a cut leaves every character with its marks
    (and keeps emoji ZWJ sequences and flag pairs together)."""
    cuts: list[int] = []
    regional_run = 0
    for index in range(start + 1, end):
        previous, char = text[index - 1], text[index]
        regional = 0x1F1E6 <= ord(char) <= 0x1F1FF
        regional_run = regional_run + 1 if 0x1F1E6 <= ord(previous) <= 0x1F1FF else 0
        pairs_flag = regional and regional_run % 2 == 1
        if _starts_cluster(previous, char) and previous != _ZWJ and not pairs_flag:
            cuts.append(index)
    return cuts


def _shorten(text: str, budget: int, measure: Measure) -> str:
    tokens = list(_TOKEN.finditer(text))
    best = _largest_fitting([token.end() for token in tokens], text, budget, measure)
    if best or not tokens or _is_protected(tokens[0].group()):
        return best
    first = tokens[0]
    return _largest_fitting(_cluster_cuts(text, first.start(), first.end()), text, budget, measure)


def truncate(text: str, budget: int, characters_per_url: int | None) -> str:
    """``text`` cut to at most ``budget`` characters as ``count_length`` counts them.

    Unchanged when it fits. Otherwise the longest run of whole words that fits, with dangling
    punctuation removed and "…" (which counts 1) added. Links, #hashtags and @mentions are
    kept whole or left out. Only a first word that is too long on its own is cut inside, at a
    character boundary. "" when nothing meaningful fits.
    """
    if budget <= 0:
        return ""
    if count_length(text, characters_per_url) <= budget:
        return text
    return _shorten(text, budget, lambda candidate: count_length(candidate, characters_per_url))


# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------

Template = list[tuple[str, str | None]]

_BRACE_HELP: Final = "Write fields like {title}; to show a brace itself, write it twice: {{ or }}."


def _parse_template(template: str) -> Template:
    """(literal text, field name or None) pairs. Raises ValueError with a message for staff."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError(
            f"The template has a {{ or }} without its partner. {_BRACE_HELP}"
        ) from None
    pieces: Template = []
    for literal, name, format_spec, conversion in parsed:
        if name is not None:
            _check_field(name, format_spec, conversion)
        pieces.append((literal, name))
    return pieces


def _check_field(name: str, format_spec: str | None, conversion: str | None) -> None:
    if not name.strip():
        raise ValueError(f"The template has an empty {{}}. {_BRACE_HELP}")
    if not name.isidentifier() or format_spec or conversion:
        whole = (
            name
            + (f"!{conversion}" if conversion else "")
            + (f":{format_spec}" if format_spec else "")
        )
        raise ValueError(
            f"{{{whole}}} in the template is not a field. {_BRACE_HELP} Fields: {_field_list()}."
        )


def _field_list() -> str:
    return ", ".join("{" + name + "}" for name in sorted(TEMPLATE_FIELDS))


def template_fields(template: str) -> set[str]:
    """The field names a template uses (unknown ones too, for the caller to report).

    Raises ValueError, with a message staff can act on, when the template is malformed.
    """
    return {name for _, name in _parse_template(template) if name is not None}


def _fill(template: Template, fields: Mapping[str, str]) -> str:
    text = "".join(
        literal + (fields[name] if name is not None else "") for literal, name in template
    )
    lines = "\n".join(line.rstrip() for line in text.split("\n"))
    # An empty field must not leave a hole of blank lines behind it.
    return re.sub(r"\n{3,}", "\n\n", lines).strip()


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _clean_url(url: str) -> str:
    try:
        return strip_tracking(url)
    except ValueError:  # urlsplit refuses some malformed links ("http://[x"): show as given
        return url


def _clean_urls_in(text: str) -> str:
    def clean(match: re.Match[str]) -> str:
        url = trim_url_match(match.group())
        return _clean_url(url) + match.group()[len(url) :]

    return URL_PATTERN.sub(clean, text)


# A line of one character repeated, such as "* * *", "-----" or "=====": decoration, which a
# screen reader reads out one character at a time ("star, star, star").
_SEPARATOR_LINE: Final = re.compile(
    r"^[ \t]*([-\u2010-\u2015_=*~.·•+#─━═◆◇♦❖])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE
)


def _plain_summary(entry: Entry) -> str:
    text = html_to_text(entry.summary) if entry.summary_is_html else entry.summary
    return plain_feed_text(text).strip()


def _summary_text(entry: Entry) -> str:
    summary = _SEPARATOR_LINE.sub("", _plain_summary(entry))
    return _clean_urls_in(_join_lines(summary.split("\n")))


def _one_line(text: str | None) -> str:
    return " ".join(plain_feed_text(text or "").split())


def _fields(entry: Entry, style: Style, tags: list[str]) -> dict[str, str]:
    """The template's fields. Every one that comes from the feed is defused (no mentions, no
    tags but the post's own); the link and the hashtags are the bridge's own."""
    live = None if style.keep_feed_hashtags else tags
    language = style.language or entry.language
    # The date as the library's staff and patrons see it, not the UTC one (a US evening is
    # already tomorrow in UTC).
    published = entry.published.astimezone(style.timezone).date() if entry.published else None
    from_feed = {
        "title": _clean_urls_in(_one_line(_title(entry, language))),
        "summary": _summary_text(entry),
        "feed": _one_line(style.feed_title),
        "author": _one_line(entry.author),
        "categories": ", ".join(_one_line(label) for label in entry.categories),
    }
    return {
        **{name: defuse(value, live) for name, value in from_feed.items()},
        "link": _clean_url(entry.link) if entry.link else "",
        "hashtags": " ".join(tags),
        "published": format_date(published, language, style.date_format) if published else "",
        **_event_fields(entry.event, style, language, live),
    }


def _day_and_time(moment: datetime, all_day: bool, language: str | None) -> str:
    day = format_day(moment.date(), language)
    return day if all_day else f"{day}, {format_time(moment)}"


def _title(entry: Entry, language: str | None) -> str:
    """The title; a cancelled event's says so, when the website's title does not."""
    event = entry.event
    if event is None or not event.cancelled or is_cancelled_title(entry.title):
        return entry.title
    return f"{cancelled_word(language).upper()}: {entry.title}"


def _event_fields(
    event: Event | None, style: Style, language: str | None, live: list[str] | None
) -> dict[str, str]:
    """{starts} "Saturday 6 December, 10:30", {ends}, {when} "Saturday 6 December,
    10:30-11:30" or "…, all day", {date} (as {published}), {time} "10:30", {location}; in the
    library's zone (DST included) and the post's language."""
    if event is None:
        return dict.fromkeys(EVENT_FIELDS, "")
    starts = event.starts.astimezone(style.timezone)
    ends = event.ends.astimezone(style.timezone) if event.ends else None
    last = ends - timedelta(days=1) if ends is not None and event.all_day else ends
    return {
        "starts": _day_and_time(starts, event.all_day, language),
        "ends": "" if last is None else _day_and_time(last, event.all_day, language),
        "when": format_when(starts, ends, event.all_day, language),
        "date": format_date(starts.date(), language, style.date_format),
        "time": "" if event.all_day else format_time(starts),
        "location": defuse(_one_line(event.location), live),
    }


def _label(category: str) -> str:
    return " ".join(category.split()).casefold()


def _warns(rule: ContentWarningRule, labels: set[str], searched: str) -> bool:
    if any(_label(category) in labels for category in rule.categories):
        return True
    return rule.pattern is not None and rule.pattern.search(searched) is not None


def content_warning(entry: Entry, style: Style) -> str:
    """The post's content warning: the feed's ``spoiler_text``, then the text of every rule
    that applies to ``entry``, each text once, joined with ", ".

    A rule applies when the item has one of its categories (ignoring case and spacing) or
    when its pattern is found in the title or the summary, as patrons read them.
    """
    texts = [style.spoiler_text.strip()]
    if style.content_warnings:
        labels = {_label(category) for category in entry.categories}
        searched = f"{entry.title}\n{_plain_summary(entry)}"
        texts += [
            rule.text.strip() for rule in style.content_warnings if _warns(rule, labels, searched)
        ]
    return ", ".join(dict.fromkeys(text for text in texts if text))


def _shrink_field(
    template: Template, fields: dict[str, str], name: str, budget: int, measure: Measure
) -> dict[str, str]:
    """``fields`` with ``name`` cut so the text fits, or emptied when no part of it fits."""
    value = fields[name]
    room = budget - measure(_fill(template, {**fields, name: ""}))
    while room > 0 and value:
        candidate = {**fields, name: _shorten_or_keep(value, room, measure)}
        # The room left out the separators that come back around a field that is not empty:
        # take whatever is still over off the room, and cut again.
        over = measure(_fill(template, candidate)) - budget
        if over <= 0:
            return candidate
        room -= over
    return {**fields, name: ""}


def _shorten_or_keep(value: str, room: int, measure: Measure) -> str:
    return value if measure(value) <= room else _shorten(value, room, measure)


def _fit_text_fields(
    template: Template, fields: dict[str, str], budget: int, measure: Measure
) -> str:
    text = _fill(template, fields)
    for name in ("summary", "title"):
        if measure(text) <= budget:
            return text
        fields = _shrink_field(template, fields, name, budget, measure)
        text = _fill(template, fields)
    return text


def _fit(
    template: Template, fields: dict[str, str], tags: list[str], budget: int, measure: Measure
) -> str:
    """The text, shortened in the order that loses least: summary, then title, then tags.

    After a tag is dropped, summary and title are fitted again from their full text, so the
    room the tag leaves goes to them rather than to nothing.
    """
    text = _fit_text_fields(template, fields, budget, measure)
    kept = len(tags)
    while kept and measure(text) > budget:
        kept -= 1
        fewer = {**fields, "hashtags": " ".join(tags[:kept])}
        text = _fit_text_fields(template, fewer, budget, measure)
    return text


def _unknown_fields_error(names: set[str]) -> ValueError:
    listed = ", ".join("{" + name + "}" for name in sorted(names))
    return ValueError(f"The template uses {listed}, which is not a field. Fields: {_field_list()}.")


def _alt_text(image: Image, fallback: str, limit: int) -> str:
    # Never an empty description: a screen reader would read the file name, or nothing.
    alt = " ".join(image.alt.split()) or " ".join(fallback.split()) or "Image"
    if len(alt) <= limit:
        return alt
    # The server checks alt text by code points (Rails' length), not by grapheme cluster.
    return _shorten(alt, limit, len) or alt[: max(limit - 1, 0)] + ELLIPSIS


def render(entry: Entry, style: Style, limits: ServerLimits) -> Post:
    """The post for ``entry``: the feed's template filled in and fitted to the server's limit.

    Raises ValueError only for a template that config validation should have refused.
    """
    template = _parse_template(style.template)
    unknown = {name for _, name in template if name is not None} - TEMPLATE_FIELDS
    if unknown:
        raise _unknown_fields_error(unknown)
    per_url = limits.characters_per_url

    def measure(text: str) -> int:
        return count_length(text, per_url)

    tags = hashtags_for(entry.categories, style.hashtags)
    fields = _fields(entry, style, tags)
    spoiler_text = content_warning(entry, style)
    # Mastodon counts the content warning raw, links included, in the same limit.
    warning = count_length(spoiler_text, None)
    text = _fit(template, fields, tags, limits.max_characters - warning, measure)
    fallback = _fill(_parse_template(style.image_description), _fields(entry, style, tags))
    media = tuple(
        Image(image.url, _alt_text(image, fallback, limits.description_limit))
        for image in (entry.images if style.media else ())[: limits.max_media]
    )
    return Post(
        text=text,
        length=measure(text) + warning,
        limit=limits.max_characters,
        visibility=style.visibility,
        language=style.language or entry.language,
        spoiler_text=spoiler_text,
        # Mastodon makes every post with a content warning sensitive; saying so here keeps
        # other servers, and the edit of a post, from showing its pictures uncovered.
        sensitive=style.sensitive or bool(spoiler_text),
        link=fields["link"] or None,
        media=media,
    )
