"""The config keys that shape posts: filters, content warnings, language, dates, hashtags.

What staff write in config.toml, what fedibridge makes of it, and the message they get when
it cannot be used: one line naming the key, saying how to fix it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fedibridge.config import Settings, load_settings
from fedibridge.errors import ConfigError
from fedibridge.filters import filter_reason
from fedibridge.models import Entry
from fedibridge.render import content_warning

MINIMAL = """
[accounts.main]
server = "https://social.example"
access_token = "SECRET-TOKEN-123"

[feeds.news]
url = "https://library.example/feed"
"""


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL + textwrap.dedent(text))
    return load_settings(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


HORROR = Entry(key="1", title="Spooky stories", link=None, summary="", categories=("Horror",))
SPOILER = Entry(key="2", title="Book club", link=None, summary="<p>Spoilers ahead!</p>")
CANCELLED = Entry(key="3", title="Cancelled: Lego club", link=None, summary="")


def test_content_warning_rules_as_staff_write_them(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        spoiler_text = "Events"

        [[feeds.news.content_warnings]]
        when_category = ["Horror", "True crime"]
        text = "Scary stories"

        [[feeds.news.content_warnings]]
        when_matches = '\\bspoilers?\\b'
        text = " Spoilers "
        """,
    )
    style = settings.feeds["news"].style("News")
    assert content_warning(HORROR, style) == "Events, Scary stories"
    assert content_warning(SPOILER, style) == "Events, Spoilers"
    assert content_warning(CANCELLED, style) == "Events"


def test_a_single_category_may_be_written_without_brackets(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [[feeds.news.content_warnings]]
        when_category = "Horror"
        text = "Horror"
        """,
    )
    assert content_warning(HORROR, settings.feeds["news"].style("")) == "Horror"


def test_a_broken_pattern_is_named_by_its_key(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[feeds.news.content_warnings]]
        when_matches = "(spoiler"
        text = "Spoilers"
        """,
    )
    assert len(found) == 1
    assert found[0].startswith(
        "feeds.news.content_warnings.0.when_matches: this is not a pattern fedibridge can use "
        "(missing ), unterminated subpattern at character 1)."
    )
    assert "put a backslash before it" in found[0]


def test_a_rule_without_condition_or_text_says_what_is_missing(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[feeds.news.content_warnings]]
        text = "Horror"

        [[feeds.news.content_warnings]]
        when_category = ["Horror"]
        text = "  "
        """,
    )
    assert found == [
        "feeds.news.content_warnings.0: say which items get this warning: when_category = "
        "[...], when_matches = '...', or both",
        "feeds.news.content_warnings.1.text: write the warning readers see first, such as "
        'text = "Horror"',
    ]


def test_a_misspelt_rule_key_is_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[feeds.news.content_warnings]]
        when_categories = ["Horror"]
        text = "Horror"
        """,
    )
    assert found[0].startswith("feeds.news.content_warnings.0.when_categories: unknown key")


def test_include_exclude_and_filter_fields(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        include = ["story ?time", "club"]
        exclude = '\\bcancell?ed\\b'
        filter_fields = ["title"]
        """,
    )
    entry_filter = settings.feeds["news"].entry_filter("news")
    assert filter_reason(CANCELLED, entry_filter) == (
        'left out by feeds.news.exclude: "\\bcancell?ed\\b" matches its title'
    )
    assert filter_reason(HORROR, entry_filter) is not None  # matches no include pattern
    assert filter_reason(SPOILER, entry_filter) is None  # "Book club"


def test_broken_filter_patterns_are_named_by_key_and_position(tmp_path: Path) -> None:
    found = problems(tmp_path, 'include = ["ok", "[story"]\nexclude = ["*cancelled"]\n')
    assert [line.split(":")[0] for line in found] == [
        "feeds.news.include.1",
        "feeds.news.exclude.0",
    ]
    assert "unterminated character set at character 1" in found[0]
    assert "nothing to repeat at character 1" in found[1]


def test_filter_fields_must_name_known_places(tmp_path: Path) -> None:
    found = problems(tmp_path, 'filter_fields = ["titel"]\n')
    assert found[0].startswith("feeds.news.filter_fields.0:")
    assert "'title'" in found[0]
    assert problems(tmp_path, "filter_fields = []\n") == [
        'feeds.news.filter_fields: list where include and exclude look: "title", "summary", '
        '"categories"'
    ]


@pytest.mark.parametrize(("written", "code"), [("en", "en"), ("en-GB", "en"), ("deu", "de")])
def test_the_language_key_takes_common_spellings(tmp_path: Path, written: str, code: str) -> None:
    settings = load(tmp_path, f'language = "{written}"\n')
    assert settings.feeds["news"].language == code
    assert settings.feeds["news"].style("").language == code


def test_a_date_format_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, 'date_format = "{dya}.{month_number}.{year}"\n')
    assert found == [
        "feeds.news.date_format: {dya} is not a date field; use {day}, {month}, "
        '{month_number} and {year}, or write "long" or "iso"'
    ]
    assert problems(tmp_path, 'date_format = "{day"\n')[0].startswith(
        "feeds.news.date_format: a { or } has no partner"
    )


def test_new_keys_reach_the_style(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        'sensitive = true\nkeep_feed_hashtags = true\ndate_format = "{day}/{month_number}"\n',
    )
    style = settings.feeds["news"].style("")
    assert style.sensitive and style.keep_feed_hashtags
    assert style.date_format == "{day}/{month_number}"


def test_defaults_post_every_item_with_no_warning(tmp_path: Path) -> None:
    feed = load(tmp_path, "").feeds["news"]
    style = feed.style("")
    assert not feed.entry_filter("news").active
    assert (style.sensitive, style.keep_feed_hashtags, style.date_format) == (False, False, "long")
    assert content_warning(HORROR, style) == ""
