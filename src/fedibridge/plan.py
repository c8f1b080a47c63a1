"""Pure decisions about a freshly parsed feed: what is new, what gets posted, in which order.

Nothing here does I/O or reads the clock; the cycle hands in what the state database knows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from fedibridge.models import Entry, NewEntry

BASELINE = "already in the feed when fedibridge first read it"


@dataclass(frozen=True, slots=True)
class Plan:
    new: tuple[NewEntry, ...]  # oldest first: the order they will be posted in
    note: str | None = None  # something staff should hear about this poll

    @property
    def to_post(self) -> int:
        return sum(1 for n in self.new if n.state == "pending")


def plan_entries(
    entries: tuple[Entry, ...],
    known: set[str],
    *,
    first_contact: bool,
    backfill: int,
    flood_items: int,
    flood_ratio: float,
) -> Plan:
    """Decide the fate of every entry the state does not know yet.

    First contact records everything and posts only the ``backfill`` newest. Later polls post
    every new entry, unless so many arrive at once that the site has most likely changed its
    item ids or addresses (the flood guard): then nothing is posted and staff are told.
    """
    fresh = oldest_first([e for e in entries if e.key not in known])
    if not fresh:
        return Plan(())
    if first_contact:
        cut = len(fresh) - min(backfill, len(fresh))
        new = tuple(
            NewEntry(e, "skipped", BASELINE) if i < cut else NewEntry(e, "pending")
            for i, e in enumerate(fresh)
        )
        note = (
            f"first visit: {len(fresh)} items recorded as already published; "
            f"{len(fresh) - cut} of the newest will be posted (backfill)"
        )
        return Plan(new, note)
    if len(fresh) > flood_items and len(fresh) >= flood_ratio * len(entries):
        reason = (
            f"flood guard: {len(fresh)} of the feed's {len(entries)} items looked new at once, "
            "which usually means the website changed its item ids or addresses"
        )
        note = (
            f"{reason}. Nothing was posted from this poll. If these really are new, raise "
            "flood_guard_items for this feed and run `fedibridge retry`."
        )
        return Plan(tuple(NewEntry(e, "skipped", reason) for e in fresh), note)
    return Plan(tuple(NewEntry(e, "pending") for e in fresh))


_EPOCH = datetime.min.replace(tzinfo=UTC)


def oldest_first(entries: list[Entry]) -> list[Entry]:
    """Order for posting. Feeds list the newest first, so document order reversed is the
    fallback; dates decide where every entry has one."""
    reversed_document = list(reversed(entries))
    if all(e.published or e.updated for e in entries):
        # sorted() is stable: entries with equal dates keep reversed document order.
        return sorted(reversed_document, key=lambda e: e.published or e.updated or _EPOCH)
    return reversed_document


def newest(entries: tuple[Entry, ...], count: int) -> list[Entry]:
    """The ``count`` newest entries, oldest of them first (for previews)."""
    ordered = oldest_first(list(entries))
    return ordered[max(0, len(ordered) - count) :]


def idempotency_key(server: str, account: str, feed: str, entry_key: str) -> str:
    """The same entry to the same account always carries the same key, across restarts."""
    material = "\n".join((server, account, feed, entry_key)).encode("utf-8")
    return "fedibridge-" + hashlib.sha256(material).hexdigest()[:40]
