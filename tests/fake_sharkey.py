"""Sharkey 2024.9.1-rc as recorded on 4 December 2026: its Misskey API (``FakeMisskey`` with
``software="sharkey"``) and, on the same host and the same notes and drive, its
Mastodon-compatible layer (tests/fixtures/servers/sharkey/README.md):

* the layer calls Sharkey's own API, so every error of it (INVALID_PARAM, NO_SUCH_NOTE,
  AUTHENTICATION_FAILED, RATE_LIMIT_EXCEEDED) comes back in Misskey's shape with **401**, and a
  rate limit without Retry-After; posts share notes/create's one-a-second limit;
* verify_credentials with a wrong or no token → 500 "Converting circular structure to JSON";
* statuses: ``visibility`` in Mastodon's words, mapped to Misskey's; ``sensitive=true`` without
  ``spoiler_text`` → INVALID_PARAM ``#/properties/cw/minLength``; an empty or blank text without
  media → INVALID_PARAM ``#/then/properties/text/pattern``; ``language`` always null;
  ``sensitive`` false even with a spoiler; ``media_ids[]`` in a form is ignored, JSON
  ``media_ids`` (drive file ids) attach; Idempotency-Key ignored; ``uri``/``url`` on https;
* edits keep visibility and clear the spoiler; DELETE → 200 with an empty text/plain body;
* POST /api/v1/media and /api/v2/media → 415 FST_ERR_CTP_INVALID_MEDIA_TYPE for any upload
  (upload through drive/files/create; the drive id is then a media id: GET/PUT
  /api/v1/media/:id work, PUT changes the drive file's comment);
* account statuses without a token, and without a Link header.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from html import escape
from typing import Any

from tests.fake_misskey import SHARKEY_VERSION, FakeMisskey, _error, _json
from tests.fake_servers import Answer, Request
from tests.recordings import recorded

LAYER = "sharkey-mastodon"
_TO_MISSKEY = {
    "public": "public",
    "unlisted": "home",
    "private": "followers",
    "direct": "specified",
}
_TO_MASTODON = {v: k for k, v in _TO_MISSKEY.items()}
_CIRCULAR = {
    "statusCode": 500,
    "error": "Internal Server Error",
    "message": "Converting circular structure to JSON\n    --> starting at object with "
    "constructor 'ClientRequest'\n    |     property 'res' -> object with constructor "
    "'IncomingMessage'\n    --- property 'req' closes the circle",
}


class FakeSharkey(FakeMisskey):
    """One account (``library``, token ``tests.fake_misskey.TOKEN``) on Sharkey."""

    def __init__(self) -> None:
        super().__init__(software="sharkey", version=SHARKEY_VERSION)
        before = list(self._routes)
        self._routes.clear()
        route = self.route
        route("GET", r"/api/v1/accounts/verify_credentials", self._verify)
        route("GET", r"/api/v1/accounts/(\w+)/statuses", self._account_statuses)
        route("POST", r"/api/v1/apps", self._create_app)
        route("GET", r"/oauth/authorize", self._authorize)
        route("POST", r"/api/v1/statuses", self._create_status)
        route("GET", r"/api/v1/statuses/(\w+)", self._get_status)
        route("PUT", r"/api/v1/statuses/(\w+)", self._edit_status)
        route("DELETE", r"/api/v1/statuses/(\w+)", self._delete_status)
        route("GET", r"/api/v1/statuses/(\w+)/source", self._source)
        route("GET", r"/api/v1/statuses/(\w+)/history", self._history)
        route("POST", r"/api/v[12]/media", self._upload)
        route("GET", r"/api/v1/media/(\w+)", self._media)
        route("PUT", r"/api/v1/media/(\w+)", self._update_media)
        self._routes.extend(before)
        self.apps: dict[str, dict[str, str]] = {}

    # --- the layer's ways --------------------------------------------------------------

    def _token(self, request: Request) -> str | Answer | None:
        """The caller's token, None without one, or the layer's refusal of a wrong one."""
        header = request.headers.get("authorization", "")
        if not header:
            return None
        token = header.removeprefix("Bearer ")
        if token not in self.tokens:
            return _layer(
                _error(
                    401,
                    "Authentication failed. Please ensure your token is correct.",
                    "AUTHENTICATION_FAILED",
                )
            )
        return token

    def _needs_token(self, request: Request) -> Answer | None:
        token = self._token(request)
        if isinstance(token, Answer):
            return token
        if token is None:
            return _layer(_error(401, "Credential required.", "CREDENTIAL_REQUIRED"))
        return None

    def _account(self) -> dict[str, Any]:
        account = recorded(LAYER, "02-auth", "verify_credentials with token")
        host = self.url.removeprefix("http://")
        account.update(
            {
                "id": self.user["id"],
                "username": self.user["username"],
                "acct": self.user["username"],
                "fqn": f"{self.user['username']}@{host.split(':')[0]}",
                "url": f"https://{host}/@{self.user['username']}",
                "uri": f"https://{host}/users/{self.user['id']}",
                "statuses_count": len(self.notes),
            }
        )
        return account

    def _media_of(self, drive_file: dict[str, Any]) -> dict[str, Any]:
        media = recorded(
            LAYER, "08-media-via-drive-ids", "GET /api/v1/media/:id with a Misskey drive file id"
        )
        media.update(
            {
                "id": drive_file["id"],
                "url": drive_file["url"],
                "remote_url": drive_file["url"],
                "text_url": drive_file["url"],
                "preview_url": drive_file["thumbnailUrl"],
                "description": drive_file["comment"],
            }
        )
        return media

    def _status_of(self, note: dict[str, Any]) -> dict[str, Any]:
        status = recorded(
            LAYER, "03-posting", "form-encoded: language=de visibility=unlisted spoiler_text"
        )
        host = self.url.removeprefix("http://")
        text = note["text"]
        account = self._account()
        account.pop("source", None)
        status.update(
            {
                "id": note["id"],
                "uri": f"https://{host}/notes/{note['id']}",  # https, as recorded
                "url": f"https://{host}/notes/{note['id']}",
                "account": account,
                "content": f"<p><span>{escape(text)}</span></p>" if text else "",
                "text": text,
                "created_at": note["createdAt"],
                "sensitive": False,
                "spoiler_text": note["cw"] or "",
                "visibility": _TO_MASTODON[note["visibility"]],
                "language": None,
                "media_attachments": [self._media_of(f) for f in note["files"]],
                "edited_at": note.get("updatedAt"),
            }
        )
        return status

    def _note(self, note_id: str, code_id: str) -> dict[str, Any] | Answer:
        note = next((n for n in self.notes if n["id"] == note_id), None)
        if note is None:
            return _layer(_error(400, "No such note.", "NO_SUCH_NOTE", code_id=code_id))
        return note

    # --- accounts and apps ---------------------------------------------------------------

    def _verify(self, request: Request, match: Any) -> Answer:
        token = self._token(request)
        if not isinstance(token, str):
            return _json(_CIRCULAR, 500)
        return _json(self._account())

    def _account_statuses(self, request: Request, match: Any) -> Answer:
        limit = int(request.query.get("limit", ["20"])[0])
        return _json([self._status_of(n) for n in reversed(self.notes)][:limit])

    def _create_app(self, request: Request, match: Any) -> Answer:
        session = str(uuid.uuid4())
        client_id = base64.b64encode(f"{self.url}/auth/{session}".encode()).decode()
        app = recorded(LAYER, "02-auth", "register app (form) scopes='read write'")
        app.update(
            {
                "id": str(len(self.apps) + 1),
                "name": request.field("client_name"),
                "website": request.field("website") or None,
                "redirect_uri": request.field("redirect_uris"),
                "client_id": client_id,
                "client_secret": uuid.uuid4().hex,
            }
        )
        if app["website"] is None:
            del app["website"]
        self.apps[client_id] = app
        return _json(app)

    def _authorize(self, request: Request, match: Any) -> Answer:
        """To Sharkey's own sign-in page; the scope asked for is dropped."""
        client_id = request.query.get("client_id", [""])[0]
        redirect = request.query.get("redirect_uri", [""])[0]
        try:
            page = base64.b64decode(client_id).decode()
        except ValueError:
            page = f"{self.url}/auth/{uuid.uuid4()}"
        answer = Answer(302, b"", "")
        answer.headers["location"] = f"{page}?mastodon=true&redirect_uri={redirect}"
        return answer

    # --- statuses --------------------------------------------------------------------------

    def _create_status(self, request: Request, match: Any) -> Answer:
        refused = self._needs_token(request)
        if refused:
            return refused
        limited = self._limit("notes/create")
        if limited:
            return _layer(limited)
        form = request.form()
        json_body = request.headers.get("content-type", "").startswith("application/json")
        file_ids = [str(i) for i in form.get("media_ids", [])] if json_body else []
        text = request.field("status")
        spoiler = request.field("spoiler_text")
        sensitive = request.field("sensitive").lower() in ("true", "1")
        if sensitive and not spoiler:
            info = {
                "param": "#/properties/cw/minLength",
                "reason": "must NOT have fewer than 1 characters",
            }
            return _layer(_error(400, "Invalid param.", "INVALID_PARAM", info))
        if not file_ids and not text.strip():
            info = {
                "param": "#/then/properties/text/pattern",
                "reason": 'must match pattern "[^\\s]+"',
            }
            return _layer(_error(400, "Invalid param.", "INVALID_PARAM", info))
        if len(text.encode("utf-16-le")) // 2 > self.text_limit:
            return _layer(_error(400, "You tried posting a note which is too long.", "MAX_LENGTH"))
        if any(f not in self.files for f in file_ids):
            return _layer(_error(400, "Some files are not found.", "NO_SUCH_FILE"))
        params = {
            "text": text or None,
            "cw": spoiler or None,
            "visibility": _TO_MISSKEY.get(request.field("visibility") or "public", "public"),
            "fileIds": file_ids,
        }
        answer = self._notes_create(params)
        if answer.status != 200:
            return _layer(answer)
        return _json(self._status_of(self.notes[-1]))

    def _get_status(self, request: Request, match: Any) -> Answer:
        note = self._note(match[1], "NO_SUCH_NOTE show")
        return note if isinstance(note, Answer) else _json(self._status_of(note))

    def _edit_status(self, request: Request, match: Any) -> Answer:
        refused = self._needs_token(request)
        if refused:
            return refused
        note = self._note(match[1], "NO_SUCH_NOTE show")
        if isinstance(note, Answer):
            return note
        note.setdefault("history", []).append(self._status_of(note))
        note["text"] = request.field("status") or None
        note["cw"] = request.field("spoiler_text") or None  # visibility kept
        note["updatedAt"] = (
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        return _json(self._status_of(note))

    def _delete_status(self, request: Request, match: Any) -> Answer:
        refused = self._needs_token(request)
        if refused:
            return refused
        limited = self._limit("notes/delete")
        if limited:
            return _layer(limited)
        note = self._note(match[1], "NO_SUCH_NOTE")
        if isinstance(note, Answer):
            return note
        self.notes.remove(note)
        return Answer(200, b"", "text/plain; charset=utf-8")

    def _source(self, request: Request, match: Any) -> Answer:
        note = self._note(match[1], "NO_SUCH_NOTE show")
        if isinstance(note, Answer):
            return note
        return _json(
            {"id": note["id"], "text": note["text"] or "", "spoiler_text": note["cw"] or ""}
        )

    def _history(self, request: Request, match: Any) -> Answer:
        note = self._note(match[1], "NO_SUCH_NOTE show")
        if isinstance(note, Answer):
            return note
        keys = (
            "account",
            "content",
            "created_at",
            "emojis",
            "sensitive",
            "spoiler_text",
            "poll",
            "media_attachments",
        )
        versions = [*note.get("history", []), self._status_of(note)][1:]
        return _json([{k: v.get(k) for k in keys} for v in versions])

    # --- media: only through the drive -------------------------------------------------------

    def _upload(self, request: Request, match: Any) -> Answer:
        kind = request.headers.get("content-type", "")
        body = {
            "statusCode": 415,
            "code": "FST_ERR_CTP_INVALID_MEDIA_TYPE",
            "error": "Unsupported Media Type",
            "message": f"Unsupported Media Type: {kind}",
        }
        return _json(body, 415)

    def _media(self, request: Request, match: Any) -> Answer:
        drive_file = self.files.get(match[1])
        if drive_file is None:
            return _layer(
                _error(400, "No such file.", "NO_SUCH_FILE", code_id="NO_SUCH_FILE drive")
            )
        return _json(self._media_of(drive_file))

    def _update_media(self, request: Request, match: Any) -> Answer:
        refused = self._needs_token(request)
        if refused:
            return refused
        drive_file = self.files.get(match[1])
        if drive_file is None:
            return _layer(
                _error(400, "No such file.", "NO_SUCH_FILE", code_id="NO_SUCH_FILE drive")
            )
        drive_file["comment"] = request.field("description") or None
        return _json(self._media_of(drive_file))


def _layer(answer: Answer) -> Answer:
    """What the layer makes of an error of Sharkey's own API: the body, with 401, no headers."""
    answer.status = 401
    answer.headers = {}
    return answer
