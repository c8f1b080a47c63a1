"""Dates as patrons read them: "26 November 2026", "26. November 2026", "26 de noviembre de
2026". Pure, and without a locale database: the operating system's locales are often missing
in containers, and Babel would be a large dependency for twelve month names. A small table
covers the languages library feeds are written in; any other language gets the ISO date
(2026-11-26), which every reader can decode.

A feed's ``date_format`` is ``"long"`` (the table's usual long date), ``"iso"``, or a pattern
with the fields {day} {month} {month_number} {year}, such as ``"{day}.{month_number}.{year}"``
(numbers without leading zeros; {month} is the month's name in the post's language).

Events are written with their weekday and a 24-hour time: "Saturday 6 December, 10:30",
"Samstag, 6. Dezember, 10:30" (``format_day``, ``format_when``). Without a year: a calendar
is read a few weeks ahead.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

__all__ = [
    "DATE_FIELDS",
    "cancelled_word",
    "date_format_problem",
    "format_date",
    "format_day",
    "format_time",
    "format_when",
]

_DASH: Final = "\u2013"  # EN DASH, between the ends of a range
DATE_FIELDS: Final = frozenset({"day", "month", "month_number", "year"})
_NAMED_FORMATS: Final = frozenset({"long", "iso"})


@dataclass(frozen=True, slots=True)
class _Language:
    long: str  # the usual long date, as a pattern of DATE_FIELDS
    # Month names in the form a date uses (genitive or partitive where the language needs it:
    # Polish "26 listopada", Finnish "26. marraskuuta"); None where dates use numbers.
    months: tuple[str, ...] | None
    first_day: str = "1"  # French writes "1er novembre"


@dataclass(frozen=True, slots=True)
class _Days:
    """How an event's day is written: a pattern of {weekday} {day} {month} {month_number},
    the weekdays from Monday, and the words for an event that lasts all day."""

    pattern: str
    weekdays: tuple[str, ...]
    all_day: str
    cancelled: str


def _months(names: str) -> tuple[str, ...]:
    months = tuple(names.split())
    assert len(months) == 12
    return months


def _days(pattern: str, weekdays: str, all_day: str, cancelled: str) -> _Days:
    names = tuple(weekdays.split())
    assert len(names) == 7
    return _Days(pattern, names, all_day, cancelled)


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

_SCANDINAVIAN = "mandag tirsdag onsdag torsdag fredag lørdag søndag"
_EVENT_DAYS: Final[dict[str, _Days]] = {
    "en": _days(
        "{weekday} {day} {month}",
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
        "all day", "cancelled",
    ),
    "de": _days(
        "{weekday}, {day}. {month}",
        "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
        "ganztägig", "abgesagt",
    ),
    "fr": _days(
        "{weekday} {day} {month}",
        "lundi mardi mercredi jeudi vendredi samedi dimanche",
        "toute la journée", "annulé",
    ),
    "es": _days(
        "{weekday} {day} de {month}",
        "lunes martes miércoles jueves viernes sábado domingo",
        "todo el día", "cancelado",
    ),
    "it": _days(
        "{weekday} {day} {month}",
        "lunedì martedì mercoledì giovedì venerdì sabato domenica",
        "tutto il giorno", "annullato",
    ),
    "nl": _days(
        "{weekday} {day} {month}",
        "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
        "de hele dag", "geannuleerd",
    ),
    "sv": _days(
        "{weekday} {day} {month}",
        "måndag tisdag onsdag torsdag fredag lördag söndag",
        "hela dagen", "inställt",
    ),
    "da": _days(
        "{weekday} {day}. {month}",
        _SCANDINAVIAN,
        "hele dagen", "aflyst",
    ),
    "nb": _days(
        "{weekday} {day}. {month}",
        _SCANDINAVIAN,
        "hele dagen", "avlyst",
    ),
    "fi": _days(
        "{weekday} {day}. {month}",
        "maanantai tiistai keskiviikko torstai perjantai lauantai sunnuntai",
        "koko päivän", "peruttu",
    ),
    "pt": _days(
        "{weekday}, {day} de {month}",
        "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
        "o dia todo", "cancelado",
    ),
    "pl": _days(
        "{weekday}, {day} {month}",
        "poniedziałek wtorek środa czwartek piątek sobota niedziela",
        "cały dzień", "odwołane",
    ),
    "ru": _days(
        "{weekday}, {day} {month}",
        "понедельник вторник среда четверг пятница суббота воскресенье",
        "весь день", "отменено",
    ),
    "ur": _days(
        "{weekday} {day} {month}",
        "پیر منگل بدھ جمعرات جمعہ ہفتہ اتوار",
        "سارا دن", "منسوخ",
    ),
    "zh": _days(
        "{month_number}月{day}日 {weekday}",
        "星期一 星期二 星期三 星期四 星期五 星期六 星期日",
        "全天", "已取消",
    ),
    "ja": _days(
        "{month_number}月{day}日 {weekday}",
        "月曜日 火曜日 水曜日 木曜日 金曜日 土曜日 日曜日",
        "終日", "中止",
    ),
    "ko": _days(
        "{month_number}월 {day}일 {weekday}",
        "월요일 화요일 수요일 목요일 금요일 토요일 일요일",
        "종일", "취소됨",
    ),
}  # fmt: skip
_EVENT_DAYS["nn"] = _EVENT_DAYS["no"] = _EVENT_DAYS["nb"]


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


def format_day(day: date, language: str | None) -> str:
    """An event's day with its weekday, without the year: "Saturday 6 December". The ISO
    date in languages the table does not have."""
    days, known = _EVENT_DAYS.get(language or ""), _LANGUAGES.get(language or "")
    if days is None or known is None:
        return day.isoformat()
    return days.pattern.format(
        weekday=days.weekdays[day.weekday()],
        day=known.first_day if day.day == 1 and known.months else str(day.day),
        month=known.months[day.month - 1] if known.months else "",
        month_number=str(day.month),
    )


def cancelled_word(language: str | None) -> str:
    """ "cancelled" in the post's language (English where the table has none)."""
    days = _EVENT_DAYS.get(language or "")
    return days.cancelled if days is not None else "cancelled"


def format_time(moment: datetime) -> str:
    """A wall-clock time, 24-hour: "10:30"."""
    return f"{moment.hour:02d}:{moment.minute:02d}"


def format_when(
    starts: datetime, ends: datetime | None, all_day: bool, language: str | None
) -> str:
    """When an event happens, both times already in the library's zone: "Saturday 6
    December, 10:30-11:30" (with an en dash), "Saturday 6 December, all day", or from one
    day to another."""
    first = format_day(starts.date(), language)
    if all_day:
        last_day = (ends - timedelta(days=1)).date() if ends is not None else starts.date()
        if last_day > starts.date():
            return f"{first} {_DASH} {format_day(last_day, language)}"
        days = _EVENT_DAYS.get(language or "")
        return f"{first}, {days.all_day}" if days is not None else first
    start = f"{first}, {format_time(starts)}"
    if ends is None or ends <= starts:
        return start
    if ends.date() == starts.date():
        return f"{start}{_DASH}{format_time(ends)}"
    return f"{start} {_DASH} {format_day(ends.date(), language)}, {format_time(ends)}"


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
