"""Which software runs the account's server, and the one place that picks a publisher for it.

NodeInfo (``/.well-known/nodeinfo`` → the 2.x document → ``software.name``/``version``) names
the software; servers without it are asked ``/api/v1/instance`` (Mastodon API) and then
``/api/meta`` (Misskey API). The name decides the family (which API we speak) and the
``ServerQuirks`` (what that software does differently). ``server_type`` in the account's
config overrides the family, never the quirks.

``open_publisher`` does no network I/O: detection runs when the publisher is first used, so
a server that is down at start makes items wait (``ServerUnavailable``) instead of stopping
the account, and is detected again at the next attempt.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx

from fedibridge.errors import AccountUnusable, ServerUnavailable
from fedibridge.models import Post, ServerLimits
from fedibridge.publish import OwnPost, Published, Publisher
from fedibridge.publish.mastodon import MastodonPublisher, read_limits
from fedibridge.publish.misskey import MISSKEY_NOTE_INTERVAL, MisskeyPublisher
from fedibridge.publish.quirks import MASTODON, UNKNOWN, ServerQuirks

log = logging.getLogger("fedibridge")

Family = Literal["mastodon", "misskey"]
ServerType = Literal["auto", "mastodon", "misskey"]

# NodeInfo names of software whose native API is Misskey's. Everything else speaks the
# Mastodon client API (Mastodon, GoToSocial, Pleroma, Akkoma, Friendica, Takahē,
# Iceshrimp.NET ("iceshrimp.net"), ...), which is also the best guess for software we do
# not know.
MISSKEY_FAMILY: Final = frozenset(
    {"misskey", "sharkey", "firefish", "calckey", "foundkey", "iceshrimp", "cherrypick", "catodon"}
)

# What each Mastodon-API software does differently. Software not listed gets UNKNOWN: Mastodon's
# counting, but edits only of public posts, since we do not know that it keeps visibility.
QUIRKS: Final[Mapping[str, ServerQuirks]] = {
    "mastodon": MASTODON,
    "hometown": MASTODON,
    "pleroma": MASTODON,  # keeps visibility on edits (CommonAPI.make_update_data)
    "akkoma": MASTODON,
    "gotosocial": ServerQuirks(urls_count_raw=True),
    "takahe": ServerQuirks(urls_count_raw=True),  # edit_status takes no visibility
    "friendica": ServerQuirks(media_v1_only=True),
    # Only reached with server_type = "mastodon": its Mastodon API advertises the host name's
    # length as the weight of a link.
    "sharkey": ServerQuirks(
        urls_count_raw=True, edit_keeps_visibility=False, min_post_interval=MISSKEY_NOTE_INTERVAL
    ),
}

_NODEINFO_SCHEMA: Final = re.compile(r"^https?://nodeinfo\.diaspora\.software/ns/schema/2\.(\d+)$")
# "2.7.2 (compatible; Pleroma 2.5.0)", "3.5.3 (compatible; Akkoma 3.9.3)"
_COMPATIBLE: Final = re.compile(r"\(compatible; ([A-Za-z][\w.-]*) ([^)\s]+)\)")
# "takahe/0.11.0"
_SLASHED: Final = re.compile(r"^([A-Za-z][\w.-]*)/(\S+)$")
_VERSION: Final = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class ServerSoftware:
    name: str  # NodeInfo's software.name, lower case; "" when the server does not say
    version: str
    family: Family
    quirks: ServerQuirks

    def at_least(self, major: int, minor: int) -> bool:
        match = _VERSION.match(self.version)
        return match is not None and (int(match[1]), int(match[2])) >= (major, minor)

    def describe(self) -> str:
        return f"{self.name} {self.version}".strip() or "unknown software"


def family_of(name: str) -> Family:
    return "misskey" if name.lower() in MISSKEY_FAMILY else "mastodon"


def detect(http: httpx.Client, server: str, server_type: ServerType = "auto") -> ServerSoftware:
    """Ask the server what it runs. Raises ``ServerUnavailable`` when it cannot be reached
    (try later), ``AccountUnusable`` when no fediverse API answers at this address."""
    found = _from_nodeinfo(http, server)
    if found is None and server_type != "misskey":
        found = _from_mastodon_instance(http, server)
    if found is None and server_type != "mastodon":
        found = _from_misskey_meta(http, server)
    if found is None:
        if server_type == "auto":
            raise AccountUnusable(
                f"{_host(server)} did not say which fediverse software it runs (no NodeInfo, "
                "no Mastodon or Misskey API answered): check the server address, or set "
                'server_type = "mastodon" or "misskey"'
            )
        found = ("", "")
    name, version = found
    family = family_of(name) if server_type == "auto" else server_type
    quirks = QUIRKS.get(name, UNKNOWN) if family == "mastodon" else MASTODON
    return ServerSoftware(name, version, family, quirks)


def _get_json(http: httpx.Client, url: str, *, post: bool = False) -> Any:
    """The JSON at ``url``, or None when there is none. Transport errors, 5xx and 429 mean
    the server is there but cannot answer now."""
    try:
        if post:
            response = http.post(url, json={}, headers={"Accept": "application/json"})
        else:
            response = http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError:
        raise ServerUnavailable(
            f"could not reach {_host(url)} to see which software it runs"
        ) from None
    if response.status_code >= 500 or response.status_code == 429:
        raise ServerUnavailable(
            f"{_host(url)} had a server error (HTTP {response.status_code}) when asked which "
            "software it runs"
        )
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _from_nodeinfo(http: httpx.Client, server: str) -> tuple[str, str] | None:
    index = _get_json(http, f"{server}/.well-known/nodeinfo")
    links = index.get("links") if isinstance(index, dict) else None
    best: tuple[int, str] | None = None
    for link in links if isinstance(links, list) else []:
        match = _NODEINFO_SCHEMA.match(str(link.get("rel", ""))) if isinstance(link, dict) else None
        if match and isinstance(link.get("href"), str):
            candidate = (int(match[1]), link["href"])
            best = max(best, candidate) if best else candidate
    if best is None:
        return None
    document = _get_json(http, best[1])
    software = document.get("software") if isinstance(document, dict) else None
    if not isinstance(software, dict) or not software.get("name"):
        return None
    return str(software["name"]).lower(), str(software.get("version") or "")


def _from_mastodon_instance(http: httpx.Client, server: str) -> tuple[str, str] | None:
    # No trailing slash: some servers answer /api/v1/instance/ with 404.
    instance = _get_json(http, f"{server}/api/v1/instance")
    if not isinstance(instance, dict) or "version" not in instance:
        return None
    return software_from_version(str(instance["version"]))


def software_from_version(version: str) -> tuple[str, str]:
    """Name and version from a Mastodon-API ``version`` string; "" when it names nothing."""
    if match := _COMPATIBLE.search(version):
        return match[1].lower(), match[2]
    if match := _SLASHED.match(version):
        return match[1].lower(), match[2]
    return "", version


def _from_misskey_meta(http: httpx.Client, server: str) -> tuple[str, str] | None:
    meta = _get_json(http, f"{server}/api/meta", post=True)
    if not isinstance(meta, dict) or "maxNoteTextLength" not in meta:
        return None
    return "misskey", str(meta.get("version") or "")


def publisher_for(
    software: ServerSoftware, server: str, token: str, *, user_agent: str, http: httpx.Client
) -> Publisher:
    if software.family == "misskey":
        return MisskeyPublisher(server, token, http=http)
    return MastodonPublisher(
        server, token, user_agent=user_agent, http=http, quirks=software.quirks
    )


def public_limits(
    http: httpx.Client, server: str, server_type: ServerType = "auto"
) -> ServerLimits:
    """The server's limits without a token (for previews and dry runs), counted the way that
    software counts. Raises ``ServerUnavailable`` when they cannot be read."""
    try:
        software = detect(http, server, server_type)
    except AccountUnusable as error:
        raise ServerUnavailable(str(error)) from None
    if software.family == "misskey":
        return MisskeyPublisher(server, "", http=http).limits()  # /api/meta needs no token
    limits = read_limits(http, server)
    return limits.counting_raw() if software.quirks.urls_count_raw else limits


def open_publisher(
    server: str,
    token: str,
    *,
    server_type: ServerType = "auto",
    user_agent: str,
    http: httpx.Client,
) -> DetectingPublisher:
    """The publisher for this account's server. No network I/O until it is first used."""
    return DetectingPublisher(
        server, token, server_type=server_type, user_agent=user_agent, http=http
    )


