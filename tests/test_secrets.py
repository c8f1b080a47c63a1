"""Tokens never appear in any output, log, error or file, whatever happens."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from fedibridge.cli import main
from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer
from tests.test_cli import let_backoffs_expire, rss, write_config

WRONG = "wrong-token-8f3a1c9d2e"


def run_everything(config: Path, mastodon: Mastodon, feeds: FeedServer) -> None:
    commands = (["once"], ["once", "--json"], ["once", "--dry-run"], ["check"], ["status"],
                ["preview", "--json"], ["retry", "events"], ["healthcheck"])  # fmt: skip
    for number in range(2, 9):
        feeds.serve("/events.rss", rss(*range(1, number + 1)))
        for fault in (
            {"status": 503},
            {"status": 422},
            {"type": "ratelimit"},
            {"type": "malformed"},
        ):
            mastodon.fault("/api/v1/statuses", count=1, **fault)
            for command in commands:
                main(["--config", str(config), *command])
            let_backoffs_expire(config)


@pytest.mark.parametrize("token", [TOKEN, WRONG])
def test_no_token_in_output_logs_or_state(
    token: str, tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    (tmp_path / "token").write_text(token)
    run_everything(config, mastodon, feed_server)

    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    assert token not in caplog.text
    for file in (tmp_path / "state").iterdir():
        assert token.encode() not in file.read_bytes(), file
    if token == TOKEN:
        assert "posted" in captured.out  # the scenario really posted
    else:
        assert "refused the access token" in captured.out


def test_a_token_written_in_the_config_is_never_echoed_in_errors(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[accounts.main]\nserver = "https://s.example"\naccess_token = "{WRONG}"\n'
        f'access_token_file = "x"\nbogus = "{WRONG}"\n[feeds.news]\nurl = 5\n'
    )
    assert main(["--config", str(config), "check"]) == 2
    captured = capsys.readouterr()
    assert "accounts.main.bogus" in captured.err
    assert WRONG not in captured.out + captured.err


def test_state_files_are_private(tmp_path: Path, feed_server: FeedServer, mastodon: Mastodon):
    config = write_config(tmp_path, feed_server.serve("/events.rss", rss(1)), mastodon.url)
    main(["--config", str(config), "once"])
    files = list((tmp_path / "state").iterdir())
    assert files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
