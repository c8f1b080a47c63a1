"""The exception tree. Each edge maps its failures into one of these kinds, in one place.

The kind decides what happens next:

* ``FeedUnavailable`` / ``ServerUnavailable``: try again later, nothing is lost.
* ``FeedGone``: stop polling that feed until staff fix its URL.
* ``NotAFeed``: the answer was not a feed this time; try again at the next poll.
* ``PostRejected``: the server refused this one post; park the item as ``failed``.
* ``AccountUnusable``: the token is wrong or revoked; stop posting for that account.
* ``ConfigError`` / ``StateError``: stop and tell staff; nothing runs on a bad setup.

Every message is written for library staff and never contains a token.
"""

from __future__ import annotations

from datetime import datetime


class FedibridgeError(Exception):
    """Base class; ``str(error)`` is a message staff can act on."""


class ConfigError(FedibridgeError):
    """The configuration cannot be used. Carries one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StateError(FedibridgeError):
    """The state database cannot be used safely (corrupt, newer, or in use)."""


class FeedError(FedibridgeError):
    """Fetching or reading a feed failed."""


class FeedUnavailable(FeedError):
    """Network trouble, a server error or a rate limit: try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class FeedGone(FeedError):
    """404 or 410: the feed is not at this address. ``permanent`` when the website says so
    (410) or the address cannot work at all; a 404 may be a website's passing mistake."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class NotAFeed(FeedError):
    """The answer was not an RSS/Atom feed (an HTML page, an empty or oversized body)."""


class PublishError(FedibridgeError):
    """Posting to the fediverse server failed."""


class ServerUnavailable(PublishError):
    """Network trouble, a server error or a rate limit: the post stays pending."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        self.retry_at = retry_at
        super().__init__(message)


class PostRejected(PublishError):
    """The server refused this post (HTTP 422 or 400). ``too_long`` if length was the reason."""

    def __init__(self, reason: str, *, too_long: bool = False) -> None:
        self.reason = reason
        self.too_long = too_long
        super().__init__(reason)


class AccountUnusable(PublishError):
    """401/403: the token is missing, wrong, revoked or lacks a scope."""


class ApiMissing(AccountUnusable):
    """The server answered 404 where its API should be: a wrong address, or a server whose
    software changed since it was detected (detect again)."""


class EditUnsupported(PublishError):
    """This server cannot edit posts (Misskey, older servers): corrections are skipped."""
