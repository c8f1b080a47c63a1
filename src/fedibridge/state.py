"""SQLite state: the feeds with their validators, and the outbox of entries.

An entry row moves ``pending → posted`` (with the status id and URL), or is ``skipped``
(baseline, flood guard) or ``failed`` (with the server's reason). Rows carry the entry itself,
so a pending item can still be posted after the feed has dropped it.

Items posted or skipped long ago are pruned (``prune``): the row and its entry go, and only a
digest of the item's key stays, in ``forgotten``, with its feed and state. That is enough never
to post it twice, and a year of a busy catalogue feed stays a few megabytes.

Migrations are append-only and named; a database that knows a migration this version does not
is from a newer fedibridge and is refused, never "repaired".
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from fedibridge.errors import StateError
from fedibridge.models import (
    Correction,
    Entry,
    Event,
    Image,
    Known,
    NewEntry,
    ServerLimits,
    Validators,
)
from fedibridge.plan import fingerprint

EntryState = Literal["pending", "posted", "skipped", "failed"]

_OPENING = threading.Lock()  # see State.open

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_feeds_and_entries",
        """
        CREATE TABLE feeds (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            etag TEXT,
            last_modified TEXT,
            first_polled_at TEXT,
            last_polled_at TEXT,
            last_success_at TEXT,
            last_result TEXT,
            last_error TEXT,
            moved_to TEXT,
            account TEXT,
            failures INTEGER NOT NULL DEFAULT 0,  -- fetch failures in a row
            not_found INTEGER NOT NULL DEFAULT 0,  -- 404 answers in a row
            next_poll_at TEXT,  -- not before: backoff, Retry-After
            gone_since TEXT  -- 410, or 404 too often: not polled until staff act
        );
        CREATE TABLE entries (
            feed TEXT NOT NULL,
            key TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'skipped', 'failed')),
            payload TEXT NOT NULL,
            discovered_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            attempted_at TEXT,
            status_id TEXT,
            status_url TEXT,
            posted_at TEXT,
            reason TEXT,
            fingerprint TEXT,  -- what the post shows of the entry, to notice corrections
            edit_wanted INTEGER NOT NULL DEFAULT 0,  -- posted, then corrected on the website
            PRIMARY KEY (feed, key)
        );
        CREATE INDEX entries_by_state ON entries (feed, state);
        CREATE TABLE accounts (
            name TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,  -- failed posting rounds in a row
            retry_at TEXT,  -- no posting before this time (backoff, rate-limit reset)
            problem TEXT  -- what staff must fix, or why posting waits
        );
        -- What the server's rate budget counts, kept for the longest budget window (3 hours).
        CREATE TABLE account_actions (
            account TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('status', 'edit', 'media')),
            at TEXT NOT NULL
        );
        CREATE INDEX account_actions_by_time ON account_actions (account, kind, at);
        """,
    ),
    (
        "0002_servers",
        """
        -- Which software each account's server runs, as last found out: detected once, and
        -- again only when posting fails in a way that says the server changed.
        CREATE TABLE servers (
            server TEXT PRIMARY KEY,
            software TEXT NOT NULL,  -- NodeInfo's software.name in lower case, or ''
            version TEXT NOT NULL,
            family TEXT NOT NULL CHECK (family IN ('mastodon', 'misskey')),
            found_by TEXT NOT NULL,  -- how: for `fedibridge check` and `status`
            checked_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0003_event_reminders",
        """
        -- Reminders of events (remind, remind_before): one row per event and reminder.
        CREATE TABLE reminders (
            feed TEXT NOT NULL,
            key TEXT NOT NULL,  -- the event's entry key
            label TEXT NOT NULL,  -- which reminder: "at 08:00", "1d before"
            due_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'dropped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            attempted_at TEXT,
            status_id TEXT,
            status_url TEXT,
            posted_at TEXT,
            reason TEXT,  -- why it was dropped
            PRIMARY KEY (feed, key, label)
        );
        CREATE INDEX reminders_by_due ON reminders (feed, state, due_at);
        -- The web page a feed belongs to (its <link>), which a digest points to.
        CREATE TABLE feed_pages (feed TEXT PRIMARY KEY, link TEXT NOT NULL);
        """,
    ),
    (
        "0004_forgotten_entries",
        """
        -- Items pruned from entries: only a digest of the key (16 bytes of SHA-256), so that
        -- an old item that reappears in its feed is still known and never posted again.
        CREATE TABLE forgotten (
            feed TEXT NOT NULL,
            digest BLOB NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('posted', 'skipped')),
            PRIMARY KEY (feed, digest)
        ) WITHOUT ROWID;
        ALTER TABLE feeds ADD COLUMN pruned_at TEXT;  -- the last prune of the feed's items
        """,
    ),
    (
        "0005_server_limits",
        """
        -- The limits the server advertises (JSON of models.ServerLimits, as the server said
        -- them) and when they were read: used for publish.detect.LIMITS_KEPT_FOR, so that a
        -- run asks the server nothing but its posts. NULL: read them at the next post.
        ALTER TABLE servers ADD COLUMN limits TEXT;
        ALTER TABLE servers ADD COLUMN limits_read_at TEXT
        """,
    ),
)

