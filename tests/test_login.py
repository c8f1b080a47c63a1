"""`fedibridge login`, end to end: against mastodon-mock (which implements /api/v1/apps,
/oauth/authorize with the out-of-band code, and /oauth/token), a fake GoToSocial that checks the
scopes like Mastodon's Doorkeeper, and a fake Misskey with MiAuth."""

from __future__ import annotations

import json
import re
import stat
import textwrap
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fedibridge.cli import main
from fedibridge.config import load_settings
from fedibridge.login import LoginError, login, scopes_for
from fedibridge.models import Post
from fedibridge.publish.detect import DetectingPublisher, software
from tests.conftest import Mastodon
from tests.fake_misskey import FakeMisskey
from tests.fake_servers import GOTOSOCIAL, FakeMastodonAPI, LoopbackServer
from tests.test_publish_mastodon import tiny_png

TOKEN_PATH = "secrets/fedibridge_main"


def write_config(tmp_path: Path, server: str, account_lines: str | None = None) -> Path:
    account_lines = account_lines or f'access_token_file = "{TOKEN_PATH}"'
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bridge]
        state_path = "state.sqlite3"

        [accounts.main]
        server = "{server}"
        {account_lines}

        [feeds.news]
        url = "news.xml"
        """)
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "login", "main", *args])


def address(output: str, path: str) -> str:
    match = re.search(rf"(http://\S+{re.escape(path)}\S*)", output)
    assert match, output
    return match[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- Mastodon (mastodon-mock) --------------------------------------------------------


def allow_on_mastodon_mock(url: str) -> str:
    """What staff do with the printed address: open it, pick the account, read the code."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert httpx.get(url).status_code == 200  # the page where access is allowed
    page = httpx.post(
        url.split("?")[0],
        data={
            "username": "alice",
            "client_id": query["client_id"],
            "redirect_uri": query["redirect_uri"],
            "scope": query["scope"],
        },
    )
    [code] = re.findall(r"Authorization code: (\S+)</p>", page.text)
    return code


