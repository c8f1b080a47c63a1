"""Keep feed text from being read as MFM, the markup Misskey-family servers render.

Misskey renders ``**bold**``, ``$[x2 big]``, ``<center>``, ``:shortcode:`` emoji, ``> quotes``,
``[label](url)`` links that hide their address, a search box for a line ending in " Search",
and turns ``@name`` into a mention that notifies someone. Feed text is plain text: none of
that may happen by accident, and readers must see exactly the characters of the feed.

How: an invisible WORD JOINER (U+2060) goes right after the character that opens such a
span, so the span no longer parses while the text looks the same. It is one character each,
and unlike a zero-width space it adds no line-break opportunity. Backticks (inline code and
code blocks) cannot be broken that way, because code spans take any character inside, so
runs of backticks are wrapped in ``<plain>…</plain>``, which Misskey shows as literal text.
Links and hashtags are left exactly as they are, so that they keep working. ``restore``
undoes all of it, for comparing a posted note with the text it came from.

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Final

WORD_JOINER: Final = "\u2060"

# Links and hashtags stay untouched; they are meant to work (a hashtag here begins and ends
# with a letter or digit, so that no "_" at its edge can open italics). Everything after `keep` is a
# character that opens an MFM span in the right context, and gets a word joiner after it.
_TOKEN: Final = re.compile(
    r"""
    (?P<keep> https?://[^\s<>"]+ | (?<![^\s(\[])\#[^\W_](?:\w*[^\W_])? )
    | (?P<code> `+ )
    | (?P<stray> \#(?=\u2060) )              # a feed's "#tag" that render already broke
    | (?P<opener>
        \$(?=\[)                            # $[x2 functions]
      | [*_~]                               # **bold** *italic* __bold__ _italic_ ~~strike~~
      | <(?=[A-Za-z/])                      # <center> <small> <i> <b> <s> <plain> </…>
      | \\(?=[(\[])                         # \(inline math\) \[block math\]
      | \](?=\()                            # [label](url) and ?[label](url)
      | (?<![A-Za-z0-9])@(?=[A-Za-z0-9_])   # @mention (an e-mail address is no mention)
      | (?<![A-Za-z0-9]):(?=[A-Za-z0-9_+-]+:)  # :shortcode: custom emoji
    )
    """,
    re.VERBOSE,
)
# A line that starts with ">" is a quote.
_QUOTE: Final = re.compile(r"^>", re.MULTILINE)
# A line that ends with a space and "Search" (or 検索, or either in brackets) is a search box.
_SEARCH: Final = re.compile(r"[ \u3000](?=(?:search|検索|\[search\]|\[検索\])$)", re.I | re.M)
_PLAIN: Final = re.compile(r"<plain>(`+|#)</plain>")


def neutralise(text: str) -> str:
    """``text`` as MFM that formats nothing and shows the same characters."""
    text = _QUOTE.sub(WORD_JOINER + ">", text)
    text = _SEARCH.sub(lambda match: match.group() + WORD_JOINER, text)
    return _TOKEN.sub(_neutral_token, text)


def _neutral_token(match: re.Match[str]) -> str:
    if match.group("keep"):
        return match.group()
    if match.group("code") or match.group("stray"):
        # Code spans take any character, and Misskey reads "#" + joiner as a tag still.
        return f"<plain>{match.group()}</plain>"
    return match.group() + WORD_JOINER


def restore(text: str) -> str:
    """The text before ``neutralise``: what the reader sees, as the feed gave it."""
    return _PLAIN.sub(r"\1", text).replace(WORD_JOINER, "")