PRUNE_EVERY_HOURS = 24  # a feed's items are looked at for pruning at most this often


@dataclass(frozen=True, slots=True)
class FeedRow:
    name: str
    url: str
    title: str
    validators: Validators
    first_polled_at: datetime | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_result: str | None
    last_error: str | None
    moved_to: str | None
    failures: int = 0
    not_found: int = 0
    next_poll_at: datetime | None = None
    gone_since: datetime | None = None

    @property
    def first_contact(self) -> bool:
        return self.first_polled_at is None


@dataclass(frozen=True, slots=True)
class KnownServer:
    """What the state remembers of an account's server (``publish/detect.py`` finds it)."""

    server: str
    software: str
    version: str
    family: Literal["mastodon", "misskey"]
    found_by: str
    checked_at: datetime
    limits: ServerLimits | None = None  # as the server advertised them; None: not read yet
    limits_read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountRow:
    name: str
    failures: int
    retry_at: datetime | None
    problem: str | None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    feed: str
    key: str
    entry: Entry
    attempts: int


@dataclass(frozen=True, slots=True)
class EditItem:
    feed: str
    key: str
    entry: Entry
    status_id: str


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder whose time has come, with its event as last read and the announcement."""

    feed: str
    key: str
    label: str
    due_at: datetime
    entry: Entry
    attempts: int
    announcement_id: str | None  # the status to reply to, when the event was announced


@dataclass(frozen=True, slots=True)
class UpcomingReminder:
    feed: str
    key: str
    label: str
    due_at: datetime
    title: str


@dataclass(frozen=True, slots=True)
class FeedCounts:
    name: str
    posted: int
    pending: int
    failed: int
    skipped: int
    last_status_url: str | None
    last_failure: str | None


@dataclass(frozen=True, slots=True)
class StateSize:
    """How big the state database is, for `status` and /metrics."""

    bytes: int  # the database file's pages (the write-ahead log not included)
    items: int  # items kept whole
    forgotten: int  # items pruned to a digest of their key


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One outbox row as the status page shows it."""

    feed: str
    key: str
    state: EntryState
    title: str
    link: str | None
    status_url: str | None
    reason: str | None
    attempts: int
    discovered_at: datetime | None
    posted_at: datetime | None


