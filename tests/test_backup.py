"""Backing up and restoring the state, as the staff guide tells it (docs/staff-guide.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fedibridge.cli import main
from fedibridge.state import State, StateLock
from tests.conftest import Mastodon
from tests.feedserver import FeedServer
from tests.running import Running
from tests.test_cli import once, rss, write_config


def states(state_path: Path) -> dict[str, str]:
    state = State.open_readonly(state_path)
    try:
        return dict(state.entry_states("events"))
    finally:
        state.close()


@pytest.fixture
def posted(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon) -> Path:
    """A bridge that has posted two items."""
    url = feed_server.serve("/events.rss", rss(1, 2, 3))
    (tmp_path / "bridge").mkdir()
    config = write_config(tmp_path / "bridge", url, mastodon.url, backfill=2)
    assert once(config) == 0
    assert len(mastodon.statuses()) == 2
    return config


def state_of(config: Path) -> Path:
    return config.parent / "state" / "fedibridge.sqlite3"


def test_a_backup_made_while_running_restores_to_a_bridge_that_posts_nothing_twice(
    tmp_path, posted, feed_server, mastodon, capsys
) -> None:
    backup = tmp_path / "backup.sqlite3"
    with Running(posted) as daemon:
        daemon.wait_for(r"feed\.polled: feed events: ")
        assert main(["--config", str(posted), "backup", str(backup)]) == 0
    assert "checked: 3 items, 2 posted" in capsys.readouterr().out
    assert not Path(f"{backup}-wal").exists()  # one self-contained file

    # The machine is lost: a new one starts from the backup.
    state_of(posted).unlink()
    for extra in ("-wal", "-shm"):
        Path(f"{state_of(posted)}{extra}").unlink(missing_ok=True)
    assert main(["--config", str(posted), "restore", str(backup)]) == 0
    assert "restored" in capsys.readouterr().out
    assert once(posted) == 0
    assert len(mastodon.statuses()) == 2  # nothing posted again
    feed_server.serve("/events.rss", rss(1, 2, 3, 4))
    assert once(posted) == 0
    assert len(mastodon.statuses()) == 3  # and new items go on


def test_streamed_backup_and_restore_as_in_the_container(tmp_path, posted, mastodon) -> None:
    # docker compose exec -T fedibridge fedibridge backup - > backup.sqlite3
    saved = subprocess.run(
        [sys.executable, "-m", "fedibridge", "--config", str(posted), "backup", "-"],
        capture_output=True,
        check=True,
    )
    assert saved.stdout.startswith(b"SQLite format 3\x00")
    assert b"checked: 3 items, 2 posted" in saved.stderr
    (tmp_path / "backup.sqlite3").write_bytes(saved.stdout)

    # docker compose run --rm -T fedibridge restore - < backup.sqlite3 (on another machine)
    (tmp_path / "elsewhere").mkdir()
    elsewhere = write_config(tmp_path / "elsewhere", "https://unused.example/feed", mastodon.url)
    with (tmp_path / "backup.sqlite3").open("rb") as stdin:
        subprocess.run(
            [sys.executable, "-m", "fedibridge", "--config", str(elsewhere), "restore", "-"],
            stdin=stdin,
            capture_output=True,
            check=True,
        )
    assert states(state_of(elsewhere)) == states(state_of(posted))


def test_restore_waits_until_the_bridge_is_stopped(tmp_path, posted, capsys) -> None:
    backup = tmp_path / "backup.sqlite3"
    assert main(["--config", str(posted), "backup", str(backup)]) == 0
    with StateLock(state_of(posted)):
        assert main(["--config", str(posted), "restore", str(backup)]) == 2
    assert "Another fedibridge is already using" in capsys.readouterr().err


def test_a_damaged_backup_is_refused_and_changes_nothing(tmp_path, posted, capsys) -> None:
    before = states(state_of(posted))
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50 + b"not really")
    assert main(["--config", str(posted), "restore", str(damaged)]) == 2
    assert "not a usable fedibridge backup" in capsys.readouterr().err
    assert states(state_of(posted)) == before
    assert sorted(p.name for p in state_of(posted).parent.iterdir() if "backup" in p.name) == []


def test_nothing_to_back_up_yet_is_said_plainly(tmp_path, capsys) -> None:
    config = write_config(tmp_path, "https://library.example/feed", "https://social.example")
    assert main(["--config", str(config), "backup", str(tmp_path / "b.sqlite3")]) == 2
    assert "nothing to back up" in capsys.readouterr().err
