"""Bounded state (issue 14): items posted or skipped more than keep_days ago are pruned to a
digest of their key; an old item that reappears in its feed is still never posted twice.

Real SQLite files, a feed server and mastodon-mock on loopback, and a moved clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedibridge.config import load_settings
from fedibridge.cycle import Bridge
from fedibridge.models import Correction, Entry, NewEntry
from fedibridge.plan import plan_entries
from fedibridge.state import MIGRATIONS, State
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import main, rss, write_config

DAY0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = DAY0

    def __call__(self) -> datetime:
        return self.now


def keep_days(config: Path, days: int) -> None:
    text = config.read_text()
    config.write_text(text.replace("[bridge]\n", f"[bridge]\nkeep_days = {days}\n", 1))


def test_pruned_items_are_never_posted_again_nor_edited(
    tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys
) -> None:
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1, 2, 3)), mastodon.url)
    keep_days(config, 30)
    clock = Clock()
    bridge = Bridge(load_settings(config), clock=clock)
    try:
        bridge.run_all()  # first contact: 1-3 recorded, skipped
        clock.now += timedelta(days=1)
        feed_server.serve("/events.rss", rss(1, 2, 3, 4))
        bridge.run_all()  # 4 posted
        assert len(mastodon.statuses()) == 1

        clock.now += timedelta(days=40)  # 1-4 are now older than keep_days
        feed_server.serve("/events.rss", rss(1, 2, 3, 4, 5))
        bridge.run_all()
        state = bridge._state()
        assert set(state.entry_states("events")) == {"id:event-5"}  # 1-4 pruned to digests
        assert state.size().forgotten == 4

        # The website lists the old items again, one of them changed: nothing is reposted and
        # the old post is not edited (it is beyond update_max_age anyway).
        clock.now += timedelta(days=2)
        changed = rss(1, 2, 3, 4, 5, 6).replace(b"Details of event 4.", b"Moved to May.")
        feed_server.serve("/events.rss", changed)
        bridge.run_all()
    finally:
        bridge.close()
    contents = [s["content"] for s in mastodon.statuses()]
    assert len(contents) == 3
    assert ["Event number 4" in c for c in contents] == [True, False, False]
    assert "Event number 6" in contents[2]

    capsys.readouterr()
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "posted 3, pending 0, failed 0, skipped 3" in out  # pruned items still count
    assert "4 of them pruned to their keys" in out


def test_prune_keeps_what_each_item_still_needs(tmp_path: Path) -> None:
    state = State.open(tmp_path / "state.sqlite3")
    entries = [
        Entry(key=key, title=key.upper(), link=f"https://x.example/{key}", summary="<p>text</p>")
        for key in ("posted", "waiting", "corrected")
    ]
    state.record_fetch(
        "news", "https://x.example/feed", now=DAY0, result="ok",
        new_entries=[NewEntry(e, "pending") for e in entries],
    )  # fmt: skip
    state.mark_posted("news", "posted", status_id="1", status_url="https://s/1", now=DAY0)
    state.mark_posted("news", "corrected", status_id="2", status_url="https://s/2", now=DAY0)
    state.record_fetch(  # corrected on the website; the edit is still to be made
        "news", "https://x.example/feed", now=DAY0, result="ok",
        corrections=[Correction(replace(entries[2], summary="<p>new</p>"), edit=True)],
    )  # fmt: skip

    settled = DAY0 + timedelta(days=8)  # older than update_max_age, younger than keep_days
    assert state.prune("news", before=DAY0, settled_before=settled, now=settled) == 0
    # Posted and settled: only title and link remain, and it is never taken for a correction.
    shown = {item.key: (item.title, item.link) for item in state.latest_posts(5)}
    assert shown["posted"] == ("POSTED", "https://x.example/posted")
    assert state.known("news", ["posted"])["posted"].fingerprint is None
    # Still waiting to be posted, or to be edited: kept whole.
    assert [i.entry.summary for i in state.pending("news")] == ["<p>text</p>"]
    assert [i.entry.summary for i in state.edits_wanted("news")] == ["<p>new</p>"]

    # Looked at again only a day later: a later call at once prunes nothing.
    soon = settled + timedelta(hours=1)
    assert state.prune("news", before=soon, settled_before=soon, now=soon) == 0
    late = settled + timedelta(days=1)
    assert state.prune("news", before=late, settled_before=late, now=late) == 2
    assert state.entry_states("news") == {"waiting": "pending"}
    known = state.known("news", ["posted", "corrected", "new"])
    assert {k: v.state for k, v in known.items()} == {"posted": "posted", "corrected": "posted"}
    state.close()


def test_a_season_of_a_busy_catalogue_feed_stays_small_and_reposts_nothing(
    tmp_path: Path,
) -> None:
    """60 days of 40 new titles a day, pruned daily at keep_days = 14; then the whole
    catalogue appears again in the feed: every key is still known, nothing would be posted."""
    state = State.open(tmp_path / "state.sqlite3")
    keys: list[str] = []
    now = DAY0
    for day in range(60):
        now = DAY0 + timedelta(days=day)
        entries = [_title(day, n) for n in range(40)]
        keys += [e.key for e in entries]
        state.record_fetch(
            "new-titles", "https://opac.example/new.rss", now=now, result="ok",
            new_entries=[NewEntry(e, "pending") for e in entries],
        )  # fmt: skip
        for entry in entries:
            state.mark_posted(
                "new-titles", entry.key, status_id=entry.key, status_url=None, now=now
            )
        state.prune(
            "new-titles",
            before=now - timedelta(days=14),
            settled_before=now - timedelta(days=7),
            now=now,
        )
    size = state.size()
    assert size.items + size.forgotten == len(keys) == 2400
    assert size.items <= 15 * 40 + 40  # only about keep_days of whole items
    assert state.counts("new-titles").posted == 2400

    everything = tuple(_title(day, n) for day in range(60) for n in range(40))
    known = state.known("new-titles", (e.key for e in everything))
    plan = plan_entries(
        everything, set(known), first_contact=False, backfill=0, flood_items=10**6,
        flood_ratio=1.0,
    )  # fmt: skip
    assert plan.new == ()
    state.close()


def _title(day: int, number: int) -> Entry:
    record = day * 1000 + number
    return Entry(
        key=f"https://opac.example/Record/{record}",
        title=f"New title {record}: a novel",
        link=f"https://opac.example/Record/{record}",
        summary=f"<p>Description of record {record}, " + "with a long blurb " * 20 + "</p>",
        categories=("Fiction", "New titles"),
        author="Some Author",
    )


def test_a_state_file_from_before_pruning_can_be_read_and_is_upgraded(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "state.sqlite3"
    monkeypatch.setattr("fedibridge.state.MIGRATIONS", MIGRATIONS[:1])  # an older fedibridge
    old = State.open(path)
    entry = Entry(key="a", title="A", link=None, summary="text")
    old.record_fetch(
        "news", "https://x.example/feed", now=DAY0, result="ok",
        new_entries=[NewEntry(entry, "skipped")],
    )  # fmt: skip
    old.close()
    monkeypatch.undo()

    reading = State.open_readonly(path)  # `status` or a dry run before any upgrade
    assert reading.counts("news").skipped == 1
    assert set(reading.known("news", ["a", "b"])) == {"a"}
    assert reading.size().forgotten == 0
    reading.close()

    state = State.open(path)  # the first run of the new version adds the table
    later = DAY0 + timedelta(days=100)
    assert state.prune("news", before=later, settled_before=later, now=later) == 1
    assert state.known("news", ["a"])["a"].state == "skipped"
    state.close()