class State:
    """One connection to the state database. Not shared between threads."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    # --- opening -------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> State:
        """Open (creating if needed) and migrate. Raises StateError with advice for staff."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The database holds item history only, but it is the library's: not
            # world-readable, from the first moment (SQLite gives its -wal and -shm files the
            # same mode).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as error:
            raise state_problem(path, error) from None
        try:
            # Each connection is used by one thread; check_same_thread=False only lets the
            # owner close it from another thread once that thread is done. One thread opens at
            # a time: switching a new file to WAL answers "database is locked" at once, without
            # waiting, while another connection is switching or migrating it.
            with _OPENING:
                connection = sqlite3.connect(
                    path, timeout=30, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA foreign_keys=ON")
                state = cls(connection)
                state._migrate()
        except sqlite3.DatabaseError as error:
            raise state_problem(path, error) from None
        return state

    @classmethod
    def open_readonly(cls, path: Path) -> State:
        """For --dry-run and `status`: reads what exists, never creates or changes a file."""
        if not path.exists():
            connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            state = cls(connection)
            state._migrate()
            return state
        try:
            connection = sqlite3.connect(
                f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            state = cls(connection)
            applied = state._applied_migrations()
            state._check_schema(applied)
            if "0004_forgotten_entries" not in applied:
                # Written by an older fedibridge and not opened for writing since: nothing
                # was pruned yet. An empty stand-in keeps the queries that look there working.
                connection.execute(
                    "CREATE TEMP TABLE forgotten (feed TEXT, digest BLOB, state TEXT)"
                )
        except sqlite3.DatabaseError as error:
            raise StateError(f"The state database {path} cannot be read ({error}).") from None
        return state

    def close(self) -> None:
        self._db.close()

    def _applied_migrations(self) -> list[str]:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
        ).fetchone()
        if not exists:
            return []
        return [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY name")]

    def _check_schema(self, applied: list[str]) -> None:
        known = {name for name, _ in MIGRATIONS}
        unknown = [name for name in applied if name not in known]
        if unknown:
            raise StateError(
                "The state database was written by a newer version of fedibridge "
                f"(it has changes named {', '.join(unknown)}). Run that version, or restore a "
                "backup made with this one. Nothing was changed."
            )

    def _migrate(self) -> None:
        with self._transaction():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            applied = self._applied_migrations()
            self._check_schema(applied)
            for name, script in MIGRATIONS:
                if name in applied:
                    continue
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO migrations VALUES (?, ?)", (name, _iso(datetime.now(UTC)))
                )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # A full disk may have ended the transaction already; what matters is that none
            # of it stays, and that the connection can start the next one.
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    # --- feeds ---------------------------------------------------------------

    def feed(self, name: str) -> FeedRow | None:
        row = self._db.execute(
            "SELECT name, url, title, etag, last_modified, first_polled_at, last_polled_at,"
            " last_success_at, last_result, last_error, moved_to, failures, not_found,"
            " next_poll_at, gone_since FROM feeds WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return FeedRow(
            name=row[0],
            url=row[1],
            title=row[2],
            validators=Validators(etag=row[3], last_modified=row[4]),
            first_polled_at=_time(row[5]),
            last_polled_at=_time(row[6]),
            last_success_at=_time(row[7]),
            last_result=row[8],
            last_error=row[9],
            moved_to=row[10],
            failures=row[11],
            not_found=row[12],
            next_poll_at=_time(row[13]),
            gone_since=_time(row[14]),
        )

    def record_fetch(
        self,
        feed: str,
        url: str,
        *,
        now: datetime,
        result: str,
        account: str | None = None,
        next_poll_at: datetime | None = None,
        validators: Validators | None = None,
        title: str | None = None,
        moved_to: str | None = None,
        new_entries: Iterable[NewEntry] = (),
        corrections: Iterable[Correction] = (),
    ) -> None:
        """Store new entries and the new validators in ONE transaction.

        Validators are saved only together with the entries they stand for: if the process dies
        before the commit, the next poll downloads the feed again and finds the same items.
        """
        with self._transaction():
            self._upsert_feed(feed, url, account)
            self._db.executemany(
                "INSERT OR IGNORE INTO entries"
                " (feed, key, state, payload, discovered_at, reason, fingerprint)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (feed, n.entry.key, n.state, _dump_entry(n.entry), _iso(now), n.reason,
                     fingerprint(n.entry))
                    for n in new_entries
                ],
            )  # fmt: skip
            self._db.executemany(
                "UPDATE entries SET payload = ?, fingerprint = ?,"
                " edit_wanted = edit_wanted OR ? WHERE feed = ? AND key = ?",
                [
                    (_dump_entry(c.entry), fingerprint(c.entry), c.edit, feed, c.entry.key)
                    for c in corrections
                ],
            )
            self._db.execute(
                "UPDATE feeds SET first_polled_at = COALESCE(first_polled_at, ?),"
                " last_polled_at = ?, last_success_at = ?, last_result = ?, last_error = NULL,"
                " moved_to = ?, failures = 0, not_found = 0, next_poll_at = ? WHERE name = ?",
                (_iso(now), _iso(now), _iso(now), result, moved_to, _opt_iso(next_poll_at), feed),
            )
            if validators is not None:
                self._db.execute(
                    "UPDATE feeds SET etag = ?, last_modified = ? WHERE name = ?",
                    (validators.etag, validators.last_modified, feed),
                )
            if title is not None:
                self._db.execute("UPDATE feeds SET title = ? WHERE name = ?", (title, feed))

    def record_fetch_failure(
        self,
        feed: str,
        url: str,
        *,
        now: datetime,
        message: str,
        next_poll_at: datetime | None,
        not_found: bool = False,
        gone: bool = False,
        account: str | None = None,
    ) -> None:
        with self._transaction():
            self._upsert_feed(feed, url, account)
            self._db.execute(
                "UPDATE feeds SET last_polled_at = ?, last_result = 'error', last_error = ?,"
                " failures = failures + 1,"
                " not_found = CASE WHEN ? THEN not_found + 1 ELSE 0 END,"
                " next_poll_at = ?, gone_since = CASE WHEN ? THEN ? END WHERE name = ?",
                (_iso(now), message, not_found, _opt_iso(next_poll_at), gone, _iso(now), feed),
            )

    def revive_feed(self, feed: str) -> None:
        """Poll a stopped or backed-off feed again at the next chance (staff asked for it)."""
        self._db.execute(
            "UPDATE feeds SET gone_since = NULL, next_poll_at = NULL, failures = 0,"
            " not_found = 0 WHERE name = ?",
            (feed,),
        )

    def _upsert_feed(self, feed: str, url: str, account: str | None) -> None:
        # A changed URL in the config keeps the feed's history (items are keyed by feed name)
        # but starts afresh with validators and failures: it is another website now.
        self._db.execute(
            "INSERT INTO feeds (name, url, account) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET url = excluded.url,"
            "  account = COALESCE(excluded.account, feeds.account),"
            "  etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END,"
            "  last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END,"
            "  failures = CASE WHEN feeds.url = excluded.url THEN feeds.failures ELSE 0 END,"
            "  not_found = CASE WHEN feeds.url = excluded.url THEN feeds.not_found ELSE 0 END,"
            "  gone_since = CASE WHEN feeds.url = excluded.url THEN feeds.gone_since END,"
            "  next_poll_at = CASE WHEN feeds.url = excluded.url THEN feeds.next_poll_at END",
            (feed, url, account),
        )

    # --- the outbox ----------------------------------------------------------

    def known(self, feed: str, keys: Iterable[str]) -> dict[str, Known]:
        """What the state knows of these entries: for noticing corrections."""
        wanted = list(keys)
        found: dict[str, Known] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, state, fingerprint, posted_at FROM entries"
                f" WHERE feed = ? AND key IN ({marks})",
                (feed, *chunk),
            )
            found.update((r[0], Known(r[1], r[2], _time(r[3]))) for r in rows)
        missing = {_digest(key): key for key in wanted if key not in found}
        digests = list(missing)
        for start in range(0, len(digests), 500):
            some = digests[start : start + 500]
            marks = ",".join("?" * len(some))
            rows = self._db.execute(
                f"SELECT digest, state FROM forgotten WHERE feed = ? AND digest IN ({marks})",
                (feed, *some),
            )
            # Pruned: no fingerprint, so never "corrected" (it is older than update_max_age).
            found.update((missing[r[0]], Known(r[1], None, None)) for r in rows)
        return found

    def prune(self, feed: str, *, before: datetime, settled_before: datetime, now: datetime) -> int:
        """Forget all but the key of the feed's items posted or skipped before ``before``, and
        keep only the title and link of items posted before ``settled_before`` (too old to be
        corrected: their text is never used again; the status page shows title and link).

        Pending and failed items are never pruned. Runs at most once per PRUNE_EVERY_HOURS per
        feed (a cheap check otherwise); returns how many items were pruned to their key."""
        row = self._db.execute("SELECT pruned_at FROM feeds WHERE name = ?", (feed,)).fetchone()
        last = _time(row[0]) if row else None
        if row is None or (last and (now - last).total_seconds() < PRUNE_EVERY_HOURS * 3600):
            return 0
        with self._transaction():
            old = self._db.execute(
                "SELECT rowid, key, state FROM entries WHERE feed = ?"
                " AND state IN ('posted', 'skipped') AND COALESCE(posted_at, discovered_at) < ?",
                (feed, _iso(before)),
            ).fetchall()
            self._db.executemany(
                "INSERT OR REPLACE INTO forgotten (feed, digest, state) VALUES (?, ?, ?)",
                [(feed, _digest(key), state) for _, key, state in old],
            )
            self._db.executemany("DELETE FROM entries WHERE rowid = ?", [(r[0],) for r in old])
            self._settle(feed, settled_before)
            self._db.execute("UPDATE feeds SET pruned_at = ? WHERE name = ?", (_iso(now), feed))
        return len(old)

    def _settle(self, feed: str, settled_before: datetime) -> None:
        """Slim posted items too old to be corrected to their title and link. A NULL
        fingerprint marks them (and keeps them from ever being taken for a correction).

        The rows are deleted and inserted again, not updated in place: SQLite leaves a page
        whose rows shrank as empty as they left it, so in-place updates would keep the file
        as large as before (bench/state_year.py: 35 MB instead of 17 MB for a year of a busy
        feed). Moving them changes only their rowid, which orders nothing that is posted."""
        where = (
            "feed = ? AND state = 'posted' AND fingerprint IS NOT NULL AND NOT edit_wanted"
            " AND posted_at < ?"
        )
        parameters = (feed, _iso(settled_before))
        self._db.execute("DROP TABLE IF EXISTS temp.settling")
        self._db.execute(
            f"CREATE TEMP TABLE settling AS SELECT * FROM entries WHERE {where}", parameters
        )
        self._db.execute(f"DELETE FROM entries WHERE {where}", parameters)
        self._db.execute(
            "UPDATE temp.settling SET fingerprint = NULL, payload = json_set(payload,"
            " '$.summary', '', '$.summary_is_html', json('false'), '$.categories', json('[]'),"
            " '$.author', NULL, '$.images', json('[]'))"
        )
        self._db.execute("INSERT INTO entries SELECT * FROM temp.settling")
        self._db.execute("DROP TABLE temp.settling")

    def size(self) -> StateSize:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        items = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        forgotten = self._db.execute("SELECT COUNT(*) FROM forgotten").fetchone()[0]
        return StateSize(pages * page_size, items, forgotten)

    def edits_wanted(self, feed: str) -> list[EditItem]:
        rows = self._db.execute(
            "SELECT key, payload, status_id FROM entries"
            " WHERE feed = ? AND edit_wanted AND state = 'posted' ORDER BY rowid",
            (feed,),
        )
        return [EditItem(feed, r[0], _load_entry(r[1]), r[2]) for r in rows]

    def mark_edited(self, feed: str, key: str) -> None:
        self._db.execute(
            "UPDATE entries SET edit_wanted = 0 WHERE feed = ? AND key = ?", (feed, key)
        )

    def pending(self, feed: str) -> list[OutboxItem]:
        """Items waiting to be posted, oldest first (the order they were planned in)."""
        rows = self._db.execute(
            "SELECT feed, key, payload, attempts FROM entries"
            " WHERE feed = ? AND state = 'pending' ORDER BY rowid",
            (feed,),
        )
        return [OutboxItem(r[0], r[1], _load_entry(r[2]), r[3]) for r in rows]

    def mark_attempt(self, feed: str, key: str, *, now: datetime) -> None:
        """Written before the request, so a crash mid-post is visible as an attempted item."""
        self._db.execute(
            "UPDATE entries SET attempts = attempts + 1, attempted_at = ?"
            " WHERE feed = ? AND key = ?",
            (_iso(now), feed, key),
        )

    def mark_posted(
        self, feed: str, key: str, *, status_id: str, status_url: str | None, now: datetime
    ) -> None:
        self._db.execute(
            "UPDATE entries SET state = 'posted', status_id = ?, status_url = ?, posted_at = ?,"
            " reason = NULL WHERE feed = ? AND key = ?",
            (status_id, status_url, _iso(now), feed, key),
        )

    def mark_skipped(self, feed: str, key: str, *, reason: str) -> None:
        self._db.execute(
            "UPDATE entries SET state = 'skipped', reason = ? WHERE feed = ? AND key = ?",
            (reason, feed, key),
        )

    def mark_failed(self, feed: str, key: str, *, reason: str) -> None:
        self._db.execute(
            "UPDATE entries SET state = 'failed', reason = ? WHERE feed = ? AND key = ?",
            (reason, feed, key),
        )

    def requeue(self, feed: str, key: str | None = None) -> int:
        """Put failed items (or one item that was not posted) back in the outbox.

        Without a key: every ``failed`` item, and items the flood guard held back. With a key:
        that item, whatever kept it back. Posted items are never requeued."""
        if key is None:
            cursor = self._db.execute(
                "UPDATE entries SET state = 'pending', reason = NULL WHERE feed = ?"
                " AND (state = 'failed' OR (state = 'skipped' AND reason LIKE 'flood guard%'))",
                (feed,),
            )
        else:
            cursor = self._db.execute(
                "UPDATE entries SET state = 'pending', reason = NULL"
                " WHERE feed = ? AND key = ? AND state IN ('failed', 'skipped')",
                (feed, key),
            )
        return cursor.rowcount

    def note_waiting(self, feed: str, key: str, *, reason: str) -> None:
        """Why a pending item is still pending (server down, token refused...)."""
        self._db.execute(
            "UPDATE entries SET reason = ? WHERE feed = ? AND key = ? AND state = 'pending'",
            (reason, feed, key),
        )

    # --- accounts ------------------------------------------------------------

    def account(self, name: str) -> AccountRow:
        row = self._db.execute(
            "SELECT failures, retry_at, problem FROM accounts WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return AccountRow(name, 0, None, None)
        return AccountRow(name, row[0], _time(row[1]), row[2])

    def account_failed(self, name: str, *, retry_at: datetime | None, problem: str) -> None:
        self._db.execute(
            "INSERT INTO accounts (name, failures, retry_at, problem) VALUES (?, 1, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET failures = failures + 1,"
            " retry_at = excluded.retry_at, problem = excluded.problem",
            (name, _opt_iso(retry_at), problem),
        )

    def account_waits(self, name: str, *, until: datetime, reason: str) -> None:
        """Posting pauses without a failure (the rate budget is used up)."""
        self._db.execute(
            "INSERT INTO accounts (name, retry_at, problem) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET retry_at = excluded.retry_at,"
            " problem = excluded.problem",
            (name, _iso(until), reason),
        )

    def known_server(self, server: str) -> KnownServer | None:
        row = self._db.execute(
            "SELECT software, version, family, found_by, checked_at, limits, limits_read_at"
            " FROM servers WHERE server = ?",
            (server,),
        ).fetchone()
        if row is None:
            return None
        limits, read_at = _load_limits(row[5]), _time(row[6])
        return KnownServer(
            server,
            row[0],
            row[1],
            row[2],
            row[3],
            datetime.fromisoformat(row[4]),
            limits if read_at else None,
            read_at if limits else None,
        )

    def remember_server(self, known: KnownServer) -> None:
        """Keep what was found out about the server, limits included (None: not read)."""
        self._db.execute(
            "INSERT INTO servers"
            " (server, software, version, family, found_by, checked_at, limits, limits_read_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (server) DO UPDATE SET"
            " software = excluded.software, version = excluded.version,"
            " family = excluded.family, found_by = excluded.found_by,"
            " checked_at = excluded.checked_at, limits = excluded.limits,"
            " limits_read_at = excluded.limits_read_at",
            (
                known.server,
                known.software,
                known.version,
                known.family,
                known.found_by,
                _iso(known.checked_at),
                _dump_limits(known.limits),
                _opt_iso(known.limits_read_at),
            ),
        )

    def remember_limits(self, server: str, limits: ServerLimits, *, read_at: datetime) -> None:
        """Keep the limits the server advertised with its software: a server that is not
        remembered (its software unknown) keeps no limits either."""
        self._db.execute(
            "UPDATE servers SET limits = ?, limits_read_at = ? WHERE server = ?",
            (_dump_limits(limits), _iso(read_at), server),
        )

    def forget_limits(self, server: str) -> None:
        """The next post reads the server's limits again."""
        self._db.execute(
            "UPDATE servers SET limits = NULL, limits_read_at = NULL WHERE server = ?", (server,)
        )

    def forget_server(self, server: str) -> None:
        self._db.execute("DELETE FROM servers WHERE server = ?", (server,))

    def account_ok(self, name: str) -> None:
        self._db.execute("DELETE FROM accounts WHERE name = ?", (name,))

    def record_action(self, account: str, kind: str, *, now: datetime) -> None:
        self._db.execute(
            "INSERT INTO account_actions (account, kind, at) VALUES (?, ?, ?)",
            (account, kind, _iso(now)),
        )

    def actions_since(self, account: str, kinds: Iterable[str], since: datetime) -> list[datetime]:
        """When the account did these kinds of things after ``since``, oldest first."""
        wanted = list(kinds)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT at FROM account_actions WHERE account = ? AND kind IN ({marks})"
            " AND at > ? ORDER BY at",
            (account, *wanted, _iso(since)),
        )
        return [datetime.fromisoformat(row[0]) for row in rows]

    def forget_actions_before(self, moment: datetime) -> None:
        self._db.execute("DELETE FROM account_actions WHERE at <= ?", (_iso(moment),))

    # --- reading for staff ---------------------------------------------------

    def latest_posts(self, limit: int) -> list[ItemRow]:
        """The newest posts of every feed, newest first."""
        return self._items("state = 'posted' ORDER BY posted_at DESC, rowid DESC", limit)

    def waiting_items(self, limit: int) -> list[ItemRow]:
        """Items not posted yet (pending) or refused (failed), longest waiting first."""
        return self._items("state IN ('pending', 'failed') ORDER BY rowid", limit)

    def totals_by_state(self) -> dict[EntryState, int]:
        """Items of every feed per state, pruned ones included (for backups and restores)."""
        totals: dict[EntryState, int] = {}
        for table in ("entries", "forgotten"):
            for state, count in self._db.execute(
                f"SELECT state, COUNT(*) FROM {table} GROUP BY state"
            ):
                totals[state] = totals.get(state, 0) + count
        return totals

    def posts_per_day(self, since: datetime) -> dict[str, int]:
        """Posts per UTC day ("2026-11-26") from ``since`` on; days without posts are absent."""
        rows = self._db.execute(
            "SELECT substr(posted_at, 1, 10), COUNT(*) FROM entries"
            " WHERE state = 'posted' AND posted_at >= ? GROUP BY 1",
            (_iso(since),),
        )
        return dict(rows.fetchall())

    def _items(self, where_and_order: str, limit: int) -> list[ItemRow]:
        # The title and link are read from the stored entry; json_extract spares loading it all.
        rows = self._db.execute(
            "SELECT feed, key, state, COALESCE(json_extract(payload, '$.title'), ''),"
            " json_extract(payload, '$.link'), status_url, reason, attempts, discovered_at,"
            f" posted_at FROM entries WHERE {where_and_order} LIMIT ?",
            (limit,),
        )
        return [
            ItemRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _time(r[8]), _time(r[9]))
            for r in rows
        ]

    def counts(self, feed: str) -> FeedCounts:
        by_state: dict[str, int] = {}
        for table in ("entries", "forgotten"):
            rows = self._db.execute(
                f"SELECT state, COUNT(*) FROM {table} WHERE feed = ? GROUP BY state", (feed,)
            )
            for state, count in rows:
                by_state[state] = by_state.get(state, 0) + count
        last_url = self._db.execute(
            "SELECT status_url FROM entries WHERE feed = ? AND state = 'posted'"
            " ORDER BY posted_at DESC, rowid DESC LIMIT 1",
            (feed,),
        ).fetchone()
        last_failure = self._db.execute(
            "SELECT reason FROM entries WHERE feed = ? AND state IN ('failed', 'pending')"
            " AND reason IS NOT NULL ORDER BY rowid DESC LIMIT 1",
            (feed,),
        ).fetchone()
        return FeedCounts(
            name=feed,
            posted=by_state.get("posted", 0),
            pending=by_state.get("pending", 0),
            failed=by_state.get("failed", 0),
            skipped=by_state.get("skipped", 0),
            last_status_url=last_url[0] if last_url else None,
            last_failure=last_failure[0] if last_failure else None,
        )

    def failed_items(self, feed: str, limit: int = 5) -> list[tuple[str, str, str]]:
        """The latest refused items: (key, title, reason)."""
        rows = self._db.execute(
            "SELECT key, payload, reason FROM entries WHERE feed = ? AND state = 'failed'"
            " ORDER BY rowid DESC LIMIT ?",
            (feed, limit),
        )
        return [(key, _load_entry(payload).title, reason or "") for key, payload, reason in rows]

    def skipped_reasons(self, feed: str) -> list[tuple[str, int]]:
        """Why the feed's items were left out: (reason, how many), most frequent first."""
        rows = self._db.execute(
            "SELECT COALESCE(reason, ''), COUNT(*) FROM entries WHERE feed = ?"
            " AND state = 'skipped' GROUP BY 1 ORDER BY 2 DESC, 1",
            (feed,),
        )
        return [(reason, count) for reason, count in rows]

    def entry_states(self, feed: str) -> dict[str, EntryState]:
        """Every key of a feed kept whole, with its state (pruned items are not listed: only
        a digest of their key is kept)."""
        rows = self._db.execute("SELECT key, state FROM entries WHERE feed = ?", (feed,))
        return dict(rows)

    # --- reminders of events ----------------------------------------------------

    def sync_reminders(
        self, feed: str, wanted: dict[tuple[str, str], datetime], *, now: datetime
    ) -> tuple[int, int, int]:
        """Bring the feed's reminders in line with the calendar as just read: ``wanted`` maps
        (event key, label) to its time, for every event ahead that is not cancelled.

        A new reminder is stored only if its time is still to come. A pending one moves with
        its event; one no longer wanted (the event vanished or was cancelled) is dropped. One
        dropped earlier comes back if its event does. Returns (added, moved, dropped)."""
        with self._transaction():
            rows = self._db.execute(
                "SELECT key, label, due_at, state FROM reminders WHERE feed = ?", (feed,)
            ).fetchall()
            known = {(key, label): (_time(due), state) for key, label, due, state in rows}
            added = moved = dropped = 0
            for (key, label), due in wanted.items():
                seen = known.get((key, label))
                if seen is None or (seen[1] == "dropped" and due > now):
                    if due > now:
                        self._db.execute(
                            "INSERT OR REPLACE INTO reminders (feed, key, label, due_at, state)"
                            " VALUES (?, ?, ?, ?, 'pending')",
                            (feed, key, label, _iso(due)),
                        )
                        added += 1
                elif seen[1] == "pending" and seen[0] != due:
                    self._db.execute(
                        "UPDATE reminders SET due_at = ? WHERE feed = ? AND key = ? AND label = ?",
                        (_iso(due), feed, key, label),
                    )
                    moved += 1
            for (key, label), (_, state) in known.items():
                if state == "pending" and (key, label) not in wanted:
                    self.drop_reminder(
                        feed, key, label, reason="the event was cancelled or left the calendar"
                    )
                    dropped += 1
        return added, moved, dropped

    def due_reminders(self, feed: str, now: datetime) -> list[DueReminder]:
        rows = self._db.execute(
            "SELECT r.key, r.label, r.due_at, e.payload, r.attempts, e.status_id"
            " FROM reminders r JOIN entries e ON e.feed = r.feed AND e.key = r.key"
            " WHERE r.feed = ? AND r.state = 'pending' AND r.due_at <= ? ORDER BY r.due_at",
            (feed, _iso(now)),
        )
        return [
            DueReminder(feed, r[0], r[1], _time(r[2]) or now, _load_entry(r[3]), r[4], r[5])
            for r in rows
        ]

    def next_reminder(self, feed: str) -> datetime | None:
        """When the feed's next pending reminder is due (perhaps already)."""
        row = self._db.execute(
            "SELECT MIN(due_at) FROM reminders WHERE feed = ? AND state = 'pending'", (feed,)
        ).fetchone()
        return _time(row[0]) if row else None

    def upcoming_reminders(self, limit: int, feed: str | None = None) -> list[UpcomingReminder]:
        if "0003_event_reminders" not in self._applied_migrations():
            return []  # a read-only look at a database from before reminders
        rows = self._db.execute(
            "SELECT r.feed, r.key, r.label, r.due_at,"
            " COALESCE(json_extract(e.payload, '$.title'), '')"
            " FROM reminders r JOIN entries e ON e.feed = r.feed AND e.key = r.key"
            " WHERE r.state = 'pending' AND (? IS NULL OR r.feed = ?)"
            " ORDER BY r.due_at LIMIT ?",
            (feed, feed, limit),
        )
        return [UpcomingReminder(r[0], r[1], r[2], _time(r[3]) or _EPOCH, r[4]) for r in rows]

    def mark_reminder_attempt(self, feed: str, key: str, label: str, *, now: datetime) -> None:
        self._db.execute(
            "UPDATE reminders SET attempts = attempts + 1, attempted_at = ?"
            " WHERE feed = ? AND key = ? AND label = ?",
            (_iso(now), feed, key, label),
        )

    def mark_reminder_posted(
        self,
        feed: str,
        key: str,
        label: str,
        *,
        status_id: str,
        status_url: str | None,
        now: datetime,
    ) -> None:
        self._db.execute(
            "UPDATE reminders SET state = 'posted', status_id = ?, status_url = ?, posted_at = ?"
            " WHERE feed = ? AND key = ? AND label = ?",
            (status_id, status_url, _iso(now), feed, key, label),
        )

    def drop_reminder(self, feed: str, key: str, label: str, *, reason: str) -> None:
        self._db.execute(
            "UPDATE reminders SET state = 'dropped', reason = ?"
            " WHERE feed = ? AND key = ? AND label = ? AND state = 'pending'",
            (reason, feed, key, label),
        )

    def set_feed_page(self, feed: str, link: str) -> None:
        self._db.execute(
            "INSERT INTO feed_pages (feed, link) VALUES (?, ?)"
            " ON CONFLICT (feed) DO UPDATE SET link = excluded.link",
            (feed, link),
        )

    def feed_page(self, feed: str) -> str | None:
        row = self._db.execute("SELECT link FROM feed_pages WHERE feed = ?", (feed,)).fetchone()
        return str(row[0]) if row else None

    def last_posted_at(self, feed: str) -> datetime | None:
        row = self._db.execute(
            "SELECT MAX(posted_at) FROM entries WHERE feed = ? AND state = 'posted'", (feed,)
        ).fetchone()
        return _time(row[0]) if row else None

    def reminder_states(self, feed: str) -> dict[tuple[str, str], str]:
        """Every reminder of a feed with its state (for tests)."""
        rows = self._db.execute("SELECT key, label, state FROM reminders WHERE feed = ?", (feed,))
        return {(key, label): state for key, label, state in rows}


