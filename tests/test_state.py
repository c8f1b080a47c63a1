"""The state database: real SQLite files in a temp dir."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fedibridge.errors import StateError
from fedibridge.models import Entry, Image, NewEntry, Validators
from fedibridge.state import State, StateLock

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def entry(key: str) -> Entry:
    return Entry(
        key=key,
        title=f"Title {key}",
        link=f"https://library.example/{key}",
        summary="<p>Hello &amp; welcome</p>",
        categories=("Story time",),
        language="en",
        published=NOW,
        images=(Image("https://library.example/a.jpg", "A reading corner"),),
    )


def test_new_entries_and_validators_are_stored_together(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    state = State.open(path)
    state.record_fetch(
        "news", "https://library.example/feed", now=NOW, result="2 new",
        validators=Validators('"abc"', "Wed, 25 Nov 2026 09:00:00 GMT"), title="News",
        new_entries=[NewEntry(entry("a"), "pending"), NewEntry(entry("b"), "skipped", "baseline")],
    )  # fmt: skip
    state.close()

    reopened = State.open(path)
    row = reopened.feed("news")
    assert row is not None
    assert row.validators == Validators('"abc"', "Wed, 25 Nov 2026 09:00:00 GMT")
    assert not row.first_contact
    assert reopened.entry_states("news") == {"a": "pending", "b": "skipped"}
    [item] = reopened.pending("news")
    assert item.entry == entry("a")  # the whole entry survives, dates and images included


def test_a_failing_transaction_stores_neither_entries_nor_validators(tmp_path: Path) -> None:
    state = State.open(tmp_path / "s.sqlite3")

    class Boom(Exception):
        pass

    def entries():
        yield NewEntry(entry("a"), "pending")
        raise Boom

    with pytest.raises(Boom):
        state.record_fetch(
            "news", "u", now=NOW, result="x", validators=Validators('"v"'), new_entries=entries()
        )
    assert state.feed("news") is None
    assert state.entry_states("news") == {}


def test_posted_items_leave_the_outbox(tmp_path: Path) -> None:
    state = State.open(tmp_path / "s.sqlite3")
    state.record_fetch(
        "news", "u", now=NOW, result="", new_entries=[NewEntry(entry("a"), "pending")]
    )
    state.mark_attempt("news", "a", now=NOW)
    state.mark_posted("news", "a", status_id="1", status_url="https://m.example/@lib/1", now=NOW)
    assert state.pending("news") == []
    counts = state.counts("news")
    assert (counts.posted, counts.pending, counts.last_status_url) == (
        1,
        0,
        "https://m.example/@lib/1",
    )


def test_known_entries_are_never_inserted_twice(tmp_path: Path) -> None:
    state = State.open(tmp_path / "s.sqlite3")
    for _ in range(2):
        state.record_fetch(
            "news", "u", now=NOW, result="", new_entries=[NewEntry(entry("a"), "pending")]
        )
    state.mark_posted("news", "a", status_id="1", status_url=None, now=NOW)
    state.record_fetch(
        "news", "u", now=NOW, result="", new_entries=[NewEntry(entry("a"), "pending")]
    )
    assert state.entry_states("news") == {"a": "posted"}
    assert set(state.known("news", ["a", "b"])) == {"a"}


def test_changing_a_feed_url_forgets_its_validators_but_keeps_its_items(tmp_path: Path) -> None:
    state = State.open(tmp_path / "s.sqlite3")
    state.record_fetch(
        "news", "https://old.example/feed", now=NOW, result="", validators=Validators('"e"'),
        new_entries=[NewEntry(entry("a"), "skipped")],
    )  # fmt: skip
    state.record_fetch("news", "https://new.example/feed", now=NOW, result="")
    row = state.feed("news")
    assert row is not None and row.validators == Validators()
    assert set(state.known("news", ["a"])) == {"a"}


def test_the_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    State.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO migrations VALUES ('0099_from_the_future', 'x')")
    before = path.read_bytes()
    with pytest.raises(StateError, match="newer version"):
        State.open(path)
    assert path.read_bytes() == before


def test_a_damaged_database_is_reported_not_reset(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot be read"):
        State.open(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_readonly_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite3"
    state = State.open_readonly(path)
    assert state.feed("news") is None
    state.close()
    assert not path.exists()


def test_a_second_process_on_the_same_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with StateLock(path), pytest.raises(StateError, match="Another fedibridge"):
        StateLock(path).__enter__()
    with StateLock(path):  # released: the next one may start
        pass
