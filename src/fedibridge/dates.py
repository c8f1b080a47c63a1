"""Dates as patrons read them: "26 November 2026", "26. November 2026", "26 de noviembre de
2026". Pure, and without a locale database: the operating system's locales are often missing
in containers, and Babel would be a large dependency for twelve month names. A small table
covers the languages library feeds are written in; any other language gets the ISO date
(2026-11-26), which every reader can decode.

A feed's ``date_format`` is ``"long"`` (the table's usual long date), ``"iso"``, or a pattern
with the fields {day} {month} {month_number} {year}, such as ``"{day}.{month_number}.{year}"``
(numbers without leading zeros; {month} is the month's name in the post's language).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from typing import Final

__all__ = ["DATE_FIELDS", "date_format_problem", "format_date"]

DATE_FIELDS: Final = frozenset({"day", "month", "month_number", "year"})
_NAMED_FORMATS: Final = frozenset({"long", "iso"})


@dataclass(frozen=True, slots=True)
class _Language:
    long: str  # the usual long date, as a pattern of DATE_FIELDS
    # Month names in the form a date uses (genitive or partitive where the language needs it:
    # Polish "26 listopada", Finnish "26. marraskuuta"); None where dates use numbers.
    months: tuple[str, ...] | None
    first_day: str = "1"  # French writes "1er novembre"


def _months(names: str) -> tuple[str, ...]:
    months = tuple(names.split())
    assert len(months) == 12
    return months


_LANGUAGES: Final[dict[str, _Language]] = {
    "en": _Language("{day} {month} {year}", _months(
        "January February March April May June July August September October November December"
    )),
    "de": _Language("{day}. {month} {year}", _months(
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember"
    )),
    "fr": _Language("{day} {month} {year}", _months(
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
    ), first_day="1er"),
    "es": _Language("{day} de {month} de {year}", _months(
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
    )),
    "it": _Language("{day} {month} {year}", _months(
        "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
        "dicembre"
    )),
    "nl": _Language("{day} {month} {year}", _months(
        "januari februari maart april mei juni juli augustus september oktober november december"
    )),
    "sv": _Language("{day} {month} {year}", _months(
        "januari februari mars april maj juni juli augusti september oktober november december"
    )),
    "da": _Language("{day}. {month} {year}", _months(
        "januar februar marts april maj juni juli august september oktober november december"
    )),
    "nb": _Language("{day}. {month} {year}", _months(
        "januar februar mars april mai juni juli august september oktober november desember"
    )),
    "fi": _Language("{day}. {month} {year}", _months(
        "tammikuuta helmikuuta maaliskuuta huhtikuuta toukokuuta kesäkuuta heinäkuuta elokuuta "
        "syyskuuta lokakuuta marraskuuta joulukuuta"
    )),
    "pt": _Language("{day} de {month} de {year}", _months(
        "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro"
    )),
    "pl": _Language("{day} {month} {year}", _months(
        "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października "
        "listopada grudnia"
    )),
    "ru": _Language("{day} {month} {year} \u0433.", _months(  # "year", abbreviated
        "января февраля марта апреля мая июня июля августа сентября октября ноября декабря"
    )),
    "ur": _Language("{day} {month} {year}", _months(
        "جنوری فروری مارچ اپریل مئی جون جولائی اگست ستمبر اکتوبر نومبر دسمبر"
    )),
    "zh": _Language("{year}年{month_number}月{day}日", None),
    "ja": _Language("{year}年{month_number}月{day}日", None),
    "ko": _Language("{year}년 {month_number}월 {day}일", None),
}  # fmt: skip
# Norwegian Bokmål and Nynorsk, and Norwegian without saying which: the months are the same.
_LANGUAGES["nn"] = _LANGUAGES["no"] = _LANGUAGES["nb"]


def format_date(moment: date, language: str | None, date_format: str = "long") -> str:
    """``moment`` written for readers of ``language`` (an ISO 639-1 code).

    The ISO date where the table cannot help: "long" in a language it does not have, or a
    pattern with {month} in a language it has no month names for.
    """
    iso = moment.isoformat()[:10]
    known = _LANGUAGES.get(language or "")
    if date_format == "iso" or (date_format == "long" and known is None):
        return iso
    pattern = known.long if known is not None and date_format == "long" else date_format
    names = known.months if known is not None else None
    if "{month}" in pattern and names is None:
        return iso
    first_day = known.first_day if known is not None and names is not None else "1"
    return pattern.format(
        # "1er novembre", but never "1er/11/2026".
        day=first_day if moment.day == 1 and "{month}" in pattern else str(moment.day),
        month=names[moment.month - 1] if names is not None else "",
        month_number=str(moment.month),
        year=str(moment.year),
    )


def date_format_problem(date_format: str) -> str | None:
    """Why ``date_format`` cannot be used, in words for staff; None when it can."""
    if date_format in _NAMED_FORMATS:
        return None
    try:
        parsed = list(string.Formatter().parse(date_format))
    except ValueError:
        return (
            'a { or } has no partner; write "long", "iso" or a pattern such as '
            '"{day} {month} {year}"'
        )
    names = {name for _, name, _, _ in parsed if name is not None}
    bad = sorted(names - DATE_FIELDS) + [
        name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        for _, name, spec, conversion in parsed
        if name in DATE_FIELDS and (spec or conversion)
    ]
    if bad:
        listed = ", ".join("{" + name + "}" for name in bad)
        return (
            f"{listed} is not a date field; use {{day}}, {{month}}, {{month_number}} and "
            f'{{year}}, or write "long" or "iso"'
        )
    if not names:
        return (
            'the pattern has no date field; write "long", "iso" or a pattern such as '
            '"{day} {month} {year}"'
        )
    return None
