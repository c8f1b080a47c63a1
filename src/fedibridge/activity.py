"""What the running daemon knows that the state database does not: when each feed is polled
next (the scheduler's plan) and how many polls this process made.

The status page reads these through ``DaemonView``, so it never imports the scheduler. Poll
counts live as long as the process; everything else on the page comes from the state file and
survives a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PollCount:
    ok: int = 0
    failed: int = 0


class DaemonView(Protocol):
    """A read-only look into the running daemon."""

    def next_poll(self, feed: str) -> datetime | None:
        """When the scheduler runs this feed's poll next; None when it is not scheduled."""
        ...

    def polls(self) -> dict[str, PollCount]:
        """Polls since this process started, per feed."""
        ...


class PollTally:
    """Counts polls per feed; written by the scheduler's worker threads, read by the page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, PollCount] = {}

    def record(self, feed: str, *, ok: bool) -> None:
        with self._lock:
            count = self._counts.get(feed, PollCount())
            self._counts[feed] = PollCount(count.ok + ok, count.failed + (not ok))

    def counts(self) -> dict[str, PollCount]:
        with self._lock:
            return dict(self._counts)
