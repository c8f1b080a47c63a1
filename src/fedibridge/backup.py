"""Safe copies of the state database, and putting one back.

The copy is made with SQLite's online backup API, so it is consistent even while
``fedibridge run`` is writing, and it includes what is still in the write-ahead log (a plain
file copy of a running database may not). Each copy is checked before it counts as written,
and a restore checks the copy before it replaces anything.

``-`` as the file means standard output or input, so that a container with a read-only root
filesystem can stream a backup out (``docker compose exec -T fedibridge fedibridge backup -``)
without files changing owner on the way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fedibridge.errors import StateError
from fedibridge.state import MIGRATIONS, State, StateLock

STREAM = "-"


@dataclass(frozen=True, slots=True)
class Summary:
    items: int
    posted: int


def backup(state_path: Path, target: str) -> Summary:
    """Write a checked copy of the state database to ``target`` (a path, or ``-``)."""
    if not state_path.exists():
        raise StateError(f"There is no state database at {state_path} yet: nothing to back up.")
    folder = state_path.parent if target == STREAM else Path(target).resolve().parent
    with _scratch(folder) as copy:
        source = sqlite3.connect(f"{state_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            _copy(source, copy)
        finally:
            source.close()
        summary = check(copy)
        if target == STREAM:
            with copy.open("rb") as file:
                shutil.copyfileobj(file, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            # Replace an older backup of the same name only once the new one is complete.
            copy.replace(target)
    return summary


def restore(state_path: Path, source: str) -> Summary:
    """Replace the state database with a backup, after checking it. Refused while a bridge
    runs on this state file (stop it first)."""
    with StateLock(state_path), _scratch(state_path.parent) as copy:
        if source == STREAM:
            with copy.open("wb") as file:
                shutil.copyfileobj(sys.stdin.buffer, file)
        else:
            shutil.copyfile(source, copy)
        summary = check(copy)
        backup_db = sqlite3.connect(copy)
        # Through SQLite rather than a file copy: the live database may have a write-ahead
        # log beside it, which a copied-over file would be mixed with.
        live = sqlite3.connect(state_path)
        try:
            backup_db.backup(live)
        finally:
            live.close()
            backup_db.close()
        state_path.chmod(0o600)
        State.open(state_path).close()  # applies this version's migrations to an older copy
    return summary


def check(path: Path) -> Summary:
    """Refuse a file that is not a whole, readable fedibridge state database."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            [verdict] = connection.execute("PRAGMA integrity_check").fetchone()
            applied = _applied(connection)
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise StateError(f"This is not a usable fedibridge backup ({error}).") from None
    if verdict != "ok" or MIGRATIONS[0][0] not in applied:
        raise StateError("This is not a usable fedibridge backup (the file is damaged or foreign).")
    state = State.open_readonly(path)  # refuses a backup from a newer fedibridge
    try:
        totals = state.totals_by_state()
    finally:
        state.close()
    return Summary(sum(totals.values()), totals.get("posted", 0))


def _applied(connection: sqlite3.Connection) -> set[str]:
    try:
        return {row[0] for row in connection.execute("SELECT name FROM migrations")}
    except sqlite3.OperationalError:
        return set()


def _copy(source: sqlite3.Connection, target: Path) -> None:
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        # One self-contained file: no write-ahead log to carry along.
        destination.execute("PRAGMA journal_mode=DELETE")
    finally:
        destination.close()


@contextlib.contextmanager
def _scratch(folder: Path) -> Iterator[Path]:
    """A private temporary file beside the state (the only writable place in the container)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".fedibridge-backup-", suffix=".sqlite3", dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        Path(name + "-journal").unlink(missing_ok=True)
