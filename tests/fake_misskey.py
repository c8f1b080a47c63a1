"""A loopback fake of a Misskey server (nothing like mastodon-mock exists for Misskey).

It answers as Sharkey 2024.9.1-rc did when recorded on 4 December 2026
(tests/fixtures/servers/sharkey/misskey-api and its README.md), which is Misskey's API
(packages/backend/src/server/api/ApiCallService.ts, endpoints/notes/create.ts):

* every call is a POST with a JSON body (a form body → 415, no body → 400 INVALID_PARAM
  ``#/type``; GET → 405); the token travels in the body field ``i`` (a multipart field for
  uploads) or as ``Authorization: Bearer``, a wrong Bearer winning over a good ``i``;
  no token → 401 CREDENTIAL_REQUIRED, a wrong token → 401 AUTHENTICATION_FAILED, a token
  without the endpoint's permission → 403 PERMISSION_DENIED, each with its
  ``WWW-Authenticate``; an unknown endpoint → fastify's own 404 shape;
* errors look like ``{"error": {"message", "code", "id", "kind", "info"?}}``, with the ids
  Sharkey sends;
* ``notes/create`` validates like its JSON schema (text at least one non-space character
  unless there are files; visibility public/home/followers/specified; ``fileIds`` unique and
  the user's own; ``mediaIds`` still taken) and refuses a text over ``maxNoteTextLength``
  UTF-16 code units with MAX_LENGTH; Sharkey allows one note a second per user
  (``min_interval``): a second one within it → 429 RATE_LIMIT_EXCEEDED with
  ``retry-after: 1`` and ``info.reset``/``resetMs`` as absolute epoch seconds/milliseconds;
  ``notes/delete`` the same;
* ``drive/files/create`` takes the file as multipart with ``comment`` (the alt text; 512
  characters on Misskey, 100000 on Sharkey); the same bytes again return the existing file,
  keeping its first comment and name; no file part → 400 with an empty body;
* MiAuth: ``/miauth/<session>?name=&permission=`` is the page staff open;
  ``/api/miauth/<session>/check`` answers ``{"ok": false}`` until they allow access;
* Sharkey (``software="sharkey"``) also serves NodeInfo 2.0 and 2.1 and the discovery part of
  its Mastodon layer: ``/api/v1/instance`` (``3.0.0 (compatible; Sharkey …)``) and a 404
  UNKNOWN_API_ENDPOINT for ``/api/v2/instance``; the whole layer is ``FakeSharkey``
  (tests/fake_sharkey.py).

Like Misskey it reads notes as MFM: it records the mentions it would notify and the MFM
formatting it would render, so tests can see that feed text triggers neither.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.fake_servers import Answer, LoopbackServer, Request, image_type, json_answer
from tests.recordings import recorded

TOKEN = "misskey-token-for-tests"  # a fixture, not a credential
USERNAME = "library"
TEXT_LIMIT = 3000
ALL_PERMISSIONS = frozenset({"write:notes", "write:drive", "read:account", "read:drive"})
SHARKEY_VERSION = "2024.9.1-rc"
JSON_TYPE = "application/json; charset=utf-8"

# What each endpoint needs (``kind`` in Misskey's endpoint meta); None: no token needed.
_KIND: dict[str, str | None] = {
    "i": "read:account",
    "notes/create": "write:notes",
    "notes/delete": "write:notes",
    "notes/show": None,
    "notes/favorites/create": "write:favorites",
    "i/notifications": "read:notifications",
    "drive/files/create": "write:drive",
    "drive/files/update": "write:drive",
    "drive/files/delete": "write:drive",
    "drive/files/show": "read:drive",
    "users/notes": None,
    "users/show": None,
    "meta": None,
    "miauth/gen-token": None,  # a web-session endpoint: refused to any API token
}
_OPTIONAL_TOKEN = frozenset({"meta", "users/notes", "users/show", "notes/show"})
_RATE_LIMITED = frozenset({"notes/create", "notes/delete"})  # Sharkey's minInterval: 1 s

# The error ids Sharkey sent (an id names one error of one endpoint).
_IDS = {
    "INVALID_PARAM": "3d81ceae-475f-4600-b2a8-2bc116157532",
    "AUTHENTICATION_FAILED": "b0a7f5f8-dc2f-4171-b91f-de88ad238e14",
    "CREDENTIAL_REQUIRED": "1384574d-a912-4b81-8601-c7b1c4085df1",
    "PERMISSION_DENIED": "1370e5b7-d4eb-4566-bb1d-7748ee6a1838",
    "RATE_LIMIT_EXCEEDED": "d5826d14-3982-4d2e-8011-b9e9f02499ef",
    "MAX_LENGTH": "3ac74a84-8fd5-4bb0-870f-01804f82ce16",
    "NO_SUCH_FILE": "b6992544-63e7-67f0-fa7f-32444b1b5306",  # notes/create
    "NO_SUCH_FILE drive": "908939ec-e52b-4458-b395-1025195cea58",  # drive/files/*
    "NO_SUCH_NOTE": "490be23f-8c1f-4796-819f-94cb4f9d1630",  # notes/delete
    "NO_SUCH_NOTE show": "24fcbfc6-2e37-42b6-8388-c29b3861a08d",  # notes/show
    "ACCESS_DENIED": "56f35758-7dd5-468b-8439-5d6fb8ec9b8e",
    "UNKNOWN_API_ENDPOINT": "2ca3b769-540a-4f08-9dd5-b5a825b6d0f1",
}
_RECORDING = "sharkey"

# MFM as mfm-js parses it, reduced to the spans that would change what a reader sees.
_MFM = {
    "mention": re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9_]+(?:@[A-Za-z0-9.-]+)?"),
    "bold": re.compile(r"\*\*[^\n]+?\*\*|__[A-Za-z0-9 ]+?__"),
    "italic": re.compile(r"(?<![A-Za-z0-9])[*_][A-Za-z0-9 \t]+[*_](?![A-Za-z0-9])"),
    "strike": re.compile(r"~~[^\n~]+~~"),
    "function": re.compile(r"\$\[[a-z0-9_.,=]+ "),
    "tag": re.compile(r"<(center|small|i|b|s|plain)>"),
    "inline code": re.compile(r"`[^`\n]+`"),
    "code block": re.compile(r"^```[^\n]*\n[\s\S]*?\n```", re.MULTILINE),
    "math": re.compile(r"\\\(|\\\["),
    "emoji": re.compile(r"(?<![A-Za-z0-9]):[A-Za-z0-9_+-]+:(?![A-Za-z0-9])"),
    "link label": re.compile(r"\[[^\]\n]+\]\(https?://"),
    "quote": re.compile(r"^>", re.MULTILINE),
    "search": re.compile(r"[ \u3000](?:search|検索|\[search\]|\[検索\])$", re.I | re.MULTILINE),
}
_PLAIN = re.compile(r"<plain>.*?</plain>", re.S)


def mfm_formatting(text: str) -> list[str]:
    """The kinds of MFM formatting Misskey would render in ``text``. A ``<plain>`` span is
    literal text: it is replaced by one neutral character, which keeps line starts as they are."""
    text = _PLAIN.sub("\ufffc", text)
    return sorted(kind for kind, pattern in _MFM.items() if pattern.search(text))


class FakeMisskey(LoopbackServer):
    """One account (``library``, token ``TOKEN`` with every permission the bridge asks for)
    on a Misskey server; ``software="sharkey"`` (see ``sharkey()``) adds Sharkey's ways."""

    def __init__(self, *, software: str = "misskey", version: str = "2024.11.0") -> None:
        super().__init__()
        self.software = software
        self.version = version
        self.nodeinfo = True
        self.text_limit = TEXT_LIMIT
        self.comment_limit = 100000 if software == "sharkey" else 512
        # Sharkey: one notes/create (and one notes/delete) a second per user.
        self.min_interval: float | None = 1.0 if software == "sharkey" else None
        self.tokens: dict[str, frozenset[str]] = {TOKEN: ALL_PERMISSIONS}
        self.notes: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}  # MiAuth session → what was asked
        self.note_quota: int | None = None  # notes allowed before 429
        self.retry_after: int | None = None  # seconds, sent with a 429 as Retry-After
        self.rate_limited: list[str] = []  # endpoints answered with 429, in order
        self._last_call: dict[str, float] = {}  # endpoint → when it last passed the limiter
        self._clock_lock = threading.Lock()
        self.clock: Callable[[], float] = time.time  # the replay of recordings sets its own
        self._ids = itertools.count(1)
        self.user = {"id": "9abc", "username": USERNAME, "host": None, "name": "Library"}
        self.route("GET", r"/\.well-known/nodeinfo", self._nodeinfo_index)
        self.route("GET", r"/nodeinfo/(2\.[01])(/|\.json)?", self._nodeinfo)
        self.route("GET", r"/miauth/([\w-]+)", self._miauth_page)
        self.route("POST", r"/api/miauth/([\w-]+)/check", self._miauth_check)
        self.route("GET", r"/api/v1/instance/?", self._mastodon_instance)
        self.route("GET", r"/api/v2/instance/?", self._mastodon_instance_v2)
        self.route("GET", r"/api/.+", self._not_post)
        self.route("POST", r"/api/(.+)", self._api)

    # --- test helpers -------------------------------------------------------------------

    def allow(self, session: str) -> None:
        """What staff do in the browser: open the MiAuth page and press "Allow"."""
        asked = self.sessions[session]
        token = secrets.token_urlsafe(16)
        self.tokens[token] = frozenset(asked["permission"].split(","))
        asked["token"] = token

    def not_found(self, request: Request) -> Answer:
        """fastify's own answer, not Misskey's error shape."""
        message = f"Route {request.method}:{request.path} not found"
        return _json({"message": message, "error": "Not Found", "statusCode": 404}, 404)

    # --- discovery and MiAuth ---------------------------------------------------------

    def _nodeinfo_index(self, request: Request, match: re.Match[str]) -> Answer:
        if not self.nodeinfo:
            return self.not_found(request)
        schema = "http://nodeinfo.diaspora.software/ns/schema/"
        links = [
            {"rel": schema + "2.1", "href": f"{self.url}/nodeinfo/2.1"},
            {"rel": schema + "2.0", "href": f"{self.url}/nodeinfo/2.0"},
        ]
        if self.software != "sharkey":
            links.reverse()  # Misskey: 2.0 first, and it is not served here (404)
        return _json({"links": links})

    def _nodeinfo(self, request: Request, match: re.Match[str]) -> Answer:
        schema = match[1]
        if match[2]:  # Sharkey's web app answers whatever it does not know: 200 HTML
            return Answer(200, b"<!DOCTYPE html><html></html>", "text/html; charset=utf-8")
        if schema == "2.0" and self.software != "sharkey":
            return self.not_found(request)
        software = {"name": self.software, "version": self.version}
        data = {
            "version": schema,
            "software": software,
            "protocols": ["activitypub"],
            "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
            "openRegistrations": False,
            "usage": {"users": {"total": 1}, "localPosts": len(self.notes)},
            "metadata": {"nodeName": "Fake", "maxNoteTextLength": self.text_limit},
        }
        kind = f'application/json; profile="{_SCHEMA}{schema}#"; charset=utf-8'
        return Answer(200, json.dumps(data).encode(), kind)

    def _mastodon_instance(self, request: Request, match: re.Match[str]) -> Answer:
        """Sharkey's Mastodon layer; the recording's nginx also answered the trailing slash."""
        if self.software != "sharkey":
            return self._not_post(request, match)
        data = recorded("sharkey-mastodon", "01-discovery", "instance v1 with token")
        data["uri"] = self.url
        data["version"] = f"3.0.0 (compatible; Sharkey {self.version})"
        data["configuration"]["statuses"]["max_characters"] = self.text_limit
        return _json(data)

    def _mastodon_instance_v2(self, request: Request, match: re.Match[str]) -> Answer:
        return _error(404, "Unknown API endpoint.", "UNKNOWN_API_ENDPOINT", headers=False)

    def _not_post(self, request: Request, match: re.Match[str]) -> Answer:
        endpoint = request.path.removeprefix("/api/")
        if endpoint in _KIND:
            return Answer(405, b"", "")
        return _error(404, "Unknown API endpoint.", "UNKNOWN_API_ENDPOINT", headers=False)

    def _miauth_page(self, request: Request, match: re.Match[str]) -> Answer:
        self.sessions[match[1]] = {k: v[0] for k, v in request.query.items()}
        return Answer(200, b"<html><body>Allow access?</body></html>", "text/html; charset=utf-8")

    def _miauth_check(self, request: Request, match: re.Match[str]) -> Answer:
        asked = self.sessions.get(match[1], {})
        if "token" not in asked:
            return _json({"ok": False})
        return _json({"ok": True, "token": asked["token"], "user": self._user()})

    # --- the API ------------------------------------------------------------------------

    def _api(self, request: Request, match: re.Match[str]) -> Answer:
        endpoint = match[1]
        if endpoint not in _KIND:
            return self.not_found(request)
        params = _params(request)
        if isinstance(params, Answer):
            return params
        refused = self._authenticate(endpoint, request, params.get("i"))
        if refused:
            return refused
        if endpoint in _RATE_LIMITED:
            limited = self._limit(endpoint)
            if limited:
                return limited
        handler = getattr(self, "_" + endpoint.replace("/", "_"))
        answer: Answer = handler(params)
        return answer

    def _authenticate(self, endpoint: str, request: Request, body_token: object) -> Answer | None:
        bearer = request.headers.get("authorization", "")
        token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else body_token
        if token is None or token == "":
            if endpoint in _OPTIONAL_TOKEN:
                return None
            if endpoint == "miauth/gen-token":
                return _error(400, "Access denied.", "ACCESS_DENIED")
            return _error(401, "Credential required.", "CREDENTIAL_REQUIRED")
        if token not in self.tokens:
            return _error(
                401,
                "Authentication failed. Please ensure your token is correct.",
                "AUTHENTICATION_FAILED",
            )
        if endpoint == "miauth/gen-token":
            return _error(400, "Access denied.", "ACCESS_DENIED")
        kind = _KIND[endpoint]
        if kind is not None and kind not in self.tokens[str(token)]:
            return _error(
                403,
                "Your app does not have the necessary permissions to use this endpoint.",
                "PERMISSION_DENIED",
            )
        return None

    def _limit(self, endpoint: str) -> Answer | None:
        """Sharkey's minInterval: a call within ``min_interval`` of the last one that passed
        is refused; ``info.reset``/``resetMs`` say when, as absolute epoch time."""
        if self.min_interval is None:
            return None
        with self._clock_lock:
            now = self.clock()
            last = self._last_call.get(endpoint)
            if last is None or now - last >= self.min_interval:
                self._last_call[endpoint] = now
                return None
        self.rate_limited.append(endpoint)
        reset_ms = round((last + self.min_interval) * 1000)
        info = {"remaining": 0, "reset": reset_ms // 1000, "resetMs": reset_ms, "total": 1}
        answer = _error(
            429, "Rate limit exceeded. Please try again later.", "RATE_LIMIT_EXCEEDED", info
        )
        answer.headers = {"retry-after": str(max(1, math.ceil(reset_ms / 1000 - now)))}
        return answer

    def _user(self) -> dict[str, Any]:
        user = recorded(_RECORDING, "02-auth", "/api/i with scoped MiAuth token in body (i)")
        user.update(self.user)
        user["avatarUrl"] = f"{self.url}/identicon/{USERNAME}"
        user["notesCount"] = len(self.notes)
        return user

    def _meta(self, params: dict[str, Any]) -> Answer:
        label = "meta detail=false" if params.get("detail") is False else "meta detail=true"
        meta = recorded(_RECORDING, "01-meta", label)
        meta.update({"maxNoteTextLength": self.text_limit, "version": self.version, "name": "Fake"})
        meta["uri"] = self.url
        return _json(meta)

    def _i(self, params: dict[str, Any]) -> Answer:
        return _json(self._user())

    def _notes_create(self, params: dict[str, Any]) -> Answer:
        if self.note_quota is not None and len(self.notes) >= self.note_quota:
            return self._rate_limited()
        text, cw = params.get("text"), params.get("cw")
        file_ids = params.get("fileIds") or params.get("mediaIds") or []
        visibility = params.get("visibility", "public")
        invalid = _check_note(params, text, cw, visibility, file_ids)
        if invalid:
            return invalid
        if isinstance(text, str) and len(text.encode("utf-16-le")) // 2 > self.text_limit:
            return _error(400, "You tried posting a note which is too long.", "MAX_LENGTH")
        if any(f not in self.files for f in file_ids):
            return _error(400, "Some files are not found.", "NO_SUCH_FILE")
        note = recorded(_RECORDING, "05-reading", "notes/show")
        note.update(
            {
                "id": f"n{next(self._ids)}",
                "createdAt": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "userId": self.user["id"],
                "user": self.user,
                "text": text,
                "cw": cw,
                "visibility": visibility,
                "localOnly": bool(params.get("localOnly", False)),
                "fileIds": file_ids,
                "files": [self.files[f] for f in file_ids],
                "uri": None,
                "url": None,
                # What Misskey would do with the text: notify mentions, render MFM.
                "mentions": _MFM["mention"].findall(_PLAIN.sub("\ufffc", text or "")),
                "formatting": mfm_formatting(text or ""),
            }
        )
        self.notes.append(note)
        return _json({"createdNote": _shown(note)})

    def _rate_limited(self) -> Answer:
        answer = _error(429, "Rate limit exceeded. Please try again later.", "RATE_LIMIT_EXCEEDED")
        if self.retry_after is not None:
            answer.headers["Retry-After"] = str(self.retry_after)
        return answer

    def _notes_show(self, params: dict[str, Any]) -> Answer:
        note = next((n for n in self.notes if n["id"] == params.get("noteId")), None)
        if note is None:
            return _error(400, "No such note.", "NO_SUCH_NOTE", code_id="NO_SUCH_NOTE show")
        return _json(_shown(note))

    def _notes_delete(self, params: dict[str, Any]) -> Answer:
        note = next((n for n in self.notes if n["id"] == params.get("noteId")), None)
        if note is None:
            return _error(400, "No such note.", "NO_SUCH_NOTE")
        self.notes.remove(note)
        return Answer(204, b"", "")

    def _notes_favorites_create(self, params: dict[str, Any]) -> Answer:
        return Answer(204, b"", "")

    def _i_notifications(self, params: dict[str, Any]) -> Answer:
        return _json([])

    def _users_notes(self, params: dict[str, Any]) -> Answer:
        limit = params.get("limit", 10)
        if not isinstance(limit, int) or limit > 100:
            info = {"param": "#/properties/limit/maximum", "reason": "must be <= 100"}
            return _error(400, "Invalid param.", "INVALID_PARAM", info)
        if params.get("userId") != self.user["id"]:
            return _error(400, "No such user.", "NO_SUCH_USER")
        return _json([_shown(n) for n in reversed(self.notes)][:limit])

    def _users_show(self, params: dict[str, Any]) -> Answer:
        if (
            params.get("username") not in (USERNAME, None)
            and params.get("userId") != self.user["id"]
        ):
            return _error(400, "No such user.", "NO_SUCH_USER")
        return _json(self._user())

    def _drive_files_create(self, params: dict[str, Any]) -> Answer:
        data = params.get("file")
        if not isinstance(data, bytes):
            return Answer(400, b"", "")  # recorded: an empty body, no Content-Type
        comment = params.get("comment")
        if comment is not None and len(comment) > self.comment_limit:
            info = {"param": "#/properties/comment/maxLength", "reason": "must NOT have more"}
            return _error(400, "Invalid param.", "INVALID_PARAM", info)
        md5 = hashlib.md5(data).hexdigest()
        sensitive = str(params.get("isSensitive", "false")).lower() == "true"
        for existing in self.files.values():
            if existing["md5"] == md5:  # the same bytes: the file there, its comment kept
                if "isSensitive" in params:
                    existing["isSensitive"] = sensitive
                return _json(existing)
        file_id = f"f{next(self._ids)}"
        drive_file = recorded(
            _RECORDING, "03-drive", "drive/files/create PNG with comment (alt text) + name"
        )
        drive_file.update(
            {
                "id": file_id,
                "createdAt": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "name": params.get("name") or params.get("file_name") or "file",
                "type": image_type(data) or "application/octet-stream",
                "md5": md5,
                "size": len(data),
                "isSensitive": sensitive,
                "comment": comment,
                "url": f"{self.url}/files/{file_id}",
                "thumbnailUrl": f"{self.url}/files/thumbnail-{file_id}",
            }
        )
        self.files[file_id] = drive_file
        return _json(drive_file)

    def _drive_files_show(self, params: dict[str, Any]) -> Answer:
        drive_file = self.files.get(str(params.get("fileId")))
        if drive_file is None:
            return _error(400, "No such file.", "NO_SUCH_FILE", code_id="NO_SUCH_FILE drive")
        return _json(drive_file)

    def _drive_files_update(self, params: dict[str, Any]) -> Answer:
        drive_file = self.files.get(str(params.get("fileId")))
        if drive_file is None:
            return _error(400, "No such file.", "NO_SUCH_FILE", code_id="NO_SUCH_FILE drive")
        if "comment" in params:
            drive_file["comment"] = params["comment"]
        return _json(drive_file)

    def _drive_files_delete(self, params: dict[str, Any]) -> Answer:
        if self.files.pop(str(params.get("fileId")), None) is None:
            return _error(400, "No such file.", "NO_SUCH_FILE", code_id="NO_SUCH_FILE drive")
        return Answer(204, b"", "")

    def _miauth_gen_token(self, params: dict[str, Any]) -> Answer:
        return _error(400, "Access denied.", "ACCESS_DENIED")  # never reached: see _authenticate


_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/"
_KEPT_FOR_TESTS = frozenset({"mentions", "formatting", "uri", "url"})


def _shown(note: dict[str, Any]) -> dict[str, Any]:
    """A note as the server shows it: without what this fake keeps for tests (a local note
    has no ``uri``/``url``)."""
    return {k: v for k, v in note.items() if k not in _KEPT_FOR_TESTS}


def _params(request: Request) -> dict[str, Any] | Answer:
    """The call's parameters, or fastify's refusal of a body it cannot read."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/"):
        params: dict[str, Any] = {}
        for name, (value, filename) in request.parts().items():
            params[name] = value
            if filename:
                params["file_name"] = filename
        return params
    if kind.startswith("application/json"):
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
    elif kind:
        message = f"Unsupported Media Type: {kind}"
        body = {
            "statusCode": 415,
            "code": "FST_ERR_CTP_INVALID_MEDIA_TYPE",
            "error": "Unsupported Media Type",
            "message": message,
        }
        return _json(body, 415)
    info = {"param": "#/type", "reason": "must be object"}
    return _error(400, "Invalid param.", "INVALID_PARAM", info)


def _check_note(
    params: dict[str, Any], text: object, cw: object, visibility: object, file_ids: object
) -> Answer | None:
    """notes/create's JSON schema: Sharkey answers each violation with INVALID_PARAM."""
    problems = []
    if visibility not in ("public", "home", "followers", "specified"):
        problems.append(
            ("#/properties/visibility/enum", "must be equal to one of the allowed values")
        )
    if isinstance(file_ids, list) and len(set(map(str, file_ids))) != len(file_ids):
        later = next(j for j in range(len(file_ids)) if file_ids[j] in file_ids[:j])
        earlier = file_ids.index(file_ids[later])
        reason = f"must NOT have duplicate items (items ## {later} and {earlier} are identical)"
        problems.append(("#/properties/fileIds/uniqueItems", reason))
    if isinstance(file_ids, list) and len(file_ids) > 16:
        problems.append(("#/properties/fileIds/maxItems", "must NOT have more than 16 items"))
    if cw is not None and (not isinstance(cw, str) or len(cw) > 100):
        problems.append(("#/properties/cw/maxLength", "must NOT have more than 100 characters"))
    if not file_ids:  # "then": without files, a text of at least one non-space character
        if not isinstance(text, str):
            problems.append(("#/then/required", "must have required property 'text'"))
        elif not text:
            problems.append(
                ("#/then/properties/text/minLength", "must NOT have fewer than 1 characters")
            )
        elif not re.search(r"[^\s]", text):
            problems.append(("#/then/properties/text/pattern", 'must match pattern "[^\\s]+"'))
    if not problems:
        return None
    param, reason = problems[0]
    return _error(400, "Invalid param.", "INVALID_PARAM", {"param": param, "reason": reason})


def _json(data: Any, status: int = 200) -> Answer:
    answer = json_answer(data, status)
    answer.content_type = JSON_TYPE
    return answer


def _error(
    status: int,
    message: str,
    code: str,
    info: dict[str, Any] | None = None,
    *,
    code_id: str = "",
    headers: bool = True,
) -> Answer:
    """Misskey's error shape with the id Sharkey sends, and its ``WWW-Authenticate``."""
    error: dict[str, Any] = {
        "message": message,
        "code": code,
        "id": _IDS.get(code_id or code, "00000000-0000-4000-8000-000000000000"),
        "kind": "permission" if status == 403 else "client" if status < 500 else "server",
    }
    if info:
        error["info"] = info
    answer = _json({"error": error}, status)
    realm = 'Bearer realm="Misskey"'
    if not headers or status in (404, 429) or status >= 500:
        return answer
    if code == "CREDENTIAL_REQUIRED":
        answer.headers["WWW-Authenticate"] = realm
    else:
        kind = {401: "invalid_token", 403: "insufficient_scope"}.get(status, "invalid_request")
        answer.headers["WWW-Authenticate"] = (
            f'{realm}, error="{kind}", error_description="{message}"'
        )
    return answer
