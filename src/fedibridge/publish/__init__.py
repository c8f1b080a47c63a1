"""Publishing to the library's fediverse account, behind one small interface.

The rest of the bridge talks to a ``Publisher`` and never to a server library directly, so a
server family (Mastodon API today) can be added without touching the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fedibridge.models import Post, ServerLimits


@dataclass(frozen=True, slots=True)
class Published:
    status_id: str
    url: str | None


class Publisher(Protocol):
    def limits(self) -> ServerLimits:
        """What the server accepts (length, URL weight, attachments). Cached per instance."""
        ...

    def verify(self) -> str:
        """Check the token; return the account's handle (``@library@server.example``)."""
        ...

    def post(self, post: Post, idempotency_key: str) -> Published:
        """Create the status. Raises a ``PublishError`` kind on failure."""
        ...
