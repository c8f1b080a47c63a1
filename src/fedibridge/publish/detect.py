"""Which software runs the account's server, and the one place that picks a publisher for it.

NodeInfo (``/.well-known/nodeinfo`` → the 2.x document → ``software.name``/``version``) names
the software; servers without it are asked ``/api/v1/instance`` (Mastodon API) and then
``/api/meta`` (Misskey API). The name decides the family (which API we speak) and the
``ServerQuirks`` (what that software does differently). ``server_type`` in the account's
config overrides the family, never the quirks.

``DetectingPublisher`` does no network I/O: detection runs when the publisher is first used, so
a server that is down at start makes items wait (``ServerUnavailable``) instead of stopping
the account, and is detected again at the next attempt.

What was found, and the limits the server advertises, are kept by the caller (in the state)
and handed to the next ``DetectingPublisher``: a run with both at hand asks the server nothing but
its posts. Limits are kept for ``LIMITS_KEPT_FOR``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from fedibridge.errors import AccountUnusable, ApiMissing, PostRejected, ServerUnavailable
from fedibridge.models import Post, ServerLimits
from fedibridge.publish import OwnPost, Published
from fedibridge.publish.mastodon import MastodonPublisher, read_limits
from fedibridge.publish.misskey import MISSKEY_NOTE_INTERVAL, MisskeyPublisher
from fedibridge.publish.quirks import MASTODON, UNKNOWN, ServerQuirks

log = logging.getLogger("fedibridge")

T = TypeVar("T")

# Limits read from the server are used for a day, then read again: an admin who raises the
# character limit (or the images per post) is seen within a day, while the runs in between,
# one every few minutes from cron, ask the server nothing but their posts. A post refused as
# too long forgets them at once, since the server then allows less than they say.
LIMITS_KEPT_FOR: Final = timedelta(days=1)

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
    # Takahē: an edit without visibility makes the post public (recorded on 0.11.0).
    "takahe": ServerQuirks(urls_count_raw=True, edit_keeps_visibility=False, account_scope="read"),
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
    found_by: str = ""  # how it was found out, for `fedibridge check`

    def at_least(self, major: int, minor: int) -> bool:
        match = _VERSION.match(self.version)
        return match is not None and (int(match[1]), int(match[2])) >= (major, minor)

    def describe(self) -> str:
        return f"{self.name} {self.version}".strip() or "unknown software"


@dataclass(frozen=True, slots=True)
class KeptLimits:
    """The limits a server advertised, as it said them (before our counting rules), and when
    they were read. Only limits the server told are kept, never defaults used instead."""

    limits: ServerLimits
    read_at: datetime

    def fresh(self, now: datetime) -> bool:
        return self.read_at <= now < self.read_at + LIMITS_KEPT_FOR


def family_of(name: str) -> Family:
    return "misskey" if name.lower() in MISSKEY_FAMILY else "mastodon"


def software(name: str, version: str, server_type: ServerType, found_by: str) -> ServerSoftware:
    """What we speak to ``name``: its own family unless ``server_type`` says otherwise, and
    that software's quirks (``server_type`` never changes those)."""
    family = family_of(name) if server_type == "auto" else server_type
    quirks = QUIRKS.get(name, UNKNOWN) if family == "mastodon" else MASTODON
    return ServerSoftware(name, version, family, quirks, found_by)


def detect(http: httpx.Client, server: str, server_type: ServerType = "auto") -> ServerSoftware:
    """Ask the server what it runs: NodeInfo, then the Mastodon instance endpoints, then
    Misskey's meta. A step that cannot be reached or read is passed over, never fatal: a
    server may advertise a NodeInfo address built from another name (Takahē: its configured
    domain over https) while its API answers here.

    With ``server_type`` set, detection only refines quirks: when nothing answers, that family
    is used as it is. Otherwise raises ``ServerUnavailable`` when the server could not be
    reached (try later), ``AccountUnusable`` when it answered but no fediverse API did."""
    probe = _Probe(http)
    found = _from_nodeinfo(probe, server)
    if found is None and server_type != "misskey":
        found = _from_mastodon_instance(probe, server)
    if found is None and server_type != "mastodon":
        found = _from_misskey_meta(probe, server)
    if found is not None:
        name, version, how = found
        return software(name, version, server_type, probe.explain(how))
    if server_type != "auto":
        how = f'server_type = "{server_type}" (the server did not say which software it runs)'
        return software("", "", server_type, probe.explain(how))
    if probe.unreachable:
        raise ServerUnavailable(
            f"could not reach {_host(server)} to see which software it runs "
            f"({'; '.join(probe.unreachable)})"
        )
    raise AccountUnusable(
        f"{_host(server)} did not say which fediverse software it runs (no NodeInfo, "
        "no Mastodon or Misskey API answered): check the server address, or set "
        'server_type = "mastodon" or "misskey"'
    )