class StateLock:
    """An exclusive lock beside the database: one bridge process per state file."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._file: TextIO | None = None

    def __enter__(self) -> StateLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise state_problem(self.path.with_suffix(""), error) from None
        file = os.fdopen(descriptor, "r+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise StateError(
                f"Another fedibridge is already using {self.path.with_suffix('')}. Only one may "
                "run per state file: stop the other one (check `docker ps` or running cron jobs)."
            ) from None
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


# --- problems with the state file, for staff ---------------------------------------

_FULL = ("disk is full", "disk i/o error")
_READ_ONLY = ("readonly database", "read-only", "unable to open database file")
_DAMAGED = ("malformed", "not a database", "file is encrypted")


@contextlib.contextmanager
def state_errors(path: Path) -> Iterator[None]:
    """Turn the database's own errors (full disk, read-only volume, damage) into a StateError
    that names the file and the fix."""
    try:
        yield
    except sqlite3.Error as error:
        raise state_problem(path, error) from None


def state_problem(path: Path, error: sqlite3.Error | OSError) -> StateError:
    """One sentence for staff: what is wrong with the state file at ``path``, and the fix."""
    text = str(error).lower()
    code = error.errno if isinstance(error, OSError) else None
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or any(w in text for w in _FULL):
        return StateError(
            f"The state database {path} could not be written: the disk is full (or the file "
            "reached a size limit). Nothing half-done was recorded. Free space on the "
            f"volume holding {path.parent}, then start fedibridge again; what was not recorded "
            "is done then, and nothing is posted twice."
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(w in text for w in _READ_ONLY):
        return StateError(
            f"The state database {path} cannot be written: the folder {path.parent} is "
            "read-only or belongs to another user. Make it writable for the user fedibridge "
            "runs as (in a container: mount the volume read-write and give it to that user), "
            "or set bridge.state_path to a writable place."
        )
    if any(w in text for w in _DAMAGED) or type(error) is sqlite3.DatabaseError:
        return StateError(
            f"The state database {path} cannot be read ({error}). It may be damaged. Nothing "
            "was changed. Restore it from a backup, or move it away to start afresh (the "
            "bridge then treats every feed as new and posts nothing old)."
        )
    return StateError(
        f"The state database {path} cannot be used ({error}). Check the disk and the "
        "file's permissions, then start fedibridge again."
    )


# --- (de)serialising entries ---------------------------------------------------


def _dump_entry(entry: Entry) -> str:
    data = asdict(entry)
    for name in ("published", "updated"):
        value = data[name]
        data[name] = _iso(value) if value is not None else None
    if entry.event is None:
        del data["event"]  # entries without one are stored as before events existed
    else:
        data["event"]["starts"] = _iso(entry.event.starts)
        data["event"]["ends"] = _opt_iso(entry.event.ends)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _load_entry(payload: str) -> Entry:
    data: dict[str, Any] = json.loads(payload)
    return Entry(
        key=data["key"],
        title=data["title"],
        link=data["link"],
        summary=data["summary"],
        summary_is_html=data["summary_is_html"],
        categories=tuple(data["categories"]),
        author=data["author"],
        language=data["language"],
        published=_time(data["published"]),
        updated=_time(data["updated"]),
        images=tuple(Image(**image) for image in data["images"]),
        event=_load_event(data.get("event")),
    )


def _load_event(data: dict[str, Any] | None) -> Event | None:
    if data is None:
        return None
    starts = _time(data["starts"])
    assert starts is not None
    return Event(
        starts=starts,
        ends=_time(data["ends"]),
        all_day=data["all_day"],
        location=data["location"],
        cancelled=data["cancelled"],
    )


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _dump_limits(limits: ServerLimits | None) -> str | None:
    return None if limits is None else json.dumps(asdict(limits), sort_keys=True)


def _load_limits(payload: str | None) -> ServerLimits | None:
    """Stored limits, or None (read them again) when there are none or they cannot be read
    as this version's ``ServerLimits``."""
    if payload is None:
        return None
    try:
        data = json.loads(payload)
        limits = ServerLimits(**{**data, "image_types": tuple(data["image_types"])})
    except (ValueError, TypeError, KeyError):
        return None
    return limits


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()[:16]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _opt_iso(moment: datetime | None) -> str | None:
    return _iso(moment) if moment is not None else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
