"""The Mastodon client API family, through Mastodon.py.

Mastodon.py's defaults suit interactive scripts, not an unattended daemon: it waits up to five
minutes on rate limits and retries for ever. Here it throws instead, with a short timeout, and
every failure is mapped to one of our error kinds in ``_translate``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import unescape
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

from fedibridge.errors import (
    AccountUnusable,
    ApiMissing,
    EditUnsupported,
    PostRejected,
    PublishError,
    ServerUnavailable,
)
from fedibridge.models import Post, ServerLimits
from fedibridge.publish import OwnPost, Published
from fedibridge.publish.quirks import (
    MASTODON,
    MISSKEY_ACCOUNT_CODES,
    ErrorBodies,
    Pacer,
    ServerQuirks,
    about_length,
    about_token,
    misskey_reset,
    readable,
    upload_media,
)
from fedibridge.render import html_to_text

T = TypeVar("T")

log = logging.getLogger("fedibridge")

REQUEST_TIMEOUT = 30.0
MEDIA_PROCESSING_TIMEOUT = 60.0
MEDIA_POLL_SECONDS = 1.0


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
        image_size_limit=_positive(media.get("image_size_limit"), defaults.image_size_limit),
        image_types=_image_types(media.get("supported_mime_types"), defaults.image_types),
    )


def _image_types(value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, list):
        return default
    types = tuple(str(t) for t in value if str(t).startswith("image/"))
    return types or default


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
    def __init__(
        self,
        server: str,
        token: str,
        *,
        user_agent: str,
        http: httpx.Client,
        quirks: ServerQuirks = MASTODON,
        advertised: ServerLimits | None = None,
    ) -> None:
        self.server = server
        self._http = http
        # The limits the server advertises (read_limits), before our counting rules; None
        # until read. An earlier run's may be handed in (kept in the state).
        self.advertised = advertised
        self._account_id: str | None = None
        self._token = token
        self.quirks = quirks
        self._media_v1 = quirks.media_v1_only
        self._pacer = Pacer(quirks.min_post_interval)
        # Keeps error bodies that Mastodon.py drops (plain text, HTML) for the reasons we show.
        self._errors = ErrorBodies()
        self._api = Mastodon(
            access_token=token,
            api_base_url=server,
            request_timeout=REQUEST_TIMEOUT,
            ratelimit_method="throw",
            # Never let Mastodon.py ask for the version: it fails on other servers' version
            # strings and asks /api/v1/instance/ with a trailing slash. It then behaves as for
            # an old server (and ignores a given mastodon_version), so uploads go over httpx.
            version_check_mode="none",
            user_agent=user_agent,
            session=self._errors.session(),
        )

    def limits(self) -> ServerLimits:
        if self.advertised is None:
            try:
                self.advertised = read_limits(self._http, self.server)
            except ServerUnavailable as error:
                # Posting may work although the instance endpoints do not: go on with
                # Mastodon's defaults (a post refused as too long is tried again counting
                # raw), and ask again next time. Defaults are never taken for advertised.
                log.warning("%s; posting with Mastodon's default limits", error)
                return self._counted(ServerLimits())
        return self._counted(self.advertised)

    def _counted(self, limits: ServerLimits) -> ServerLimits:
        return limits.counting_raw() if self.quirks.urls_count_raw else limits

    def verify(self) -> str:
        try:
            account = self._call(self._api.account_verify_credentials)
        except PostRejected as error:
            # snac answers a wrong or missing token here with 422 and an empty body.
            raise AccountUnusable(
                f"{_host(self.server)} would not say whose the access token is ({error.reason}): "
                "it is wrong, revoked, or lacks a permission"
            ) from None
        return f"@{account['acct']}@{_host(self.server)}"

    def post(self, post: Post, idempotency_key: str, media_ids: Sequence[str] = ()) -> Published:
        self._pacer.wait()
        status = self._call(
            lambda: self._api.status_post(
                post.text,
                visibility=post.visibility,
                language=post.language,
                spoiler_text=post.spoiler_text or None,
                sensitive=post.sensitive,
                media_ids=list(media_ids) or None,
                idempotency_key=idempotency_key,
                in_reply_to_id=post.in_reply_to,
            )
        )
        status_id = status.get("id") if isinstance(status, Mapping) else None
        if status_id is None or str(status_id) in ("", "None"):
            # Posted or not, fedibridge cannot tell: like a lost answer, the item stays pending
            # and is looked for among the account's posts before it is sent again.
            raise ServerUnavailable(
                f"{_host(self.server)} answered the post without saying which post it made (no "
                "status id); fedibridge looks for it on the account before trying again"
            )
        return Published(status_id=str(status_id), url=status.get("url") or status.get("uri"))

    def recent_posts(self, limit: int = 40) -> list[OwnPost]:
        if self._account_id is None:
            self._account_id = str(self._call(self._api.account_verify_credentials)["id"])
        account_id = self._account_id
        statuses = self._call(
            lambda: self._api.account_statuses(account_id, exclude_reblogs=True, limit=limit)
        )
        return [_own_post(status) for status in statuses]

    def upload(
        self, data: bytes, mime_type: str, description: str, *, sensitive: bool = False
    ) -> str:
        # Mastodon marks the post, not the file, as sensitive (see post()).
        media = self._call(lambda: self._post_media(data, mime_type, description))
        media_id = str(media["id"])
        # Large images are processed after the upload answers (202, url null); posting before
        # processing ends is refused. Wait, but not for ever (Mastodon.py would).
        deadline = time.monotonic() + MEDIA_PROCESSING_TIMEOUT
        while not media.get("url"):
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"{_host(self.server)} took too long to process an image")
            time.sleep(MEDIA_POLL_SECONDS)
            media = self._call(lambda: self._api.media(media_id))
        return media_id

    def _post_media(self, data: bytes, mime_type: str, description: str) -> Mapping[str, Any]:
        # Not through Mastodon.py: with version_check_mode="none" it ignores mastodon_version
        # and sends every upload to the deprecated /api/v1/media. v2 first, as Mastodon
        # wants; v1 where v2 is missing (Friendica), remembered for the next upload.
        image = (data, mime_type, description)
        media = None
        if not self._media_v1:
            media = upload_media(self._http, self.server, self._token, "v2", image)
            self._media_v1 = media is None
        if media is None:
            media = upload_media(self._http, self.server, self._token, "v1", image)
        if media is None:
            raise PostRejected(f"{_host(self.server)} accepts no images (no media upload)")
        return media

    def edit(self, status_id: str, post: Post, media_ids: Sequence[str] = ()) -> None:
        if not self.quirks.edit_keeps_visibility and post.visibility != "public":
            # The worst such a server can do to a public post is narrow its audience; a
            # followers-only post could become public, so it is not edited there.
            raise EditUnsupported(
                f"{_host(self.server)} may make a post public when it is edited, and this "
                f"post is {post.visibility}: the change is not posted"
            )
        # Visibility cannot change on an edit; the language rides along with the text.
        try:
            self._api.status_update(
                status_id,
                post.text,
                spoiler_text=post.spoiler_text or None,
                sensitive=post.sensitive,
                media_ids=list(media_ids) or None,
            )
        except MastodonNotFoundError:
            # About this one post (deleted on the server, or an unknown id), not the account.
            raise PostRejected(
                f"the post {status_id} is not on {_host(self.server)} any more (HTTP 404: "
                "deleted, or its id is unknown), so it cannot be corrected"
            ) from None
        except MastodonError as error:
            raise self._translate(error) from None

    def _call(self, request: Callable[[], T]) -> T:
        try:
            return request()
        except MastodonError as error:
            raise self._translate(error) from None

    def _translate(self, error: MastodonError) -> PublishError:
        host = _host(self.server)
        if isinstance(error, MastodonRatelimitError):
            reset = self._api.ratelimit_reset
            # Servers without X-RateLimit headers may still send Retry-After.
            retry_at = datetime.fromtimestamp(reset, UTC) if reset else self._errors.retry_at()
            return ServerUnavailable(f"{host} asks us to slow down (rate limit)", retry_at)
        if isinstance(error, MastodonNetworkError):
            refused = str(error).partition("the answer ")[2]  # from quirks.BoundedAdapter
            if refused:
                return ServerUnavailable(
                    f"{host} sent an answer fedibridge would not read: it {refused}"
                )
            if "timed out" in str(error).lower():
                return ServerUnavailable(
                    f"{host} did not answer within {REQUEST_TIMEOUT:g} seconds (the server is "
                    "slow or overloaded)"
                )
            return ServerUnavailable(f"could not reach {host}: the network or server is down")
        if misskey := self._errors.misskey_error():
            return self._translate_misskey(misskey, _status(error))
        if isinstance(error, MastodonServerError):
            return ServerUnavailable(f"{host} had a server error (HTTP {_status(error)})")
        if (
            isinstance(error, MastodonUnauthorizedError)
            or _status(error) == 403
            or self._token_refused_with_400(error)
        ):
            # A server may echo what it was sent: the token never reaches a message.
            reason = self._errors.text().replace(self._token, "…") or "no reason given"
            return AccountUnusable(
                f"{host} refused the access token (HTTP {_status(error)}: {reason}): it is "
                "wrong, revoked, or lacks a permission this request needs"
            )
        if isinstance(error, MastodonNotFoundError):
            return ApiMissing(
                f"{host} has no Mastodon API at this address: check the server setting"
            )
        status = _status(error)
        if isinstance(error, MastodonAPIError) and status in (400, 422):
            reason = self._reason(error)
            return PostRejected(reason, too_long=about_length(reason))
        # A 200 with a body that is not JSON, or anything unexpected: the outcome is unknown,
        # so the item stays pending and the retry carries the same Idempotency-Key.
        return ServerUnavailable(f"{host} gave an answer fedibridge could not read")

    def _translate_misskey(self, error: Mapping[str, Any], status: int | None) -> PublishError:
        """Sharkey's Mastodon API answers every error with HTTP 401 and Misskey's error
        object: its code, not the status, says whether the token is at fault."""
        host = _host(self.server)
        code = str(error.get("code"))
        if code == "RATE_LIMIT_EXCEEDED":
            return ServerUnavailable(
                f"{host} asks us to slow down (rate limit)", misskey_reset(error)
            )
        if code in MISSKEY_ACCOUNT_CODES:
            return AccountUnusable(
                f"{host} refused the access token (HTTP {status}, {code}): it is wrong, revoked "
                "or lacks a permission"
            )
        reason = readable(json.dumps({"error": error}))
        return PostRejected(reason, too_long=about_length(reason))

    def _reason(self, error: MastodonError) -> str:
        message = error.args[3] if len(error.args) > 3 else None
        # Mastodon.py keeps only a JSON body's "error"; plain-text and HTML bodies are kept here.
        text = message if isinstance(message, str) and message else self._errors.text()
        return text or "the server refused the post without saying why"

    def _token_refused_with_400(self, error: MastodonError) -> bool:
        """Some servers answer a bad token with 400, not 401 (Takahē: "Invalid Bearer
        token"). A 400 that is not plainly about the token is checked by asking who we are,
        so that a bad token never parks items as refused."""
        if _status(error) != 400:
            return False
        reason = self._reason(error)
        if about_token(reason):
            return True
        if about_length(reason):
            return False
        try:
            self._api.account_verify_credentials()
        except MastodonError as probe:
            return _status(probe) in (400, 401, 403)
        return False


def _own_post(status: Mapping[str, Any]) -> OwnPost:
    html = str(status.get("content") or "")
    created = status.get("created_at")
    return OwnPost(
        status_id=str(status["id"]),
        url=status.get("url") or status.get("uri"),
        text=html_to_text(html),
        links=tuple(unescape(href) for href in _HREF.findall(html)),
        created_at=created if isinstance(created, datetime) else None,
    )


_HREF = re.compile(r"""href=["']([^"']+)["']""")


def _status(error: MastodonError) -> int | None:
    return error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else None


def _host(server: str) -> str:
    return urlsplit(server).netloc or server


def _plain(error: httpx.HTTPError) -> str:
    return type(error).__name__
