"""Loopback fakes of fediverse servers that are not Mastodon, for the behaviours the bridge must
survive. Real HTTP on 127.0.0.1 (port 0, threaded); mastodon-mock stays the Mastodon stand-in.

``FakeMastodonAPI`` speaks the Mastodon client API the way another server software does, as
described by a ``Software`` value. The profiles below carry what each software is known to do
differently; where the behaviour was read in that software's source, the comment says where.

* GoToSocial: counts every character (``len([]rune(status))``) although it advertises 23 per
  link; "status too long, N characters provided ..." with 400; 6 attachments; a version string
  Mastodon.py cannot parse (internal/api/client/statuses/statuscreate.go).
* Takahē: answers a bad token with 400 and the plain text "Invalid Bearer token"
  (api/middleware.py); "Status is too long" with 400; ignores ``language`` (api/views/
  statuses.py); version ``takahe/0.11.0``; no /api/v2/instance.
* Friendica: only /api/v1/media; ``max_toot_chars``; error pages in HTML.
* Pleroma: ``max_toot_chars`` above 500; "The status is over the character limit" with 422;
  403 for a bad token.
* "examplefork": a server we know nothing about, whose edits make a post public.

None of them sends rate-limit headers or honours Idempotency-Key. Every unknown path is a 404,
so ``/api/v1/instance/`` (with a trailing slash) is one too.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.loopback import Loopback, Served

# --- a small loopback HTTP server -------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, list[str]]:
        """Form fields of a urlencoded or multipart body (file parts left out)."""
        kind = self.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            return {name: [value] for name, (value, _) in self.parts().items() if _ is None}
        if kind.startswith("application/json"):
            data = self.json()
            return {k: v if isinstance(v, list) else [v] for k, v in data.items()}
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def field(self, name: str, default: str = "") -> str:
        values = self.form().get(name)
        return str(values[0]) if values else default

    def parts(self) -> dict[str, tuple[Any, str | None]]:
        """Multipart parts: name → (text, or bytes for a file; the file name or None)."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = email.message_from_bytes(head + self.body, policy=email.policy.HTTP)
        parts: dict[str, tuple[Any, str | None]] = {}
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            parts[name] = (payload, filename) if filename else (payload.decode(), None)
        return parts


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(data: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, json.dumps(data).encode(), headers=headers)


def text_answer(text: str, status: int, content_type: str = "text/plain; charset=utf-8") -> Answer:
    return Answer(status, text.encode(), content_type)


Handler = Callable[[Request, re.Match[str]], Answer]


