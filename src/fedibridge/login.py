"""``fedibridge login ACCOUNT``: connect an account without a programmer.

The server in ``accounts.ACCOUNT.server`` is asked which software it runs, then:

* **Mastodon API** (Mastodon, GoToSocial, Pleroma, Akkoma, Friendica, Takahē, ...): register an
  app with the out-of-band redirect, print the address where staff allow access, read the code
  the server then shows (typed in, or given as ``--code CODE`` in a second run), exchange it
  for a token. The password grant is gone from Mastodon 4.4, so this is the only way.
* **Misskey family**: MiAuth. Print the address where staff allow access, then (Enter, or a
  second run with ``--done``) ask the server for the token.

The scopes are the least the bridge needs, and the same at app creation, authorization and
token exchange. The token is checked before it is written to ``access_token_file`` (mode 0600,
replaced atomically). Between the two steps the app's client id and secret (or the MiAuth
session) wait in a 0600 file beside the token file, deleted once the token is written.

Nothing here ever prints a token or a client secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx

from fedibridge.config import AccountConfig, Settings
from fedibridge.errors import AccountUnusable, ConfigError, FedibridgeError, ServerUnavailable
from fedibridge.publish.detect import ServerSoftware, detect, publisher_for
from fedibridge.publish.quirks import readable

OOB: Final = "urn:ietf:wg:oauth:2.0:oob"
APP_NAME: Final = "fedibridge"
# Post, upload images, read its own recent posts (to recognise an interrupted post).
BASE_SCOPES: Final = ("write:statuses", "write:media", "read:statuses")
MISSKEY_PERMISSIONS: Final = ("write:notes", "write:drive", "read:account")
PENDING_SUFFIX: Final = ".login"

Say = Callable[[str], None]
Ask = Callable[[str], str]


class LoginError(FedibridgeError):
    """The login could not be completed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class _Login:
    name: str  # the account's name in the config
    server: str
    token_file: Path
    software: ServerSoftware
    http: httpx.Client
    user_agent: str
    say: Say
    ask: Ask | None  # None without a terminal: the second step is a second run

    @property
    def host(self) -> str:
        return urlsplit(self.server).netloc or self.server

    @property
    def pending_file(self) -> Path:
        return self.token_file.with_name(self.token_file.name + PENDING_SUFFIX)


def login(
    settings: Settings,
    account: str,
    *,
    code: str | None,
    done: bool,
    http: httpx.Client,
    say: Say,
    ask: Ask | None,
) -> None:
    """Run the login for ``account``. Raises ``ConfigError`` (fix the config) or
    ``LoginError`` (what went wrong and what to do)."""
    config = _account(settings, account)
    token_file = _token_file(config, account)
    try:
        software = detect(http, config.server, config.server_type)
    except (ServerUnavailable, AccountUnusable) as error:
        raise LoginError(f"{error} (accounts.{account}.server)") from None
    user_agent = str(http.headers.get("User-Agent", APP_NAME))
    context = _Login(account, config.server, token_file, software, http, user_agent, say, ask)
    if software.family == "misskey":
        if code is not None:
            raise LoginError(_wrong_step(context, "--code", "--done"))
        _miauth(context, done)
    else:
        if done:
            raise LoginError(_wrong_step(context, "--done", "--code CODE"))
        _oauth(context, code)


def _account(settings: Settings, account: str) -> AccountConfig:
    if account not in settings.accounts:
        known = ", ".join(settings.accounts)
        raise ConfigError(
            [f"accounts.{account}: no such account in the config (accounts: {known})"]
        )
    return settings.accounts[account]


def _token_file(config: AccountConfig, account: str) -> Path:
    key = f"accounts.{account}"
    if config.access_token_file is None:
        extra = " and remove access_token" if config.access_token is not None else ""
        raise ConfigError(
            [
                f"{key}.access_token_file: not set. fedibridge login writes the token into a "
                f'file of its own: set access_token_file = "secrets/fedibridge_{account}" in '
                f"[{key}]{extra}, then run the command again."
            ]
        )
    return config.access_token_file


def _wrong_step(context: _Login, given: str, wanted: str) -> str:
    return (
        f"{context.host} runs {context.software.describe()}, where the second step is "
        f"`fedibridge login {context.name} {wanted}`, not {given}"
    )


