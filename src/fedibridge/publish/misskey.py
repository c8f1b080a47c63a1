"""The Misskey API family (Misskey, Sharkey, Firefish, Iceshrimp), natively, over httpx.

Every call is a POST of JSON to ``/api/<endpoint>`` with the token in the body field ``i``
(uploads send it as a multipart field). Failures are mapped to our error kinds in one place,
``_refusal``. Misskey renders MFM, not HTML: post text goes through ``mfm.neutralise`` so that
feed text formats nothing by accident.

Differences from the Mastodon family that the rest of the bridge sees:

* Misskey counts every character of a link, so the limits say ``characters_per_url=None``.
* It has no Idempotency-Key: after a crash the cycle reconciles with ``recent_posts``.
* It cannot edit notes: ``edit`` raises ``EditUnsupported``.
* It has no language field: the post's language is not sent.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from fedibridge.errors import (
    AccountUnusable,
    ApiMissing,
    EditUnsupported,
    PostRejected,
    PublishError,
    ServerUnavailable,
)
from fedibridge.models import Post, ServerLimits, Visibility
from fedibridge.publish import OwnPost, Published
from fedibridge.publish.mfm import neutralise, restore
from fedibridge.publish.quirks import (
    MISSKEY_ACCOUNT_CODES,
    Pacer,
    misskey_error,
    misskey_reset,
    retry_after,
)
from fedibridge.render import raw_length

DEFAULT_TEXT_LIMIT: Final = 3000  # Misskey's MAX_NOTE_TEXT_LENGTH
MAX_FILES: Final = 16  # notes/create: fileIds maxItems
COMMENT_LIMIT: Final = 512  # a drive file's comment (the alt text)
# Room kept free below the server's limit for the invisible characters ``neutralise`` adds,
# and because Misskey counts code points where the renderer lets combining marks ride free.
MFM_RESERVE: Final = 100
# Misskey and its forks allow one notes/create a second per user (the endpoint's
# minInterval; Sharkey answers a second note within it with 429 and Retry-After: 1).
MISSKEY_NOTE_INTERVAL: Final = 1.1

VISIBILITY: Final[Mapping[Visibility, str]] = {
    "public": "public",
    "unlisted": "home",  # home timelines only, not the public ones
    "private": "followers",
    "direct": "specified",  # with nobody named: visible to the account itself
}

_LINK: Final = re.compile(r"https?://[^\s<>\"\u2060]+")


class MisskeyPublisher:
    def __init__(
        self,
        server: str,
        token: str,
        *,
        http: httpx.Client,
        advertised: ServerLimits | None = None,
    ) -> None:
        self.server = server
        self._token = token
        self._http = http
        # What /api/meta says (``maxNoteTextLength`` as ``max_characters``), before the MFM
        # reserve; None until read. An earlier run's may be handed in (kept in the state).
        self.advertised = advertised
        self._user_id: str | None = None
        self._pacer = Pacer(MISSKEY_NOTE_INTERVAL)

    def limits(self) -> ServerLimits:
        if self.advertised is None:
            try:
                meta = self._call("meta", {"detail": False}, with_token=False)
            except (AccountUnusable, PostRejected) as error:
                # As for the Mastodon family: limits that cannot be read mean "try later".
                raise ServerUnavailable(
                    f"{_host(self.server)} did not tell its limits ({error})"
                ) from None
            limit = meta.get("maxNoteTextLength")
            if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
                limit = DEFAULT_TEXT_LIMIT
            self.advertised = ServerLimits(
                max_characters=limit,
                characters_per_url=None,  # Misskey counts links character by character
                max_media=MAX_FILES,
                description_limit=COMMENT_LIMIT,
            )
        text_limit = self.advertised.max_characters
        reserve = min(MFM_RESERVE, text_limit // 10)
        return dataclasses.replace(self.advertised, max_characters=text_limit - reserve)

    def _text_limit(self) -> int:
        """The server's own limit, which the note's text (MFM protected) must keep to."""
        self.limits()
        assert self.advertised is not None
        return self.advertised.max_characters

    def verify(self) -> str:
        me = self._call("i", {})
        self._user_id = str(me["id"])
        return f"@{me.get('username')}@{me.get('host') or _host(self.server)}"

    def post(self, post: Post, idempotency_key: str, media_ids: Sequence[str] = ()) -> Published:
        # Misskey has no idempotency key; ``idempotency_key`` is accepted for the interface.
        text = neutralise(post.text)
        text_limit = self._text_limit()
        length = raw_length(text)  # Misskey counts as JavaScript does
        if length > text_limit:
            raise PostRejected(
                f"the post has {length} characters once protected from MFM formatting; "
                f"{_host(self.server)} accepts {text_limit}",
                too_long=True,
            )
        payload: dict[str, Any] = {
            "text": text,
            "visibility": VISIBILITY[post.visibility],
            "cw": post.spoiler_text or None,
        }
        if media_ids:
            payload["fileIds"] = list(media_ids)
        if post.in_reply_to:
            payload["replyId"] = post.in_reply_to
        self._pacer.wait()
        note = self._call("notes/create", payload).get("createdNote")
        if not isinstance(note, dict) or "id" not in note:
            raise _unreadable(self.server)
        return Published(status_id=str(note["id"]), url=self._note_url(note))

    def recent_posts(self, limit: int = 40) -> list[OwnPost]:
        if self._user_id is None:
            self.verify()
        notes = self._call_list("users/notes", {"userId": self._user_id, "limit": min(limit, 100)})
        return [self._own_post(note) for note in notes if isinstance(note, dict)]

    def upload(
        self, data: bytes, mime_type: str, description: str, *, sensitive: bool = False
    ) -> str:
        # Misskey stores the file (and its thumbnails) before answering: no processing wait.
        # It marks files, not notes, as sensitive.
        fields = {"i": self._token, "comment": description[:COMMENT_LIMIT]}
        if sensitive:
            fields["isSensitive"] = "true"
        file = self._send(
            "drive/files/create",
            data=fields,
            files={"file": ("image", data, mime_type)},
        )
        if not isinstance(file, dict) or "id" not in file:
            raise _unreadable(self.server)
        if not file.get("comment") and fields["comment"]:
            # Sharkey hands back the file already in the drive for the same bytes and ignores
            # the new comment: a picture first uploaded without one must not stay undescribed.
            self._call("drive/files/update", {"fileId": file["id"], "comment": fields["comment"]})
        return str(file["id"])

    def edit(self, status_id: str, post: Post, media_ids: Sequence[str] = ()) -> None:
        raise EditUnsupported(
            f"{_host(self.server)} runs Misskey-family software, which cannot edit a note; "
            "the change to this item is not posted"
        )

    # --- HTTP ---------------------------------------------------------------------

    def _call(
        self, endpoint: str, payload: Mapping[str, Any], *, with_token: bool = True
    ) -> dict[str, Any]:
        answer = self._send(endpoint, json={**payload, "i": self._token} if with_token else payload)
        if not isinstance(answer, dict):
            raise _unreadable(self.server)
        return answer

    def _call_list(self, endpoint: str, payload: Mapping[str, Any]) -> list[Any]:
        answer = self._send(endpoint, json={**payload, "i": self._token})
        if not isinstance(answer, list):
            raise _unreadable(self.server)
        return answer

    def _send(self, endpoint: str, **request: Any) -> Any:
        host = _host(self.server)
        try:
            response = self._http.post(
                f"{self.server}/api/{endpoint}", headers={"Accept": "application/json"}, **request
            )
        except httpx.HTTPError:
            raise ServerUnavailable(
                f"could not reach {host}: the network or server is down"
            ) from None
        if response.status_code == 204:
            return {}
        if response.status_code >= 300:
            raise _refusal(host, response)
        try:
            return response.json()
        except ValueError:
            # The request may have worked: the outcome is unknown, so the item stays pending.
            raise _unreadable(self.server) from None

    # --- reading notes ------------------------------------------------------------

    def _note_url(self, note: Mapping[str, Any]) -> str:
        url = note.get("url") or note.get("uri")
        return str(url) if url else f"{self.server}/notes/{note['id']}"

    def _own_post(self, note: Mapping[str, Any]) -> OwnPost:
        raw = str(note.get("text") or "")
        return OwnPost(
            status_id=str(note["id"]),
            url=self._note_url(note),
            text=restore(raw),
            links=tuple(_LINK.findall(raw)),
            created_at=_moment(note.get("createdAt")),
        )


def _unreadable(server: str) -> ServerUnavailable:
    return ServerUnavailable(f"{_host(server)} gave an answer fedibridge could not read")


def _refusal(host: str, response: httpx.Response) -> PublishError:
    """Misskey's error body is ``{"error": {"message", "code", "id", "kind", "info"?}}``."""
    status = response.status_code
    error = _error_of(response)
    code = str(error.get("code") or "")
    if status == 429 or code == "RATE_LIMIT_EXCEEDED":
        return ServerUnavailable(
            f"{host} asks us to slow down (rate limit)", _reset_time(response, error)
        )
    if status >= 500:
        return ServerUnavailable(f"{host} had a server error (HTTP {status})")
    if status in (401, 403) or code in MISSKEY_ACCOUNT_CODES:
        return AccountUnusable(
            f"{host} refused the access token (HTTP {status}, {code or 'no code'}): it is "
            "wrong, revoked, or lacks the write:notes, write:drive or read:account permission"
        )
    if status == 404:
        return ApiMissing(
            f"{host} has no Misskey API at this address: check the server setting (and "
            "server_type, if it is set)"
        )
    reason = _reason(error, status)
    return PostRejected(reason, too_long=_about_length(error, reason))


def _error_of(response: httpx.Response) -> Mapping[str, Any]:
    return misskey_error(response.text)


def _reason(error: Mapping[str, Any], status: int) -> str:
    message = str(error.get("message") or f"HTTP {status}")
    info = error.get("info")
    if isinstance(info, dict) and info.get("reason"):
        where = f"{info['param']}: " if info.get("param") else ""
        return f"{message} ({where}{info['reason']})"
    return message


def _about_length(error: Mapping[str, Any], reason: str) -> bool:
    code = str(error.get("code") or "").upper()
    lowered = reason.lower()
    return (
        "TOO_LONG" in code
        or "MAX_LENGTH" in code
        or ("text" in lowered and ("maxlength" in lowered or "characters" in lowered))
    )


def _reset_time(response: httpx.Response, error: Mapping[str, Any]) -> datetime | None:
    """Retry-After if the server sends it, else the reset Misskey puts in the error info."""
    return retry_after(response.headers.get("Retry-After")) or misskey_reset(error)


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _host(server: str) -> str:
    return urlsplit(server).netloc or server
