"""Link hygiene shared by parse (entry identity) and render (what patrons see). Pure."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Names seen in the wild that only serve tracking. Generic names such as `source` or `ref` are
# real parameters of many catalogue links, so they are deliberately absent.
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
        "igshid", "li_fat_id", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "_ga", "_gl",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """Remove tracking parameters; everything else (order, case, fragment) stays as it was."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if not is_tracking_parameter(name)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept, doseq=True)))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def identity_url(url: str) -> str:
    """A link reduced to what identifies the page: for entry keys, never shown to anyone.

    Scheme and host are lower-cased, default ports, fragments and tracking parameters dropped,
    so `https://Library.example:443/e?utm_source=x#top` and `https://library.example/e` match.
    """
    parts = urlsplit(strip_tracking(url.strip()))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = host
    if parts.port is not None and _DEFAULT_PORTS.get(scheme) != parts.port:
        netloc = f"{host}:{parts.port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


URL_PATTERN = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
"""A URL as a server's link detector sees it in plain text (trailing punctuation excluded by
``trim_url_match``)."""

_TRAILING_PUNCTUATION = ".,;:!?)]}'\"…"


def trim_url_match(text: str) -> str:
    """Drop sentence punctuation that ends a matched URL but is not part of it."""
    trimmed = text.rstrip(_TRAILING_PUNCTUATION)
    # Keep a closing parenthesis that closes one opened inside the URL (Wikipedia links).
    while text[len(trimmed) : len(trimmed) + 1] == ")" and trimmed.count("(") > trimmed.count(")"):
        trimmed += ")"
    return trimmed