# --- the Mastodon API: OAuth with the out-of-band code --------------------------------------


def scopes_for(software: ServerSoftware) -> str:
    """The least the bridge needs that this software enforces. ``profile`` (enough to ask who
    we are) exists from Mastodon 4.3; elsewhere ``read:accounts`` does that job, except where
    the software asks more (Takahē: the whole ``read``, which also covers ``read:statuses``)."""
    modern = software.name in ("mastodon", "hometown") and software.at_least(4, 3)
    account = software.quirks.account_scope or ("profile" if modern else "read:accounts")
    # A whole scope ("read") grants each of its parts ("read:statuses") everywhere.
    needed = [s for s in BASE_SCOPES if s.split(":")[0] != account]
    return " ".join((*needed, account))


def _oauth(context: _Login, code: str | None) -> None:
    if code is None:
        app = _register_app(context)
        _say_where_to_allow(context, app)
        if context.ask is None:
            context.say(
                f"Then run: fedibridge login {context.name} --code CODE  (CODE is what the "
                "server shows after you allow access)"
            )
            return
        code = context.ask("Paste the code the server shows, then press Enter: ")
    code = code.strip()
    if not code:
        raise LoginError("no code was given: copy the code the server shows after you allow access")
    app = _read_pending(context, "mastodon")
    token = _exchange(context, app, code)
    _finish(context, token, app)


def _register_app(context: _Login) -> dict[str, str]:
    scopes = scopes_for(context.software)
    answer = _post(
        context,
        "/api/v1/apps",
        data={"client_name": APP_NAME, "redirect_uris": OOB, "scopes": scopes},
        doing="register fedibridge as an app",
    )
    if not isinstance(answer.get("client_id"), str) or not isinstance(
        answer.get("client_secret"), str
    ):
        raise LoginError(f"{context.host} did not register the app (no client id in its answer)")
    app = {
        "family": "mastodon",
        "server": context.server,
        "client_id": answer["client_id"],
        "client_secret": answer["client_secret"],
        "scopes": scopes,
    }
    _write_private(context.pending_file, json.dumps(app), context)
    return app


def _say_where_to_allow(context: _Login, app: Mapping[str, str]) -> None:
    query = urlencode(
        {
            "client_id": app["client_id"],
            "redirect_uri": OOB,
            "response_type": "code",
            "scope": app["scopes"],
        }
    )
    context.say(
        f"{context.host} runs {context.software.describe()}. Open this address in a browser, "
        f"log in as the library's account if asked, and allow access:\n\n"
        f"    {context.server}/oauth/authorize?{query}\n\n"
        f"fedibridge asks only for: {app['scopes']}."
    )


def _exchange(context: _Login, app: Mapping[str, str], code: str) -> str:
    answer = _post(
        context,
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": OOB,
            "scope": app["scopes"],
        },
        doing="exchange the code for a token",
        refused=(
            "did not accept the code ({reason}). Check that you copied all of it; a code works "
            f"once and only for a few minutes. Run `fedibridge login {context.name}` again "
            "for a new one."
        ),
    )
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise LoginError(f"{context.host} answered without a token")
    return token


# --- the Misskey family: MiAuth -------------------------------------------------------------


def _miauth(context: _Login, done: bool) -> None:
    if not done:
        session = str(uuid.uuid4())
        pending = {"family": "misskey", "server": context.server, "session": session}
        _write_private(context.pending_file, json.dumps(pending), context)
        _say_miauth_address(context, session)
        if context.ask is None:
            context.say(f"Then run: fedibridge login {context.name} --done")
            return
        context.ask("Press Enter once you have allowed access: ")
    session = _read_pending(context, "misskey")["session"]
    answer = _post(context, f"/api/miauth/{session}/check", json={}, doing="check the login")
    token = answer.get("token")
    if not answer.get("ok") or not isinstance(token, str) or not token:
        _say_miauth_address(context, session)
        raise LoginError(
            "access was not allowed yet. Open the address above, press Allow, then run "
            f"`fedibridge login {context.name} --done`."
        )
    _finish(context, token)


