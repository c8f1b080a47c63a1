"""A loopback fake of a Misskey server (nothing like mastodon-mock exists for Misskey).

It behaves as Misskey's API does (packages/backend/src/server/api/ApiCallService.ts and
endpoints/notes/create.ts):

* every call is a POST; the token travels in the body field ``i`` (a multipart field for
  uploads); no token → 401 CREDENTIAL_REQUIRED, a wrong token → 403 AUTHENTICATION_FAILED,
  a token without the endpoint's permission → 400 PERMISSION_DENIED;
* errors look like ``{"error": {"message", "code", "id", "kind", "info"?}}``;
* ``notes/create`` validates like Misskey's JSON schema: text of at most 3000 code points
  (``/api/meta`` ``maxNoteTextLength``), ``cw`` of at most 100, visibility one of
  public/home/followers/specified, at most 16 ``fileIds`` that must be the user's own;
  too many notes → 429 RATE_LIMIT_EXCEEDED;
* ``drive/files/create`` takes the file as multipart with ``comment`` (the alt text, at most
  512 characters);
* MiAuth: ``/miauth/<session>?name=&permission=`` is the page staff open;
  ``/api/miauth/<session>/check`` answers ``{"ok": false}`` until they allow access.

Like Misskey it reads notes as MFM: it records the mentions it would notify and the MFM
formatting it would render, so tests can see that feed text triggers neither.
"""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from tests.fake_servers import Answer, LoopbackServer, Request, json_answer

TOKEN = "misskey-token-for-tests"  # a fixture, not a credential
USERNAME = "library"
TEXT_LIMIT = 3000
ALL_PERMISSIONS = frozenset({"write:notes", "write:drive", "read:account"})

