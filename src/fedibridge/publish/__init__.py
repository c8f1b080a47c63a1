"""Publishing to the library's fediverse account, behind one small interface.

The rest of the bridge talks to a ``Publisher`` and never to a server library directly, so a
server family (the Mastodon client API, Misskey's API) is one module here and nothing else
changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fedibridge.models import OwnPost, Post, ServerLimits

__all__ = ["OwnPost", "Published", "Publisher"]


@dataclass(frozen=True, slots=True)
class Published:
    status_id: str
    url: str | None


class Publisher(Protocol):
    server: str

    def limits(self) -> ServerLimits:
        """What the server accepts (length, URL weight, attachments). Cached per instance."""
        ...

    def verify(self) -> str:
        """Check the token; return the account's handle (``@library@server.example``)."""
        ...

    def post(self, post: Post, idempotency_key: str, media_ids: Sequence[str] = ()) -> Published:
        """Create the status. Raises a ``PublishError`` kind on failure."""
        ...

    def recent_posts(self, limit: int = 40) -> list[OwnPost]:
        """The account's own latest posts, newest first (to reconcile after a crash)."""
        ...

    def upload(
        self, data: bytes, mime_type: str, description: str, *, sensitive: bool = False
    ) -> str:
        """Upload one image with its description (alt text); return the media id once the
        server has processed it (bounded wait). ``sensitive`` hides it behind a warning where
        the server marks files rather than posts (Misskey). Raises a ``PublishError`` kind."""
        ...

    def edit(self, status_id: str, post: Post, media_ids: Sequence[str] = ()) -> None:
        """Change a posted status's text, content warning and media (never its visibility).
        Raises ``EditUnsupported`` where the server cannot edit."""
        ...
