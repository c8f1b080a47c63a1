"""How Mastodon-API servers differ from Mastodon, as data, and the helpers that cope with it.

``detect.py`` decides a ``ServerQuirks`` once per server from the software it names; the
publisher reads those flags instead of asking "is this GoToSocial?" in many places. The rest
of this module reads what servers other than Mastodon answer: error bodies in plain text or
HTML, other wordings for "too long" and "bad token", and media uploads that fall back to
``/api/v1/media`` where ``/api/v2/media`` is missing.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx
import requests
from requests.adapters import HTTPAdapter

from fedibridge.errors import (
    AccountUnusable,
    ApiMissing,
    PostRejected,
    PublishError,
    ServerUnavailable,
)
from fedibridge.fetch import parse_retry_after
from fedibridge.render import html_to_text
from fedibridge.transfer import ANSWER_LIMIT, TransferFailed, inflate_all


@dataclass(frozen=True, slots=True)
class ServerQuirks:
    """What one server software does differently from Mastodon. Defaults are Mastodon's."""

    # It advertises a fixed weight per link but counts every character (GoToSocial, Takahē,
    # Sharkey's Mastodon API): render counting raw from the start instead of after a refusal.
    urls_count_raw: bool = False
    # Only /api/v1/media exists (Friendica). Elsewhere a 404 on /api/v2/media also falls back.
    media_v1_only: bool = False
    # An edit keeps the post's visibility. Where that is not known, an edit could turn a
    # followers-only post public, so only public posts are edited there.
    edit_keeps_visibility: bool = True
    # Seconds to keep between two posts, where the server refuses them closer together
    # (Sharkey's Mastodon API inherits Misskey's one note a second).
    min_post_interval: float = 0.0
    # The scope that lets the bridge ask who it is (verify_credentials), where it is not
    # Mastodon's own: Takahē demands the whole "read" scope there (scope_required("read")) and
    # refuses read:accounts with 403 out_of_scope_for_token. None: decided by the version.
    account_scope: str | None = None


MASTODON = ServerQuirks()
UNKNOWN = ServerQuirks(edit_keeps_visibility=False)

REASON_MAX = 300  # characters of a server's error text kept for staff
_HEAD = re.compile(r"<head\b.*?</head>", re.I | re.S)

# Wordings of "this post is too long" seen from servers of the Mastodon-API family:
# Mastodon "character limit", Pleroma/Akkoma "over the character limit", GoToSocial
# "status too long, 537 characters provided", Takahē "Status is too long", Misskey-based
# "must NOT have more than 3000 characters".
_LENGTH_WORDS = ("too long", "character limit", "characters", "maxlength", "max_length")
# Wordings of "the token is not good" on servers that answer 400 instead of 401 (Takahē:
# "Invalid Bearer token", as plain text).
_TOKEN_WORDS = ("token", "unauthori", "not authori", "credential", "authenticat", "logged in")


def about_length(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in _LENGTH_WORDS)


def about_token(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in _TOKEN_WORDS)


def readable(body: str) -> str:
    """A server's error body (JSON, plain text or an HTML page) as one short line for staff."""
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if data is not None:
        text = _json_error(data) or text
    elif "<" in text and ">" in text:
        text = html_to_text(_HEAD.sub("", text))  # the page's <title> would repeat itself
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1].rstrip() + "…"


def _json_error(data: object) -> str:
    """Mastodon's {"error", "error_description"} or Misskey's {"error": {"message", ...}}."""
    if not isinstance(data, dict):
        return str(data) if isinstance(data, str) else ""
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    parts = [data.get("error"), data.get("error_description")]
    return ": ".join(str(part) for part in parts if isinstance(part, str) and part)


ANSWER_SECONDS = 60.0
"""The longest a fediverse server's whole answer may take to arrive (each read: 30 s)."""


class AnswerRefused(requests.exceptions.ConnectionError):
    """A server's answer that ``BoundedAdapter`` would not read to its end."""


class BoundedAdapter(HTTPAdapter):
    """Mastodon.py reads answers through ``requests``, which inflates any number of content
    codings and reads a body to its end however long it takes. Here, as ``transfer.py`` does
    for httpx: one coding at most, never beyond ``ANSWER_LIMIT`` bytes inflated, the whole
    answer within ``ANSWER_SECONDS``. A refused answer is a network error to Mastodon.py, so
    the item stays pending and is looked for on the account before it is sent again."""

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **options: Any
    ) -> requests.Response:
        response = super().send(request, stream=True, **options)
        coding = response.headers.get("Content-Encoding", "")
        try:
            pieces = response.raw.stream(64 * 1024, decode_content=False)
            response._content = inflate_all(pieces, coding, ANSWER_LIMIT, ANSWER_SECONDS)
        except TransferFailed as error:
            response.close()
            raise AnswerRefused(f"the answer {error}", request=request) from None
        response._content_consumed = True
        # Inflated already: nothing may inflate it again.
        response.headers.pop("Content-Encoding", None)
        return response