# What each endpoint needs (``kind`` in Misskey's endpoint meta).
_KIND = {
    "i": "read:account",
    "notes/create": "write:notes",
    "drive/files/create": "write:drive",
    "users/notes": None,
    "meta": None,
}

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
    def __init__(self, *, software: str = "misskey", version: str = "2024.11.0") -> None:
        super().__init__()
        self.software = software
        self.version = version
        self.nodeinfo = True
        self.text_limit = TEXT_LIMIT
        self.tokens: dict[str, frozenset[str]] = {TOKEN: ALL_PERMISSIONS}
        self.notes: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}  # MiAuth session → what was asked
        self.note_quota: int | None = None  # notes allowed before 429
        self.retry_after: int | None = None  # seconds, sent with a 429 as Retry-After
        self._ids = itertools.count(1)
        self.user = {"id": "9abc", "username": USERNAME, "host": None, "name": "Library"}
        self.route("GET", r"/\.well-known/nodeinfo", self._nodeinfo_index)
        self.route("GET", r"/nodeinfo/2\.1", self._nodeinfo)
        self.route("GET", r"/miauth/([\w-]+)", self._miauth_page)
        self.route("POST", r"/api/miauth/([\w-]+)/check", self._miauth_check)
        self.route("POST", r"/api/(.+)", self._api)

    # --- test helpers -------------------------------------------------------------------

    def allow(self, session: str) -> None:
        """What staff do in the browser: open the MiAuth page and press "Allow"."""
        asked = self.sessions[session]
        token = secrets.token_urlsafe(16)
        self.tokens[token] = frozenset(asked["permission"].split(","))
        asked["token"] = token

    def not_found(self, request: Request) -> Answer:
        return _error(404, "No such endpoint.", "NO_SUCH_ENDPOINT")

    # --- discovery and MiAuth ---------------------------------------------------------

    def _nodeinfo_index(self, request: Request, match: re.Match[str]) -> Answer:
        if not self.nodeinfo:
            return self.not_found(request)
        rel = "http://nodeinfo.diaspora.software/ns/schema/2.1"
        older = "http://nodeinfo.diaspora.software/ns/schema/2.0"
        return json_answer(
            {
                "links": [
                    {"rel": older, "href": f"{self.url}/nodeinfo/2.0"},  # not served: 404
                    {"rel": rel, "href": f"{self.url}/nodeinfo/2.1"},
                ]
            }
        )

    def _nodeinfo(self, request: Request, match: re.Match[str]) -> Answer:
        software = {"name": self.software, "version": self.version}
        return json_answer({"version": "2.1", "software": software, "protocols": ["activitypub"]})

    def _miauth_page(self, request: Request, match: re.Match[str]) -> Answer:
        self.sessions[match[1]] = {k: v[0] for k, v in request.query.items()}
        return Answer(200, b"<html><body>Allow access?</body></html>", "text/html")

    def _miauth_check(self, request: Request, match: re.Match[str]) -> Answer:
        asked = self.sessions.get(match[1], {})
        if "token" not in asked:
            return json_answer({"ok": False})
        return json_answer({"ok": True, "token": asked["token"], "user": self.user})

    # --- the API ------------------------------------------------------------------------

    def _api(self, request: Request, match: re.Match[str]) -> Answer:
        endpoint = match[1]
        if endpoint not in _KIND:
            return self.not_found(request)
        multipart = request.headers.get("content-type", "").startswith("multipart/")
        params = {k: v for k, (v, _) in request.parts().items()} if multipart else request.json()
        refused = self._authenticate(endpoint, params.get("i"))
        if refused:
            return refused
        handler = getattr(self, "_" + endpoint.replace("/", "_"))
        answer: Answer = handler(params)
        return answer

    def _authenticate(self, endpoint: str, token: object) -> Answer | None:
        kind = _KIND[endpoint]
        if token is None:
            if endpoint in ("meta",):
                return None
            return _error(401, "Credential required.", "CREDENTIAL_REQUIRED")
        if token not in self.tokens:
            return _error(
                403,
                "Authentication failed. Please ensure your token is correct.",
                "AUTHENTICATION_FAILED",
            )
        if kind is not None and kind not in self.tokens[str(token)]:
            return _error(
                400,
                "Your app does not have the necessary permissions to use this endpoint.",
                "PERMISSION_DENIED",
            )
        return None

    def _meta(self, params: dict[str, Any]) -> Answer:
        return json_answer(
            {"maxNoteTextLength": self.text_limit, "version": self.version, "name": "Fake"}
        )

    def _i(self, params: dict[str, Any]) -> Answer:
        return json_answer(self.user)

    def _notes_create(self, params: dict[str, Any]) -> Answer:
        if self.note_quota is not None and len(self.notes) >= self.note_quota:
            return self._rate_limited()
        text, cw = params.get("text"), params.get("cw")
        invalid = _check_note(text, cw, params.get("visibility", "public"), self.text_limit)
        if invalid:
            return invalid
        file_ids = params.get("fileIds") or []
        if len(file_ids) > 16 or any(f not in self.files for f in file_ids):
            return _error(400, "Some files are not found.", "NO_SUCH_FILE")
        note = {
            "id": f"n{next(self._ids)}",
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "userId": self.user["id"],
            "text": text,
            "cw": cw,
            "visibility": params.get("visibility", "public"),
            "fileIds": file_ids,
            "files": [self.files[f] for f in file_ids],
            "uri": None,
            "url": None,
            # What Misskey would do with the text: notify mentions, render MFM.
            "mentions": _MFM["mention"].findall(_PLAIN.sub("\ufffc", text or "")),
            "formatting": mfm_formatting(text or ""),
        }
        self.notes.append(note)
        return json_answer({"createdNote": note})

    def _rate_limited(self) -> Answer:
        answer = _error(429, "Rate limit exceeded. Please try again later.", "RATE_LIMIT_EXCEEDED")
        if self.retry_after is not None:
            answer.headers["Retry-After"] = str(self.retry_after)
        return answer

    def _users_notes(self, params: dict[str, Any]) -> Answer:
        if params.get("userId") != self.user["id"]:
            return _error(400, "No such user.", "NO_SUCH_USER")
        limit = int(params.get("limit", 10))
        return json_answer(list(reversed(self.notes))[:limit])

    def _drive_files_create(self, params: dict[str, Any]) -> Answer:
        data = params.get("file")
        if not isinstance(data, bytes):
            return _error(400, "Invalid param.", "INVALID_PARAM", {"param": "file"})
        comment = params.get("comment")
        if comment is not None and len(comment) > 512:
            info = {"param": "#/properties/comment/maxLength", "reason": "must NOT have more"}
            return _error(400, "Invalid param.", "INVALID_PARAM", info)
        file_id = f"f{next(self._ids)}"
        self.files[file_id] = {
            "id": file_id,
            "type": "image/png",
            "size": len(data),
            "comment": comment,
            "url": f"{self.url}/files/{file_id}",
        }
        return json_answer(self.files[file_id])


def _check_note(text: object, cw: object, visibility: object, limit: int) -> Answer | None:
    """notes/create's JSON schema: Misskey answers each violation with INVALID_PARAM."""
    problems = []
    if not isinstance(text, str) or not text:
        problems.append(("#/properties/text/minLength", "must NOT have fewer than 1 characters"))
    elif len(text) > limit:
        problems.append(
            ("#/properties/text/maxLength", f"must NOT have more than {limit} characters")
        )
    if cw is not None and (not isinstance(cw, str) or len(cw) > 100):
        problems.append(("#/properties/cw/maxLength", "must NOT have more than 100 characters"))
    if visibility not in ("public", "home", "followers", "specified"):
        problems.append(("#/properties/visibility/enum", "must be equal to one of the values"))
    if not problems:
        return None
    param, reason = problems[0]
    return _error(400, "Invalid param.", "INVALID_PARAM", {"param": param, "reason": reason})


def _error(status: int, message: str, code: str, info: dict[str, Any] | None = None) -> Answer:
    error: dict[str, Any] = {
        "message": message,
        "code": code,
        "id": "00000000-0000-4000-8000-000000000000",
        "kind": "client" if status < 500 else "server",
    }
    if info:
        error["info"] = info
    return json_answer({"error": error}, status)
