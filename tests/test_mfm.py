"""Feed text posted to Misskey formats nothing and notifies nobody, yet reads the same.

``mfm_formatting`` (in the fake Misskey) says which MFM spans Misskey would render."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedibridge.publish.mfm import WORD_JOINER, neutralise, restore
from tests.fake_misskey import mfm_formatting

RISKY = [
    ("Join us for **Banned Books Week**", "bold"),
    ("Use __this__ form", "bold"),
    ("The *new* catalogue", "italic"),
    ("Opening hours ~~9~~ 10 am", "strike"),
    ("Big news $[x2 today]", "function"),
    ("<center>Closed on Monday</center>", "tag"),
    ("Type `help` in the catalogue", "inline code"),
    ("```\ncode block\n```", "code block"),
    (r"Maths club: \(a^2 + b^2\)", "math"),
    ("Party time :tada: see you", "emoji"),
    ("Read the [rules](https://library.example/rules)", "link label"),
    ("> A quote from the author", "quote"),
    ("Catalogue Search", "search"),
    ("Thanks to @friends of the library", "mention"),
    ("Ask @desk@library.example", "mention"),
]


@pytest.mark.parametrize(("text", "kind"), RISKY)
def test_risky_text_formats_nothing_and_reads_the_same(text: str, kind: str) -> None:
    assert kind in mfm_formatting(text)  # what Misskey would do to the raw feed text
    assert mfm_formatting(neutralise(text)) == []
    assert restore(neutralise(text)) == text


def test_links_and_hashtags_are_left_to_work() -> None:
    text = "New **titles** https://library.example/new?utm_x=1&a_b=2 #New_Books #Library"
    safe = neutralise(text)
    assert "https://library.example/new?utm_x=1&a_b=2" in safe
    assert "#New_Books #Library" in safe


def test_e_mail_addresses_and_times_stay_untouched() -> None:
    text = "Write to info@library.example before 10:30:00"
    assert neutralise(text) == text


def test_plain_text_is_unchanged() -> None:
    text = "Story time on Saturday at the Riverside branch.\n\nAll ages welcome."
    assert neutralise(text) == text


def test_the_protection_is_invisible_characters_only() -> None:
    safe = neutralise("**bold** @name :emoji:")
    assert safe.replace(WORD_JOINER, "") == "**bold** @name :emoji:"


TEXT = st.text(alphabet=st.sampled_from("ab1 \n*_~$[]()<>/`@:#\\.!?"), max_size=60)


@given(TEXT)
def test_any_text_comes_back_unchanged(text: str) -> None:
    assert restore(neutralise(text)) == text


@given(TEXT)
def test_no_text_formats_anything(text: str) -> None:
    assert mfm_formatting(neutralise(text)) == []


def test_a_feed_hashtag_that_render_broke_stays_broken_on_misskey() -> None:
    # render puts a word joiner after a stray "#"; Misskey would still read "#" + joiner + word
    # as a tag, so the "#" itself is shown as plain text.
    text = f"Meeting #{WORD_JOINER}2a, tagged #Library"
    note = neutralise(text)
    assert f"<plain>#</plain>{WORD_JOINER}2a" in note
    assert "#Library" in note
    assert restore(note) == text.replace(WORD_JOINER, "")  # what a reader sees