class ErrorBodies:
    """Remembers, per thread, the body and Retry-After of the last refused request.

    Mastodon.py keeps only the ``error`` field of a JSON body and drops anything else; Takahē
    answers a bad token with plain text and some servers (or their proxies) send HTML pages.
    Installed as a response hook on the ``requests.Session`` Mastodon.py uses.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def session(self) -> requests.Session:
        session = requests.Session()
        bounded = BoundedAdapter()
        session.mount("https://", bounded)
        session.mount("http://", bounded)
        session.hooks["response"].append(self._keep)
        return session

    def _keep(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        refused = not response.ok
        self._local.text = response.text[:4000] if refused else ""
        self._local.retry_after = response.headers.get("Retry-After") if refused else None

    def text(self) -> str:
        return readable(getattr(self._local, "text", ""))

    def misskey_error(self) -> Mapping[str, Any]:
        return misskey_error(getattr(self._local, "text", ""))

    def retry_at(self) -> datetime | None:
        return retry_after(getattr(self._local, "retry_after", None))


class Pacer:
    """Keeps at least ``interval`` seconds between the requests it is asked to pace, so a
    server with a per-second limit never has to refuse one. Shared by a publisher's threads."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -interval
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            pause = self._last + self.interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._last = time.monotonic()


# Error codes that mean the token (or the account) is unusable, whatever the HTTP status:
# Misskey answers some of them with 400 (PERMISSION_DENIED) or 403 (AUTHENTICATION_FAILED).
MISSKEY_ACCOUNT_CODES: Final = frozenset(
    {
        "CREDENTIAL_REQUIRED",
        "AUTHENTICATION_FAILED",
        "PERMISSION_DENIED",
        "YOUR_ACCOUNT_SUSPENDED",
        "YOUR_ACCOUNT_MOVED",
        "ACCESS_DENIED",
    }
)


def misskey_error(body: str) -> Mapping[str, Any]:
    """Misskey's error object ``{"error": {"message", "code", "id", "kind", "info"?}}`` from a
    body, or {} (Sharkey's Mastodon API passes these through too, with HTTP 401)."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) and "code" in error else {}


def misskey_reset(error: Mapping[str, Any], now: datetime | None = None) -> datetime | None:
    """When a Misskey rate limit ends: ``info.resetMs`` is a moment in epoch milliseconds
    (Sharkey 2024.9: 1796409422457); a small number is read as milliseconds from now."""
    info = error.get("info")
    reset_ms = info.get("resetMs") if isinstance(info, dict) else None
    if not isinstance(reset_ms, int | float) or isinstance(reset_ms, bool) or reset_ms < 0:
        return None
    now = now or datetime.now(UTC)
    if reset_ms > 1e12:  # after September 2001: a moment, not a duration
        return max(datetime.fromtimestamp(reset_ms / 1000, UTC), now)
    return now + timedelta(milliseconds=reset_ms)


def retry_after(value: str | None, now: datetime | None = None) -> datetime | None:
    """A Retry-After header (seconds or an HTTP date) as a moment in UTC."""
    now = now or datetime.now(UTC)
    seconds = parse_retry_after(value, now)
    return None if seconds is None else now + timedelta(seconds=seconds)


def upload_media(
    http: httpx.Client,
    server: str,
    token: str,
    version: Literal["v1", "v2"],
    image: tuple[bytes, str, str],
) -> Mapping[str, Any] | None:
    """``POST /api/<version>/media`` of ``image`` (bytes, MIME type, description); None when
    the server has no such endpoint (Friendica has only v1)."""
    data, mime_type, description = image
    host = _host(server)
    name = "image" + (mimetypes.guess_extension(mime_type) or "")
    try:
        response = http.post(
            f"{server}/api/{version}/media",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            files={"file": (name, data, mime_type)},
            data={"description": description},
        )
    except httpx.HTTPError:
        raise ServerUnavailable(f"could not reach {host}: the network or server is down") from None
    if response.status_code in (404, 405):
        return None
    if response.status_code >= 400:
        raise refusal(host, response.status_code, response.text, response.headers)
    try:
        media = response.json()
    except ValueError:
        media = None
    if not isinstance(media, dict) or "id" not in media:
        raise ServerUnavailable(f"{host} gave an answer fedibridge could not read")
    return media


def refusal(
    host: str, status: int, body: str, headers: Mapping[str, str] | httpx.Headers
) -> PublishError:
    """The error kind for a refused request to a Mastodon-API server, answered over httpx."""
    reason = readable(body) or f"HTTP {status}"
    if status == 429:
        retry_at = retry_after(headers.get("Retry-After"))
        return ServerUnavailable(f"{host} asks us to slow down (rate limit)", retry_at)
    if status >= 500:
        return ServerUnavailable(f"{host} had a server error (HTTP {status})")
    if status in (401, 403) or (status == 400 and about_token(reason)):
        return AccountUnusable(
            f"{host} refused the access token (HTTP {status}): it is wrong, revoked or lacks "
            "a permission"
        )
    if status == 404:
        return ApiMissing(f"{host} has no Mastodon API at this address: check the server")
    return PostRejected(reason, too_long=about_length(reason))


def _host(server: str) -> str:
    return urlsplit(server).netloc or server
