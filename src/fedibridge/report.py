"""What one cycle did, for staff: the lines `once` prints and the daemon logs, and the posts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fedibridge.models import Post


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """A post that was sent (status_url set), would be sent (dry run) or was refused."""

    feed: str
    entry_key: str
    post: Post
    status_url: str | None = None
    error: str | None = None
    kind: str = "post"  # or "reminder" (of an event)
    at: datetime | None = None  # when a reminder is due (previews)


@dataclass(slots=True)
class FeedReport:
    feed: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)  # what happened, in plain words
    posts: list[PostOutcome] = field(default_factory=list)
    # Not polled: its website's request slots stayed taken (transfer.WebsiteBusy). Not a
    # failure of the feed; the daemon tries it again soon.
    busy: bool = False

    def problem(self, message: str) -> None:
        self.ok = False
        self.lines.append(message)

    def say(self, message: str) -> None:
        self.lines.append(message)