class LoopbackServer(Served):
    """Routes (method, path regex) to handlers; records every request; injects faults."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[tuple[str, int, Answer]] = []  # path, remaining count, answer
        self._lock = threading.Lock()
        self._loopback = Loopback(self._handle)

    @property
    def url(self) -> str:
        return self._loopback.url

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + "$"), handler))

    def fail(self, path: str, answer: Answer, count: int = 1) -> None:
        """Answer the next ``count`` requests to ``path`` with ``answer``."""
        with self._lock:
            self._faults.append((path, count, answer))

    def seen(self, method: str, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def _handle(self, raw: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(raw.path)
        length = int(raw.headers.get("Content-Length") or 0)
        request = Request(
            raw.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in raw.headers.items()},
            raw.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(request)
        answer = self._fault(request.path) or self._dispatch(request)
        raw.send_response(answer.status)
        raw.send_header("Content-Type", answer.content_type)
        raw.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            raw.send_header(name, value)
        raw.end_headers()
        raw.wfile.write(answer.body)

    def _fault(self, path: str) -> Answer | None:
        with self._lock:
            for i, (where, count, answer) in enumerate(self._faults):
                if where == path and count > 0:
                    self._faults[i] = (where, count - 1, answer)
                    return answer
        return None

    def _dispatch(self, request: Request) -> Answer:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, match)
        return self.not_found(request)

    def not_found(self, request: Request) -> Answer:
        return json_answer({"error": "Record not found"}, 404)


# --- the Mastodon client API, as other software speaks it -------------------------------


@dataclass(frozen=True)
class Software:
    name: str  # NodeInfo software.name
    version: str  # NodeInfo software.version
    instance_version: str  # "version" in /api/v1/instance
    max_characters: int = 500
    # Where the limit is advertised: Mastodon's "configuration", or Pleroma's "max_toot_chars".
    limit_style: Literal["configuration", "max_toot_chars"] = "configuration"
    characters_per_url: int = 23  # advertised
    counts_raw: bool = True  # ...but every character of a link counts
    max_media: int = 4
    v2_instance: bool = True
    v2_media: bool = True
    validation_status: int = 422
    error_style: Literal["json", "text", "html"] = "json"
    too_long: str = "Text character limit of {limit} exceeded"
    bad_token_status: int = 401
    bad_token_body: str = '{"error": "The access token is invalid"}'
    bad_token_type: str = "application/json"
    keeps_language: bool = True
    edit_keeps_visibility: bool = True
    nodeinfo: bool = True


GOTOSOCIAL = Software(
    "gotosocial",
    "0.17.0+git-abc",
    "0.17.0+git-abc",
    max_media=6,
    validation_status=400,
    too_long="Bad Request: status too long, {length} characters provided (including "
    "spoiler/content warning) but limit is {limit}",
    bad_token_body='{"error": "Unauthorized: token not supplied or invalid"}',
)
TAKAHE = Software(
    "takahe",
    "0.11.0",
    "takahe/0.11.0",
    v2_instance=False,
    validation_status=400,
    too_long="Status is too long",
    bad_token_status=400,
    bad_token_body="Invalid Bearer token",
    bad_token_type="text/plain; charset=utf-8",
    keeps_language=False,
)
FRIENDICA = Software(
    "friendica",
    "2024.03",
    "2.8.0 (compatible; Friendica 2024.03)",
    max_characters=200000,
    limit_style="max_toot_chars",
    counts_raw=False,
    v2_instance=False,
    v2_media=False,
    error_style="html",
    too_long="The post is too long",
)
PLEROMA = Software(
    "pleroma",
    "2.6.1",
    "2.7.2 (compatible; Pleroma 2.6.1)",
    max_characters=5000,
    limit_style="max_toot_chars",
    counts_raw=False,
    v2_instance=False,
    too_long="The status is over the character limit",
    bad_token_status=403,
    bad_token_body='{"error": "Invalid credentials."}',
)
EXAMPLEFORK = Software(
    "examplefork", "1.0.0", "1.0.0", counts_raw=False, edit_keeps_visibility=False
)

TOKEN = "fake-server-token"  # a fixture, not a credential
ACCOUNT = "library"


class FakeMastodonAPI(LoopbackServer):
    """One account (``library``, token ``TOKEN``) on a Mastodon-API server of ``software``."""

    def __init__(self, software: Software) -> None:
        super().__init__()
        self.software = software
        self.tokens: dict[str, set[str]] = {TOKEN: {"read", "write"}}  # token → scopes
        self.statuses: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.apps: dict[str, dict[str, str]] = {}  # client_id → app
        self.codes: dict[str, str] = {}  # authorization code → client_id
        self._ids = itertools.count(100)
        self._routes_for_api()

    def with_software(self, **changes: Any) -> None:
        self.software = replace(self.software, **changes)

    def _routes_for_api(self) -> None:
        self.route("GET", r"/\.well-known/nodeinfo", self._nodeinfo_index)
        self.route("GET", r"/nodeinfo/2\.0", self._nodeinfo)
        self.route("GET", r"/api/v1/instance", self._instance_v1)
        self.route("GET", r"/api/v2/instance", self._instance_v2)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._verify)
        self.route("GET", r"/api/v1/accounts/(\w+)/statuses", self._account_statuses)
        self.route("POST", r"/api/v1/statuses", self._create)
        self.route("PUT", r"/api/v1/statuses/(\w+)", self._edit)
        self.route("POST", r"/api/v1/media", self._upload)
        self.route("POST", r"/api/v2/media", self._upload_v2)
        self.route("GET", r"/api/v1/media/(\w+)", self._media)
        self.route("POST", r"/api/v1/apps", self._create_app)
        self.route("GET", r"/oauth/authorize", self._authorize_page)
        self.route("POST", r"/oauth/token", self._token)

    # --- test helpers -------------------------------------------------------------

    def approve(self, client_id: str) -> str:
        """What staff do in the browser: log in, allow the app, read the code shown."""
        code = secrets.token_urlsafe(12)
        self.codes[code] = client_id
        return code

    # --- errors as this software sends them ------------------------------------------

    def _error(self, message: str, status: int) -> Answer:
        style = self.software.error_style
        if style == "text":
            return text_answer(message, status)
        if style == "html":
            page = (
                f"<!DOCTYPE html><html><head><title>{status}</title></head><body>"
                f"<h1>Error {status}</h1><p>{escape(message)}</p></body></html>"
            )
            return text_answer(page, status, "text/html; charset=utf-8")
        return json_answer({"error": message}, status)

    def _authorised(self, request: Request, *scopes: str) -> Answer | None:
        """None if the token is known and has one of ``scopes`` (or its parent, as "write"
        for "write:statuses"); else the refusal this software sends."""
        granted = self.tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if granted is None:
            kind = self.software.bad_token_type
            return text_answer(self.software.bad_token_body, self.software.bad_token_status, kind)
        if scopes and not any(s in granted or s.split(":")[0] in granted for s in scopes):
            return json_answer({"error": "This action is outside the authorized scopes"}, 403)
        return None

    # --- discovery and limits -------------------------------------------------------

    def _nodeinfo_index(self, request: Request, match: re.Match[str]) -> Answer:
        if not self.software.nodeinfo:
            return self.not_found(request)
        rel = "http://nodeinfo.diaspora.software/ns/schema/2.0"
        return json_answer({"links": [{"rel": rel, "href": f"{self.url}/nodeinfo/2.0"}]})

    def _nodeinfo(self, request: Request, match: re.Match[str]) -> Answer:
        software = {"name": self.software.name, "version": self.software.version}
        return json_answer({"version": "2.0", "software": software, "protocols": ["activitypub"]})

    def _instance_v1(self, request: Request, match: re.Match[str]) -> Answer:
        data: dict[str, Any] = {"uri": urlsplit(self.url).netloc, "title": "Fake"}
        data["version"] = self.software.instance_version
        if self.software.limit_style == "max_toot_chars":
            data["max_toot_chars"] = self.software.max_characters
        else:
            data["configuration"] = self._configuration()
        return json_answer(data)

    def _instance_v2(self, request: Request, match: re.Match[str]) -> Answer:
        if not self.software.v2_instance:
            return self.not_found(request)
        data = {"version": self.software.instance_version, "configuration": self._configuration()}
        return json_answer(data)

    def _configuration(self) -> dict[str, Any]:
        software = self.software
        statuses = {
            "max_characters": software.max_characters,
            "characters_reserved_per_url": software.characters_per_url,
            "max_media_attachments": software.max_media,
        }
        return {"statuses": statuses, "media_attachments": {"description_limit": 1500}}

    # --- the account and its statuses ---------------------------------------------------

    def _account(self) -> dict[str, Any]:
        return {
            "id": "1",
            "username": ACCOUNT,
            "acct": ACCOUNT,
            "display_name": "Riverside Library",
            "url": f"{self.url}/@{ACCOUNT}",
            "created_at": "2024-01-01T00:00:00.000Z",
            "bot": True,
            "locked": False,
            "note": "",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(self.statuses),
            "emojis": [],
            "fields": [],
        }

    def _verify(self, request: Request, match: re.Match[str]) -> Answer:
        refused = self._authorised(request, "read:accounts", "profile")
        return refused or json_answer(self._account())

    def _account_statuses(self, request: Request, match: re.Match[str]) -> Answer:
        refused = self._authorised(request, "read:statuses")
        if refused:
            return refused
        limit = int(request.query.get("limit", ["20"])[0])
        return json_answer(list(reversed(self.statuses))[:limit])

    def _length(self, text: str) -> int:
        if self.software.counts_raw:
            return len(text)
        return len(re.sub(r"https?://\S+", "x" * self.software.characters_per_url, text))

    def _create(self, request: Request, match: re.Match[str]) -> Answer:
        refused = self._authorised(request, "write:statuses")
        if refused:
            return refused
        form = request.form()
        text = request.field("status")
        spoiler = request.field("spoiler_text")
        length = self._length(text) + len(spoiler)
        if length > self.software.max_characters:
            message = self.software.too_long.format(
                length=length, limit=self.software.max_characters
            )
            return self._error(message, self.software.validation_status)
        media_ids = form.get("media_ids[]", []) + form.get("media_ids", [])
        if len(media_ids) > self.software.max_media:
            return self._error("too many attachments", self.software.validation_status)
        status = self._status(request, text, spoiler, media_ids)
        self.statuses.append(status)
        return json_answer(status)

    def _status(
        self, request: Request, text: str, spoiler: str, media_ids: list[str]
    ) -> dict[str, Any]:
        status_id = str(next(self._ids))
        language = request.field("language") or None
        return {
            "id": status_id,
            "uri": f"{self.url}/users/{ACCOUNT}/statuses/{status_id}",
            "url": f"{self.url}/@{ACCOUNT}/{status_id}",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "content": _html(text),
            "spoiler_text": spoiler,
            "sensitive": bool(spoiler),
            "visibility": request.field("visibility") or "public",
            "language": language if self.software.keeps_language else None,
            "media_attachments": [self.media[i] for i in media_ids if i in self.media],
            "account": self._account(),
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblog": None,
            "idempotency_key_seen": request.headers.get("idempotency-key"),
        }

    def _edit(self, request: Request, match: re.Match[str]) -> Answer:
        refused = self._authorised(request, "write:statuses")
        if refused:
            return refused
        [status] = [s for s in self.statuses if s["id"] == match[1]]
        status["content"] = _html(request.field("status"))
        status["spoiler_text"] = request.field("spoiler_text")
        if not self.software.edit_keeps_visibility:
            status["visibility"] = "public"  # what the edit form left out becomes the default
        return json_answer(status)

    # --- media ---------------------------------------------------------------------

    def _upload_v2(self, request: Request, match: re.Match[str]) -> Answer:
        if not self.software.v2_media:
            return self.not_found(request)
        return self._upload(request, match)

    def _upload(self, request: Request, match: re.Match[str]) -> Answer:
        refused = self._authorised(request, "write:media")
        if refused:
            return refused
        parts = request.parts()
        data, _ = parts["file"]
        media_id = str(next(self._ids))
        self.media[media_id] = {
            "id": media_id,
            "type": "image",
            "url": f"{self.url}/media/{media_id}.png",
            "preview_url": f"{self.url}/media/{media_id}-small.png",
            "description": parts.get("description", ("", None))[0],
            "size": len(data),
        }
        return json_answer(self.media[media_id])

    def _media(self, request: Request, match: re.Match[str]) -> Answer:
        media = self.media.get(match[1])
        return json_answer(media) if media else self.not_found(request)

    # --- OAuth (the steps of `fedibridge login`) ------------------------------------------

    def _create_app(self, request: Request, match: re.Match[str]) -> Answer:
        client_id = secrets.token_urlsafe(16)
        app = {
            "client_id": client_id,
            "client_secret": secrets.token_urlsafe(24),
            "scopes": request.field("scopes", "read"),
            "redirect_uri": request.field("redirect_uris"),
            "name": request.field("client_name"),
        }
        self.apps[client_id] = app
        return json_answer({"id": "7", **app})

    def _authorize_page(self, request: Request, match: re.Match[str]) -> Answer:
        return text_answer("<html><body>Allow access?</body></html>", 200, "text/html")

    def _token(self, request: Request, match: re.Match[str]) -> Answer:
        form = {k: v[0] for k, v in request.form().items()}
        app = self.apps.get(form.get("client_id", ""))
        if app is None or app["client_secret"] != form.get("client_secret"):
            return json_answer({"error": "invalid_client"}, 401)
        if self.codes.get(form.get("code", "")) != app["client_id"]:
            return json_answer({"error": "invalid_grant"}, 400)
        # Like Doorkeeper: a scope beyond what the app registered is refused.
        if not set(form.get("scope", "").split()) <= set(app["scopes"].split()):
            return json_answer({"error": "invalid_scope"}, 400)
        del self.codes[form["code"]]
        token = secrets.token_urlsafe(24)
        self.tokens[token] = set(form["scope"].split())
        return json_answer({"access_token": token, "token_type": "Bearer", "scope": form["scope"]})


def _html(text: str) -> str:
    """Plain text as a server stores it: paragraphs of escaped text, links as anchors."""
    lines = []
    for line in text.split("\n"):
        pieces = re.split(r"(https?://\S+)", line)
        lines.append(
            "".join(
                f'<a href="{escape(piece)}" rel="nofollow">{escape(piece, quote=False)}</a>'
                if i % 2
                else escape(piece, quote=False)
                for i, piece in enumerate(pieces)
            )
        )
    return "<p>" + "<br>".join(lines) + "</p>"