class _Probe:
    """GETs (or POSTs) JSON during detection and remembers what could not be had, so that
    staff can be told how the software was found, and why not otherwise."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.unreachable: list[str] = []  # transport errors, 5xx and 429: "try later"
        self.passed_over: list[str] = []  # what answered without telling

    def json(self, url: str, *, post: bool = False) -> Any:
        """The JSON at ``url``, or None."""
        try:
            if post:
                response = self.http.post(url, json={}, headers={"Accept": "application/json"})
            else:
                response = self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            self.unreachable.append(f"{url} could not be reached")
            return None
        if response.status_code >= 500 or response.status_code == 429:
            self.unreachable.append(f"{url} answered HTTP {response.status_code}")
            return None
        if response.status_code != 200:
            self.passed_over.append(f"{url} answered HTTP {response.status_code}")
            return None
        try:
            return response.json()
        except ValueError:
            self.passed_over.append(f"{url} did not answer with JSON")
            return None

    def explain(self, how: str) -> str:
        missed = self.unreachable + self.passed_over
        return f"{how}; {'; '.join(missed)}" if missed else how


def _from_nodeinfo(probe: _Probe, server: str) -> tuple[str, str, str] | None:
    index = probe.json(f"{server}/.well-known/nodeinfo")
    links = index.get("links") if isinstance(index, dict) else None
    best: tuple[int, str] | None = None
    for link in links if isinstance(links, list) else []:
        match = _NODEINFO_SCHEMA.match(str(link.get("rel", ""))) if isinstance(link, dict) else None
        if match and isinstance(link.get("href"), str):
            candidate = (int(match[1]), link["href"])
            best = max(best, candidate) if best else candidate
    if best is None:
        return None
    href = best[1]
    # The link may name another host or scheme than the one configured (a server behind a
    # proxy, or one that builds it from its own domain name): the same path here may answer.
    candidates = dict.fromkeys([href, server + (urlsplit(href).path or "/")])
    for url in candidates:
        document = probe.json(url)
        found = document.get("software") if isinstance(document, dict) else None
        if isinstance(found, dict) and found.get("name"):
            return str(found["name"]).lower(), str(found.get("version") or ""), f"NodeInfo ({url})"
    return None


def _from_mastodon_instance(probe: _Probe, server: str) -> tuple[str, str, str] | None:
    # Without a trailing slash first: some servers answer /api/v1/instance/ with 404 (Takahē),
    # others only with it, behind proxies that rewrite.
    for path in ("/api/v2/instance", "/api/v1/instance", "/api/v1/instance/"):
        instance = probe.json(server + path)
        if isinstance(instance, dict) and isinstance(instance.get("version"), str):
            name, version = software_from_version(instance["version"])
            return name, version, f"the Mastodon API ({path})"
    return None


def software_from_version(version: str) -> tuple[str, str]:
    """Name and version from a Mastodon-API ``version`` string; "" when it names nothing."""
    if match := _COMPATIBLE.search(version):
        return match[1].lower(), match[2]
    if match := _SLASHED.match(version):
        return match[1].lower(), match[2]
    return "", version


def _from_misskey_meta(probe: _Probe, server: str) -> tuple[str, str, str] | None:
    meta = probe.json(f"{server}/api/meta", post=True)
    if not isinstance(meta, dict) or "maxNoteTextLength" not in meta:
        return None
    return "misskey", str(meta.get("version") or ""), "the Misskey API (/api/meta)"


def publisher_for(
    software: ServerSoftware,
    server: str,
    token: str,
    *,
    user_agent: str,
    http: httpx.Client,
    advertised: ServerLimits | None = None,
) -> MastodonPublisher | MisskeyPublisher:
    """The publisher of the software's family; ``advertised`` are limits read before."""
    if software.family == "misskey":
        return MisskeyPublisher(server, token, http=http, advertised=advertised)
    return MastodonPublisher(
        server,
        token,
        user_agent=user_agent,
        http=http,
        quirks=software.quirks,
        advertised=advertised,
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


class DetectingPublisher:
    """The publisher for an account's server. It finds out what the server runs the first
    time it is used (no network I/O before), then hands every call to the publisher of that
    family. A failed detection is not kept: the next call tries again.

    ``known`` is what an earlier run found out (kept in the state): then nothing is asked
    again. ``remember`` is told what detection finds, and None when posting shows that the
    server is no longer what was found (so the next use detects again). ``known_limits`` and
    ``remember_limits`` do the same for the server's limits, which are read again once they
    are older than ``LIMITS_KEPT_FOR`` by ``clock`` and forgotten when a post is refused as
    too long."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        server_type: ServerType = "auto",
        user_agent: str,
        http: httpx.Client,
        known: ServerSoftware | None = None,
        remember: Callable[[ServerSoftware | None], None] | None = None,
        known_limits: KeptLimits | None = None,
        remember_limits: Callable[[KeptLimits | None], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.server = server
        self._token = token
        self._server_type = server_type
        self._user_agent = user_agent
        self._http = http
        self._lock = threading.Lock()
        self._inner: MastodonPublisher | MisskeyPublisher | None = None
        self._remember = remember or (lambda software: None)
        self._remember_limits = remember_limits or (lambda kept: None)
        self._clock = clock or (lambda: datetime.now(UTC))
        # What was found before is trusted only for the family the config asks for, and the
        # limits only with the software they were read from.
        fits = known is not None and server_type in ("auto", known.family)
        self.software: ServerSoftware | None = known if fits else None
        self.kept_limits: KeptLimits | None = known_limits if fits else None

    def _publisher(self) -> MastodonPublisher | MisskeyPublisher:
        with self._lock:
            if self._inner is None:
                if self.software is None:
                    self.software = detect(self._http, self.server, self._server_type)
                    log.info("%s runs %s", _host(self.server), self.software.describe())
                    self._remember(self.software)
                kept = self.kept_limits
                self._inner = publisher_for(
                    self.software,
                    self.server,
                    self._token,
                    user_agent=self._user_agent,
                    http=self._http,
                    advertised=kept.limits if kept and kept.fresh(self._clock()) else None,
                )
            return self._inner

    def _forget(self) -> None:
        """The server answered 404 where its API was: detect again at the next use."""
        with self._lock:
            self._inner = None
            self.software = None
            self.kept_limits = None
        self._remember(None)

    def _forget_limits(self) -> None:
        """A post was refused as too long: the server allows less than its limits said (or
        they are old), so read them again at the next use."""
        with self._lock:
            if self._inner is not None:
                self._inner.advertised = None
            self.kept_limits = None
        self._remember_limits(None)

    def _use(self, call: Callable[[MastodonPublisher | MisskeyPublisher], T]) -> T:
        try:
            return call(self._publisher())
        except ApiMissing:
            self._forget()
            raise
        except PostRejected as error:
            if error.too_long:
                self._forget_limits()
            raise

    def _current_limits(self, inner: MastodonPublisher | MisskeyPublisher) -> ServerLimits:
        """The inner publisher's limits, read again once the kept ones are a day old (so a
        daemon that runs for weeks sees a changed limit too), and kept when newly read."""
        now = self._clock()
        with self._lock:
            if self.kept_limits is not None and not self.kept_limits.fresh(now):
                inner.advertised = None
                self.kept_limits = None
            limits = inner.limits()
            newly: KeptLimits | None = None
            if self.kept_limits is None and inner.advertised is not None:
                newly = self.kept_limits = KeptLimits(inner.advertised, now)
        if newly is not None:
            self._remember_limits(newly)
        return limits

    def limits(self) -> ServerLimits:
        try:
            return self._use(self._current_limits)
        except AccountUnusable as error:
            # limits() only ever means "try later" to its callers, as when a server does not
            # tell its limits; the message still says what to check.
            raise ServerUnavailable(str(error)) from None

    def verify(self) -> str:
        return self._use(lambda inner: inner.verify())

    def post(self, post: Post, idempotency_key: str, media_ids: Sequence[str] = ()) -> Published:
        return self._use(lambda inner: inner.post(post, idempotency_key, media_ids))

    def recent_posts(self, limit: int = 40) -> list[OwnPost]:
        return self._use(lambda inner: inner.recent_posts(limit))

    def upload(
        self, data: bytes, mime_type: str, description: str, *, sensitive: bool = False
    ) -> str:
        return self._use(
            lambda inner: inner.upload(data, mime_type, description, sensitive=sensitive)
        )

    def edit(self, status_id: str, post: Post, media_ids: Sequence[str] = ()) -> None:
        self._use(lambda inner: inner.edit(status_id, post, media_ids))


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