def _say_miauth_address(context: _Login, session: str) -> None:
    query = urlencode({"name": APP_NAME, "permission": ",".join(MISSKEY_PERMISSIONS)})
    context.say(
        f"{context.host} runs {context.software.describe()}. Open this address in a browser, "
        f"log in as the library's account if asked, and press Allow:\n\n"
        f"    {context.server}/miauth/{session}?{query}\n\n"
        f"fedibridge asks only for: {' '.join(MISSKEY_PERMISSIONS)}."
    )


# --- both: check the token, keep it ------------------------------------------------------


def _finish(context: _Login, token: str, app: Mapping[str, str] | None = None) -> None:
    """Check the new token and keep it. A token that fails its check is revoked (where the
    server lets an app do that), so that no live token is left behind unused."""
    publisher = publisher_for(
        context.software, context.server, token, user_agent=context.user_agent, http=context.http
    )
    try:
        handle = publisher.verify()
    except (AccountUnusable, ServerUnavailable) as error:
        revoked = _revoke(context, token, app)
        raise LoginError(
            f"the new token could not be checked ({error}); nothing was written. {revoked} "
            f"Run `fedibridge login {context.name}` again."
        ) from None
    _write_private(context.token_file, token + "\n", context)
    context.pending_file.unlink(missing_ok=True)
    context.say(
        f"ok: fedibridge posts as {handle}. The token is in {context.token_file}, readable only "
        f"by you. `fedibridge check` tests it at any time."
    )


def _revoke(context: _Login, token: str, app: Mapping[str, str] | None) -> str:
    """Revoke an unused token (RFC 7009, ``POST /oauth/revoke``); say what became of it."""
    where = "the server's list of authorised apps (Preferences, Account or Security)"
    if app is None:  # MiAuth has no revocation an app can call
        return f"The token the server made may still be listed in {where}: remove it there."
    try:
        response = context.http.post(
            f"{context.server}/oauth/revoke",
            data={
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "token": token,
            },
        )
    except httpx.HTTPError:
        response = None
    if response is not None and response.status_code == 200:
        return "The token was revoked on the server."
    return f"The token could not be revoked: remove fedibridge from {where}."


def _read_pending(context: _Login, family: str) -> dict[str, str]:
    path = context.pending_file
    try:
        pending = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pending = None
    step = "--code" if family == "mastodon" else "--done"
    if not isinstance(pending, dict) or pending.get("family") != family:
        raise LoginError(
            f"there is no login in progress for accounts.{context.name}: run "
            f"`fedibridge login {context.name}` first (without {step}); it shows the address "
            "to open."
        )
    if pending.get("server") != context.server:
        raise LoginError(
            f"the login in progress was for {pending.get('server')}, but accounts."
            f"{context.name}.server is now {context.server}: run `fedibridge login "
            f"{context.name}` again."
        )
    return {str(k): str(v) for k, v in pending.items()}


def _post(
    context: _Login,
    path: str,
    *,
    doing: str,
    refused: str = "refused to {doing} ({reason})",
    **body: Any,
) -> dict[str, Any]:
    try:
        response = context.http.post(
            context.server + path, headers={"Accept": "application/json"}, **body
        )
    except httpx.HTTPError:
        raise LoginError(
            f"could not reach {context.host} to {doing}: check the network and "
            f"accounts.{context.name}.server, then try again"
        ) from None
    if response.status_code >= 500:
        raise LoginError(
            f"{context.host} had a server error (HTTP {response.status_code}) when asked to "
            f"{doing}; try again later"
        )
    if response.status_code >= 400:
        reason = readable(response.text) or f"HTTP {response.status_code}"
        raise LoginError(f"{context.host} " + refused.format(doing=doing, reason=reason))
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LoginError(
            f"{context.host} gave an answer fedibridge could not read when asked to {doing}"
        )
    return answer


def _write_private(path: Path, text: str, context: _Login) -> None:
    """Write ``text`` readable by its owner only (0600), replacing ``path`` atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary.unlink(missing_ok=True)  # left by an interrupted run; O_EXCL needs it gone
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise LoginError(
            f"cannot write {path} ({error.strerror}). fedibridge must be able to write in that "
            f"folder; accounts.{context.name}.access_token_file says where. In a container, "
            "/run/secrets is read-only: see the README for logging in there."
        ) from None
