"""Which items of a feed staff want posted: a feed's ``include`` and ``exclude`` patterns. Pure.

``plan.plan_entries`` applies the filter to new items; an item left out is recorded as
``skipped`` with a reason that names the config key, so ``fedibridge status`` can say why it
was never posted. Patterns are regular expressions, matched without regard to case against
the title, the summary (as patrons would read it, without HTML) and each category.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from fedibridge.models import Entry
from fedibridge.render import html_to_text

__all__ = ["FILTER_FIELDS", "EntryFilter", "FilterField", "compile_pattern", "filter_reason"]

FilterField = Literal["title", "summary", "categories"]
FILTER_FIELDS: Final[tuple[FilterField, ...]] = ("title", "summary", "categories")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A staff-written pattern, compiled the way fedibridge uses it: case does not matter.

    Raises ``re.error`` for a pattern that is not a regular expression.
    """
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """One feed's filter. ``key`` ("feeds.news") tells staff where the rules are written."""

    key: str
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    fields: tuple[FilterField, ...] = FILTER_FIELDS

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude)


def _texts(entry: Entry, fields: tuple[FilterField, ...]) -> Iterator[tuple[str, str]]:
    """(where, text) pairs to search, in the order of ``fields``. Each category is searched
    on its own, so that "^Cancelled$" can match one category exactly."""
    for name in fields:
        if name == "title":
            yield "title", entry.title
        elif name == "summary":
            summary = html_to_text(entry.summary) if entry.summary_is_html else entry.summary
            yield "summary", summary
        else:
            yield from (("category", category) for category in entry.categories)


def _first_match(
    patterns: tuple[re.Pattern[str], ...], texts: list[tuple[str, str]]
) -> tuple[re.Pattern[str], str] | None:
    for pattern in patterns:
        for where, text in texts:
            if pattern.search(text):
                return pattern, where
    return None


def filter_reason(entry: Entry, entry_filter: EntryFilter | None) -> str | None:
    """Why ``entry`` must not be posted, in words for staff; None when it may be.

    An ``exclude`` pattern that matches leaves the item out. Otherwise, when the feed has
    ``include`` patterns, at least one of them must match.
    """
    if entry_filter is None or not entry_filter.active:
        return None
    texts = list(_texts(entry, entry_filter.fields))
    excluded = _first_match(entry_filter.exclude, texts)
    if excluded is not None:
        pattern, where = excluded
        return f'left out by {entry_filter.key}.exclude: "{pattern.pattern}" matches its {where}'
    if entry_filter.include and _first_match(entry_filter.include, texts) is None:
        searched = ", ".join(entry_filter.fields)
        return (
            f"left out by {entry_filter.key}.include: none of its patterns matches the item's "
            f"{searched}"
        )
    return None