def test_two_steps_without_a_terminal(
    tmp_path: Path, mastodon: Mastodon, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, mastodon.url)
    assert run(config) == 0
    first = capsys.readouterr()
    url = address(first.out, "/oauth/authorize")
    pending = tmp_path / (TOKEN_PATH + ".login")
    assert mode(pending) == 0o600
    client_secret = json.loads(pending.read_text())["client_secret"]
    assert "--code CODE" in first.out

    assert run(config, "--code", allow_on_mastodon_mock(url)) == 0
    second = capsys.readouterr()
    token_file = tmp_path / TOKEN_PATH
    token = token_file.read_text().strip()
    assert mode(token_file) == 0o600
    assert not pending.exists()
    assert "posts as @alice@" in second.out
    # Neither the token nor the app's secret is ever shown.
    for secret in (token, client_secret):
        assert secret not in first.out + first.err + second.out + second.err
    # The token carries exactly the scopes asked for, and they are the least needed.
    app = httpx.get(
        f"{mastodon.url}/api/v1/apps/verify_credentials",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    expected = ["write:statuses", "write:media", "read:statuses", "profile"]
    assert app["scopes"] == expected
    assert parse_qs(urlsplit(url).query)["scope"] == [" ".join(expected)]
    # And it works for posting: `fedibridge check` verifies it.
    assert main(["--config", str(config), "check"]) in (0, 1)
    assert "ok: posting as @alice@" in capsys.readouterr().out


def test_a_wrong_code_is_explained_and_writes_nothing(
    tmp_path: Path, mastodon: Mastodon, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, mastodon.url)
    assert run(config) == 0
    capsys.readouterr()
    assert run(config, "--code", "not-the-code") == 1
    err = capsys.readouterr().err
    assert "did not accept the code" in err
    assert "fedibridge login main" in err
    assert not (tmp_path / TOKEN_PATH).exists()
    assert (tmp_path / (TOKEN_PATH + ".login")).exists()  # the right code still works


def test_a_code_without_the_first_step_says_what_to_run(
    tmp_path: Path, mastodon: Mastodon, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, mastodon.url)
    assert run(config, "--code", "abc") == 1
    assert "run `fedibridge login main` first" in capsys.readouterr().err


# --- a server whose OAuth checks the scopes (fake GoToSocial) -----------------------------


def test_the_same_scopes_at_every_step_in_one_interactive_run(tmp_path: Path) -> None:
    lines: list[str] = []
    with FakeMastodonAPI(GOTOSOCIAL) as fake, httpx.Client() as http:
        settings = load_settings(write_config(tmp_path, fake.url))

        def staff_pastes_the_code(prompt: str) -> str:
            [client_id] = fake.apps  # staff open the address, allow access, copy the code
            return fake.approve(client_id)

        login(
            settings, "main", code=None, done=False, http=http, say=lines.append,
            ask=staff_pastes_the_code,
        )  # fmt: skip
        [registered] = fake.seen("POST", "/api/v1/apps")
        [exchanged] = fake.seen("POST", "/oauth/token")
        scopes = "write:statuses write:media read:statuses read:accounts"  # no "profile" <4.3
        assert registered.field("scopes") == scopes
        shown = urlsplit(address("\n".join(lines), "/oauth/authorize")).query
        assert parse_qs(shown)["scope"] == [scopes]
        assert exchanged.field("scope") == scopes
        assert registered.field("redirect_uris") == exchanged.field("redirect_uri")
        token = (tmp_path / TOKEN_PATH).read_text().strip()
        assert not any(token in line for line in lines)
        # These scopes are enough for everything the bridge does, on a server that checks them.
        assert fake.tokens[token] == set(scopes.split())
        bridge = DetectingPublisher(fake.url, token, user_agent="t", http=http)
        bridge.verify()
        media_id = bridge.upload(tiny_png(), "image/png", "A reading corner")
        bridge.post(Post("Story time", 10, 500), "k", [media_id])
        assert len(bridge.recent_posts()) == 1


# --- Misskey (MiAuth) -------------------------------------------------------------------


def test_miauth_in_two_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMisskey() as misskey:
        config = write_config(tmp_path, misskey.url)
        assert run(config) == 0
        first = capsys.readouterr().out
        url = address(first, "/miauth/")
        assert "--done" in first
        httpx.get(url)  # staff open the page...
        [session] = misskey.sessions
        assert misskey.sessions[session]["permission"] == "write:notes,write:drive,read:account"

        assert run(config, "--done") == 1  # ...but have not pressed Allow yet
        assert "not allowed yet" in capsys.readouterr().err

        misskey.allow(session)
        assert run(config, "--done") == 0
        out = capsys.readouterr().out
        token = (tmp_path / TOKEN_PATH).read_text().strip()
        assert misskey.tokens[token] == {"write:notes", "write:drive", "read:account"}
        assert mode(tmp_path / TOKEN_PATH) == 0o600
        assert token not in first + out
        assert "posts as @library@" in out


def test_each_family_names_its_own_second_step(
    tmp_path: Path, mastodon: Mastodon, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeMisskey() as misskey:
        assert run(write_config(tmp_path, misskey.url), "--code", "abc") == 1
        assert "fedibridge login main --done" in capsys.readouterr().err
    assert run(write_config(tmp_path, mastodon.url), "--done") == 1
    assert "fedibridge login main --code CODE" in capsys.readouterr().err


# --- configuration and places ----------------------------------------------------------------


@pytest.mark.parametrize(
    "account_lines", ['access_token = "inline-token-ABC"', "# no token at all"]
)
def test_without_a_token_file_it_says_which_key_to_set(
    tmp_path: Path, account_lines: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackServer() as server:
        config = write_config(tmp_path, server.url, account_lines)
        assert run(config) == 2
        assert server.requests == []  # refused before asking the server anything
    err = capsys.readouterr().err
    assert "accounts.main.access_token_file" in err
    assert "inline-token-ABC" not in err


def test_an_unknown_account_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "https://social.example")
    assert main(["--config", str(config), "login", "branch"]) == 2
    assert "accounts.branch: no such account" in capsys.readouterr().err


def test_an_unreachable_server_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(write_config(tmp_path, "http://127.0.0.1:9")) == 1
    err = capsys.readouterr().err
    assert "could not reach 127.0.0.1:9" in err
    assert "accounts.main.server" in err


def test_a_token_file_that_cannot_be_written_is_explained(
    tmp_path: Path, mastodon: Mastodon
) -> None:
    (tmp_path / "secrets").write_text("a file where a folder should be")
    settings = load_settings(write_config(tmp_path, mastodon.url))
    with httpx.Client() as http, pytest.raises(LoginError, match="cannot write") as caught:
        login(settings, "main", code=None, done=False, http=http, say=_ignore, ask=None)
    assert "access_token_file" in str(caught.value)


_ignore: Callable[[str], None] = lambda line: None  # noqa: E731


def test_each_software_is_asked_for_the_least_scopes_it_enforces() -> None:
    def asked(name: str, version: str) -> list[str]:
        return scopes_for(software(name, version, "auto", "test")).split()

    assert asked("mastodon", "4.3.1") == [
        "write:statuses",
        "write:media",
        "read:statuses",
        "profile",
    ]
    assert asked("mastodon", "4.2.9")[-1] == "read:accounts"
    # Takahē checks verify_credentials against the whole "read" scope, which then also covers
    # reading the account's own posts.
    assert asked("takahe", "0.11.0") == ["write:statuses", "write:media", "read"]
