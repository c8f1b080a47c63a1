"""Configuration: what staff write, and the messages they get when it is wrong."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from fedibridge.cli import main
from fedibridge.config import load_settings, parse_duration, read_token
from fedibridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
[accounts.main]
server = "https://social.example"
access_token = "SECRET-TOKEN-123"

[feeds.news]
url = "https://library.example/feed"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text))
    return load_settings(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    for line in caught.value.problems:
        assert "SECRET-TOKEN-123" not in line
    return caught.value.problems


def test_minimal_config_gets_sensible_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, MINIMAL)
    assert settings.account_for("news") == "main"
    assert settings.interval_for("news") == timedelta(minutes=15)
    assert settings.feeds["news"].backfill == 0
    assert read_token(settings, "main") == "SECRET-TOKEN-123"
    assert "SECRET-TOKEN-123" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "value"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), (120, 120)],
)
def test_durations(text: object, value: int) -> None:
    assert parse_duration(text) == timedelta(seconds=value)


def test_a_missing_file_is_an_error_not_defaults(tmp_path: Path, capsys) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "status"]) == 2
    err = capsys.readouterr().err
    assert "no configuration file" in err and "config.example.toml" in err


def test_config_path_comes_from_the_environment(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FEDIBRIDGE_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert main(["status"]) == 2
    assert "elsewhere.toml" in capsys.readouterr().err


def test_unknown_keys_are_named_with_their_path(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + 'intervall = "5m"\n')
    assert found == [
        "feeds.news.intervall: unknown key; check its spelling against config.example.toml, "
        "or remove it"
    ]
    found = problems(tmp_path, MINIMAL + '[bridge]\nstat_path = "x"\n')
    assert found[0].startswith("bridge.stat_path: unknown key")


def test_wrong_values_say_how_to_fix_them(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + 'interval = "soon"\nvisibility = "everyone"\nlanguage = "English"\nbackfill = -1\n',
    )
    text = "\n".join(found)
    assert 'feeds.news.interval: write a duration such as "90s"' in text
    assert "feeds.news.visibility:" in text and "'public'" in text
    assert "feeds.news.language: write a two-letter language code" in text
    assert "feeds.news.backfill:" in text


def test_missing_required_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, "[accounts.main]\nserver = 'https://s.example'\n[feeds.news]\n")
    assert "feeds.news.url: this key is required; add it" in found


def test_a_template_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + 'template = "{title} {sumary}"\n')
    assert len(found) == 1
    assert found[0].startswith("feeds.news.template: unknown field {sumary}")
    assert "{summary}" in found[0]


def test_a_feed_must_name_an_existing_account(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + 'account = "mian"\n')
    assert found == ["feeds.news.account: there is no [accounts.mian] section"]


def test_two_token_sources_are_refused_without_printing_the_token(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("[feeds", 'access_token_file = "t"\n[feeds'))
    assert found == ["accounts.main: give either access_token or access_token_file, not both"]


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "url = \n")
    assert re.search(r"not valid TOML .*line \d+", found[0])


def test_environment_overrides_single_keys(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FEDIBRIDGE_FEEDS__NEWS__INTERVAL", "5m")
    monkeypatch.setenv("FEDIBRIDGE_ACCOUNTS__MAIN__ACCESS_TOKEN", "FROM-ENV")
    settings = load(tmp_path, MINIMAL)
    assert settings.interval_for("news") == timedelta(minutes=5)
    assert settings.feeds["news"].url == "https://library.example/feed"  # the rest stays
    assert read_token(settings, "main") == "FROM-ENV"


def with_token_file(tmp_path: Path, place: str):
    return load(tmp_path, MINIMAL.replace('access_token = "SECRET-TOKEN-123"', place))


def test_a_token_file_works_like_a_docker_secret(tmp_path: Path) -> None:
    secret = tmp_path / "fedibridge_main"
    secret.write_text("FILE-TOKEN\n")
    settings = with_token_file(tmp_path, 'access_token_file = "fedibridge_main"')
    assert read_token(settings, "main") == "FILE-TOKEN"


def test_a_missing_token_file_says_where_it_looked(tmp_path: Path) -> None:
    settings = with_token_file(tmp_path, 'access_token_file = "/run/secrets/nothing"')
    with pytest.raises(ConfigError, match=r"accounts.main.access_token_file: cannot read"):
        read_token(settings, "main")


def test_relative_paths_count_from_the_config_folder(tmp_path: Path) -> None:
    settings = load(tmp_path, MINIMAL.replace("https://library.example/feed", "feeds/news.xml"))
    assert settings.feeds["news"].url == str(tmp_path / "feeds" / "news.xml")
    assert settings.bridge.state_path == Path("/data/fedibridge.sqlite3")


def test_every_example_key_is_documented_and_parses() -> None:
    """config.example.toml stays in step with the code: it loads, every key the code knows
    appears in it, and every key in it has a comment right above it."""
    from fedibridge.config import AccountConfig, BridgeConfig, FeedConfig

    settings = load_settings(ROOT / "config.example.toml")
    assert settings.feeds["news"].backfill > 0
    text = (ROOT / "config.example.toml").read_text()
    lines = text.splitlines()
    for model, section in (
        (BridgeConfig, "bridge"),
        (AccountConfig, "accounts"),
        (FeedConfig, "feeds"),
    ):
        for key in model.model_fields:
            if key == "access_token":  # shown in a comment only: tokens belong in files
                assert "access_token =" in text
                continue
            matches = [
                i
                for i, line in enumerate(lines)
                # A list of tables ([[feeds.news.content_warnings]]) is written as its header;
                # a key that is off unless written is shown as a commented-out example.
                if line.startswith((f"{key} =", f"# {key} =")) or line.endswith(f".{key}]]")
            ]
            assert matches, f"{section}.{key} is missing from config.example.toml"
            # Keys may share a comment: walk up past neighbouring keys to it.
            above = matches[0] - 1
            while above > 0 and re.match(r"^\w+ =", lines[above]):
                above -= 1
            assert lines[above].startswith("#"), f"{section}.{key} has no comment above it"
