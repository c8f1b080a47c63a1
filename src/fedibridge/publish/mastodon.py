"""The Mastodon client API family, through Mastodon.py.

Mastodon.py's defaults suit interactive scripts, not an unattended daemon: it waits up to five
minutes on rate limits and retries for ever. Here it throws instead, with a short timeout, and
every failure is mapped to one of our error kinds in ``_translate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from fedibridge.errors import AccountUnusable, PostRejected, PublishError, ServerUnavailable
from fedibridge.models import Post, ServerLimits
from fedibridge.publish import Published

T = TypeVar("T")

REQUEST_TIMEOUT = 30.0


def limits_from_instance(data: Mapping[str, Any]) -> ServerLimits:
    """Read limits from /api/v2/instance, /api/v1/instance or Pleroma's ``max_toot_chars``."""
    defaults = ServerLimits()
    configuration = data.get("configuration") or {}
    statuses = configuration.get("statuses") or {}
    media = configuration.get("media_attachments") or {}
    max_characters = statuses.get("max_characters") or data.get("max_toot_chars")
    return ServerLimits(
        max_characters=_positive(max_characters, defaults.max_characters),
        characters_per_url=_positive(
            statuses.get("characters_reserved_per_url"), defaults.characters_per_url
        ),
        max_media=_positive(statuses.get("max_media_attachments"), defaults.max_media),
        description_limit=_positive(media.get("description_limit"), defaults.description_limit),
    )


def _positive(value: object, default: int | None) -> Any:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def read_limits(client: httpx.Client, server: str) -> ServerLimits:
    """Ask the server for its limits; no token needed. Tries v2, then v1 (no trailing slash:
    some servers answer 404 to Mastodon.py's ``/api/v1/instance/``)."""
    last_error = ""
    for path in ("/api/v2/instance", "/api/v1/instance"):
        try:
            response = client.get(server + path)
        except httpx.HTTPError as error:
            raise ServerUnavailable(
                f"could not reach {_host(server)} to read its limits ({_plain(error)})"
            ) from None
        if response.status_code == 200:
            try:
                data = response.json()
            except ValueError:
                last_error = f"{path} did not answer with JSON"
                continue
            if isinstance(data, dict):
                return limits_from_instance(data)
        last_error = f"{path} answered HTTP {response.status_code}"
    raise ServerUnavailable(f"{_host(server)} did not tell its limits ({last_error})")


class MastodonPublisher:
    def __init__(self, server: str, token: str, *, user_agent: str, http: httpx.Client) -> None:
        self.server = server
        self._http = http
        self._limits: ServerLimits | None = None
        self._api = Mastodon(
            access_token=token,
            api_base_url=server,
            request_timeout=REQUEST_TIMEOUT,
            ratelimit_method="throw",
            version_check_mode="none",
            user_agent=user_agent,
        )

    def limits(self) -> ServerLimits:
        if self._limits is None:
            self._limits = read_limits(self._http, self.server)
        return self._limits

    def verify(self) -> str:
        account = self._call(self._api.account_verify_credentials)
        return f"@{account['acct']}@{_host(self.server)}"

    def post(self, post: Post, idempotency_key: str) -> Published:
        status = self._call(
            lambda: self._api.status_post(
                post.text,
                visibility=post.visibility,
                language=post.language,
                spoiler_text=post.spoiler_text or None,
                idempotency_key=idempotency_key,
            )
        )
        return Published(status_id=str(status["id"]), url=status.get("url") or status.get("uri"))

    def _call(self, request: Callable[[], T]) -> T:
        try:
            return request()
        except MastodonError as error:
            raise self._translate(error) from None

    def _translate(self, error: MastodonError) -> PublishError:
        host = _host(self.server)
        if isinstance(error, MastodonRatelimitError):
            reset = self._api.ratelimit_reset
            retry_at = datetime.fromtimestamp(reset, UTC) if reset else None
            return ServerUnavailable(f"{host} asks us to slow down (rate limit)", retry_at)
        if isinstance(error, MastodonNetworkError):
            return ServerUnavailable(f"could not reach {host}: the network or server is down")
        if isinstance(error, MastodonServerError):
            return ServerUnavailable(f"{host} had a server error (HTTP {_status(error)})")
        if isinstance(error, MastodonUnauthorizedError) or _status(error) == 403:
            return AccountUnusable(
                f"{host} refused the access token (HTTP {_status(error)}): it is wrong, revoked "
                "or lacks the write:statuses permission"
            )
        if isinstance(error, MastodonNotFoundError):
            return AccountUnusable(
                f"{host} has no Mastodon API at this address: check the server setting"
            )
        status = _status(error)
        if isinstance(error, MastodonAPIError) and status in (400, 422):
            reason = _reason(error)
            return PostRejected(reason, too_long=_about_length(reason))
        # A 200 with a body that is not JSON, or anything unexpected: the outcome is unknown,
        # so the item stays pending and the retry carries the same Idempotency-Key.
        return ServerUnavailable(f"{host} gave an answer fedibridge could not read")


def _status(error: MastodonError) -> int | None:
    return error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else None


def _reason(error: MastodonError) -> str:
    message = error.args[3] if len(error.args) > 3 else None
    return str(message or "the server refused the post without saying why")


def _about_length(reason: str) -> bool:
    lowered = reason.lower()
    return "too long" in lowered or "character limit" in lowered or "characters" in lowered


def _host(server: str) -> str:
    return urlsplit(server).netloc or server


def _plain(error: httpx.HTTPError) -> str:
    return type(error).__name__