class DetectingPublisher:
    """A ``Publisher`` that finds out what the server runs the first time it is used, then
    hands every call to the publisher of that family. A failed detection is not kept: the
    next call tries again."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        server_type: ServerType,
        user_agent: str,
        http: httpx.Client,
    ) -> None:
        self.server = server
        self._token = token
        self._server_type = server_type
        self._user_agent = user_agent
        self._http = http
        self._lock = threading.Lock()
        self._inner: Publisher | None = None
        self.software: ServerSoftware | None = None

    def _publisher(self) -> Publisher:
        with self._lock:
            if self._inner is None:
                software = detect(self._http, self.server, self._server_type)
                log.info("%s runs %s", _host(self.server), software.describe())
                self._inner = publisher_for(
                    software, self.server, self._token, user_agent=self._user_agent, http=self._http
                )
                self.software = software
            return self._inner

    def limits(self) -> ServerLimits:
        try:
            return self._publisher().limits()
        except AccountUnusable as error:
            # limits() only ever means "try later" to its callers, as when a server does not
            # tell its limits; the message still says what to check.
            raise ServerUnavailable(str(error)) from None

    def verify(self) -> str:
        return self._publisher().verify()

    def post(self, post: Post, idempotency_key: str, media_ids: Sequence[str] = ()) -> Published:
        return self._publisher().post(post, idempotency_key, media_ids)

    def recent_posts(self, limit: int = 40) -> list[OwnPost]:
        return self._publisher().recent_posts(limit)

    def upload(
        self, data: bytes, mime_type: str, description: str, *, sensitive: bool = False
    ) -> str:
        return self._publisher().upload(data, mime_type, description, sensitive=sensitive)

    def edit(self, status_id: str, post: Post, media_ids: Sequence[str] = ()) -> None:
        self._publisher().edit(status_id, post, media_ids)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
