"""Language tags from feeds → the ISO 639-1 codes servers take. Pure.

Feeds write languages in every way the standards allow and a few they do not: ``en-US``,
``EN_gb``, ``zh-Hans``, ``deu``, ``ger``, ``iw``. Mastodon takes an ISO 639-1 code (and ignores
one it does not know), so everything is reduced to the two-letter code of its primary
language, or to None when there is no such code.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ISO_639_1", "normalise_language"]

# ISO 639-1 code → its ISO 639-2 codes: the terminology code first, then the bibliographic
# one where it differs (library catalogues, MARC and many feeds use the bibliographic "ger").
_CODES: Final[dict[str, tuple[str, ...]]] = {
    "aa": ("aar",), "ab": ("abk",), "ae": ("ave",), "af": ("afr",), "ak": ("aka",),
    "am": ("amh",), "an": ("arg",), "ar": ("ara",), "as": ("asm",), "av": ("ava",),
    "ay": ("aym",), "az": ("aze",), "ba": ("bak",), "be": ("bel",), "bg": ("bul",),
    "bi": ("bis",), "bm": ("bam",), "bn": ("ben",), "bo": ("bod", "tib"), "br": ("bre",),
    "bs": ("bos",), "ca": ("cat",), "ce": ("che",), "ch": ("cha",), "co": ("cos",),
    "cr": ("cre",), "cs": ("ces", "cze"), "cu": ("chu",), "cv": ("chv",), "cy": ("cym", "wel"),
    "da": ("dan",), "de": ("deu", "ger"), "dv": ("div",), "dz": ("dzo",), "ee": ("ewe",),
    "el": ("ell", "gre"), "en": ("eng",), "eo": ("epo",), "es": ("spa",), "et": ("est",),
    "eu": ("eus", "baq"), "fa": ("fas", "per"), "ff": ("ful",), "fi": ("fin",), "fj": ("fij",),
    "fo": ("fao",), "fr": ("fra", "fre"), "fy": ("fry",), "ga": ("gle",), "gd": ("gla",),
    "gl": ("glg",), "gn": ("grn",), "gu": ("guj",), "gv": ("glv",), "ha": ("hau",),
    "he": ("heb",), "hi": ("hin",), "ho": ("hmo",), "hr": ("hrv",), "ht": ("hat",),
    "hu": ("hun",), "hy": ("hye", "arm"), "hz": ("her",), "ia": ("ina",), "id": ("ind",),
    "ie": ("ile",), "ig": ("ibo",), "ii": ("iii",), "ik": ("ipk",), "io": ("ido",),
    "is": ("isl", "ice"), "it": ("ita",), "iu": ("iku",), "ja": ("jpn",), "jv": ("jav",),
    "ka": ("kat", "geo"), "kg": ("kon",), "ki": ("kik",), "kj": ("kua",), "kk": ("kaz",),
    "kl": ("kal",), "km": ("khm",), "kn": ("kan",), "ko": ("kor",), "kr": ("kau",),
    "ks": ("kas",), "ku": ("kur",), "kv": ("kom",), "kw": ("cor",), "ky": ("kir",),
    "la": ("lat",), "lb": ("ltz",), "lg": ("lug",), "li": ("lim",), "ln": ("lin",),
    "lo": ("lao",), "lt": ("lit",), "lu": ("lub",), "lv": ("lav",), "mg": ("mlg",),
    "mh": ("mah",), "mi": ("mri", "mao"), "mk": ("mkd", "mac"), "ml": ("mal",), "mn": ("mon",),
    "mr": ("mar",), "ms": ("msa", "may"), "mt": ("mlt",), "my": ("mya", "bur"), "na": ("nau",),
    "nb": ("nob",), "nd": ("nde",), "ne": ("nep",), "ng": ("ndo",), "nl": ("nld", "dut"),
    "nn": ("nno",), "no": ("nor",), "nr": ("nbl",), "nv": ("nav",), "ny": ("nya",),
    "oc": ("oci",), "oj": ("oji",), "om": ("orm",), "or": ("ori",), "os": ("oss",),
    "pa": ("pan",), "pi": ("pli",), "pl": ("pol",), "ps": ("pus",), "pt": ("por",),
    "qu": ("que",), "rm": ("roh",), "rn": ("run",), "ro": ("ron", "rum"), "ru": ("rus",),
    "rw": ("kin",), "sa": ("san",), "sc": ("srd",), "sd": ("snd",), "se": ("sme",),
    "sg": ("sag",), "si": ("sin",), "sk": ("slk", "slo"), "sl": ("slv",), "sm": ("smo",),
    "sn": ("sna",), "so": ("som",), "sq": ("sqi", "alb"), "sr": ("srp",), "ss": ("ssw",),
    "st": ("sot",), "su": ("sun",), "sv": ("swe",), "sw": ("swa",), "ta": ("tam",),
    "te": ("tel",), "tg": ("tgk",), "th": ("tha",), "ti": ("tir",), "tk": ("tuk",),
    "tl": ("tgl",), "tn": ("tsn",), "to": ("ton",), "tr": ("tur",), "ts": ("tso",),
    "tt": ("tat",), "tw": ("twi",), "ty": ("tah",), "ug": ("uig",), "uk": ("ukr",),
    "ur": ("urd",), "uz": ("uzb",), "ve": ("ven",), "vi": ("vie",), "vo": ("vol",),
    "wa": ("wln",), "wo": ("wol",), "xh": ("xho",), "yi": ("yid",), "yo": ("yor",),
    "za": ("zha",), "zh": ("zho", "chi"), "zu": ("zul",),
}  # fmt: skip

ISO_639_1: Final = frozenset(_CODES)

# Codes ISO withdrew that older software (Java's Locale among them) still writes.
_WITHDRAWN: Final = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr"}

_TO_639_1: Final = {
    **{three: two for two, threes in _CODES.items() for three in threes},
    **{two: two for two in _CODES},
    **_WITHDRAWN,
}

# The primary subtag ends at the first hyphen, underscore, space or dot ("en.UTF-8").
_SUBTAG_END: Final = re.compile(r"[-_\s.]")


def normalise_language(tag: object) -> str | None:
    """The ISO 639-1 code of a language tag's primary language; None when it has none.

    ``en-US`` → ``en``, ``EN_gb`` → ``en``, ``zh-Hans`` → ``zh``, ``deu``/``ger`` → ``de``,
    ``iw`` → ``he``; ``english``, ``x-klingon``, ``zz`` and ``ast`` (Asturian has no
    two-letter code) → None.
    """
    if not isinstance(tag, str):
        return None
    primary = _SUBTAG_END.split(tag.strip(), maxsplit=1)[0].lower()
    return _TO_639_1.get(primary)
