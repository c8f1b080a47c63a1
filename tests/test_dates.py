# ruff: noqa: RUF001  # month names in many languages
"""{published} as patrons read it: a long date in the post's language, or an ISO date."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedibridge.dates import date_format_problem, format_date

NOV_26 = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "26 November 2026"),
        ("de", "26. November 2026"),
        ("fr", "26 novembre 2026"),
        ("es", "26 de noviembre de 2026"),
        ("it", "26 novembre 2026"),
        ("nl", "26 november 2026"),
        ("sv", "26 november 2026"),
        ("da", "26. november 2026"),
        ("nb", "26. november 2026"),
        ("no", "26. november 2026"),
        ("fi", "26. marraskuuta 2026"),
        ("pt", "26 de novembro de 2026"),
        ("pl", "26 listopada 2026"),
        ("ru", "26 ноября 2026 г."),
        ("ur", "26 نومبر 2026"),
        ("zh", "2026年11月26日"),
        ("ja", "2026年11月26日"),
        ("ko", "2026년 11월 26일"),
    ],
)
def test_the_long_date_in_each_language_of_the_table(language: str, expected: str) -> None:
    assert format_date(NOV_26, language) == expected


@pytest.mark.parametrize("language", ["tr", "el", "xx", "", None])
def test_other_languages_get_the_iso_date(language: str | None) -> None:
    assert format_date(NOV_26, language) == "2026-11-26"


def test_french_writes_the_first_of_the_month_as_1er_but_only_beside_a_month_name() -> None:
    first = date(2026, 12, 1)
    assert format_date(first, "fr") == "1er décembre 2026"
    assert format_date(first, "fr", "{day}/{month_number}/{year}") == "1/12/2026"


def test_iso_and_patterns() -> None:
    assert format_date(NOV_26, "de", "iso") == "2026-11-26"
    assert format_date(date(2026, 3, 5), "de", "{day}.{month_number}.{year}") == "5.3.2026"
    assert format_date(NOV_26, "en", "{month} {day}, {year}") == "November 26, 2026"
    # A pattern that needs a month name falls back to ISO where the table has none.
    assert format_date(NOV_26, "tr", "{day} {month} {year}") == "2026-11-26"
    assert format_date(NOV_26, "zh", "{month} {year}") == "2026-11-26"
    assert format_date(NOV_26, "tr", "{day}.{month_number}.{year}") == "26.11.2026"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("long", None),
        ("iso", None),
        ("{day} {month} {year}", None),
        ("{dya}", "{dya} is not a date field"),
        ("{day:02}", "{day:02} is not a date field"),
        ("{month!r}", "{month!r} is not a date field"),
        ("{day", "a { or } has no partner"),
        ("short", "the pattern has no date field"),
    ],
)
def test_date_format_problems_are_explained(written: str, problem: str | None) -> None:
    found = date_format_problem(written)
    assert found is None if problem is None else (found is not None and found.startswith(problem))


@given(st.dates(), st.sampled_from(["en", "de", "fr", "fi", "pl", "zh", "ur", "tr", None]))
def test_every_date_in_every_language_shows_its_year_and_day(
    moment: date, language: str | None
) -> None:
    shown = format_date(moment, language)
    assert str(moment.year) in shown
    assert str(moment.day) in shown or (moment.day == 1 and "1er" in shown)
