"""deploy/fedibridge.service: a unit systemd accepts, hardened, that really finds its config,
token and state where it puts them.

`systemd-analyze` (Debian's systemd package) checks the unit as systemd would load it; the
program it starts is the fedibridge installed here, the same program pipx installs.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fedibridge.cli import main
from tests.conftest import TOKEN, Mastodon
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "fedibridge.service"
INSTALLED = "/usr/local/bin/fedibridge"  # where the staff guide's pipx command puts it
RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Library</title>'
    b"<item><title>Story time</title><link>https://library.example/1</link>"
    b"<guid>one</guid></item></channel></rss>"
)


def settings(key: str) -> list[str]:
    lines = UNIT.read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(key + "=")]


def analyze(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool, (
        "systemd-analyze is missing: install Debian's systemd package "
        "(apt-get install systemd); scripts/test does so when run as root on Debian"
    )
    unit = tmp_path / UNIT.name
    here = Path(sys.executable).parent / "fedibridge"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(here)))
    return subprocess.run(
        [tool, *args, str(unit)], capture_output=True, text=True, check=False, cwd=tmp_path
    )


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    result = analyze(tmp_path, "verify")
    # verify exits 0 on unknown keys and bad values too: those are warnings on its output.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_systemd_rates_the_unit_well_hardened(tmp_path: Path) -> None:
    # Exposure 0 (locked down) to 10 (unprotected); fails above 2.0.
    result = analyze(tmp_path, "security", "--offline=yes", "--threshold=20")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_the_unit_holds_the_promised_hardening() -> None:
    assert settings("ExecStart") == [f"{INSTALLED} run"]
    assert settings("DynamicUser") == ["yes"]
    assert settings("StateDirectory") == ["fedibridge"]
    assert settings("ProtectSystem") == ["strict"]
    assert settings("NoNewPrivileges") == ["yes"]
    assert settings("CapabilityBoundingSet") == [""]
    assert settings("RestrictAddressFamilies") == ["AF_INET AF_INET6 AF_UNIX"]
    assert "@system-service" in settings("SystemCallFilter")
    assert settings("Restart") == ["on-failure"]
    assert settings("LoadCredential") == ["fedibridge_main:/etc/fedibridge/fedibridge_main"]


@pytest.fixture
def service_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed_server: FeedServer, mastodon: Mastodon
) -> Path:
    """The unit's environment, with systemd's %S and %d made real folders under tmp_path."""
    state, credentials = tmp_path / "lib", tmp_path / "credentials"
    (state / "fedibridge").mkdir(parents=True)  # StateDirectory=
    credentials.mkdir()
    name, source = settings("LoadCredential")[0].split(":", 1)
    (credentials / name).write_text(TOKEN + "\n")  # systemd copies `source` here
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        [bridge]
        contact = "https://library.example/contact"
        [accounts.main]
        server = "{mastodon.url}"
        access_token_file = "{source}"
        [feeds.news]
        url = "{feed_server.serve("/news.rss", RSS)}"
        """)
    )
    for line in settings("Environment"):
        for pair in shlex.split(line):
            key, value = pair.split("=", 1)
            value = value.replace("%S", str(state)).replace("%d", str(credentials))
            monkeypatch.setenv(key, value)
    assert settings("Environment")[0] == "FEDIBRIDGE_CONFIG=/etc/fedibridge/config.toml"
    monkeypatch.setenv("FEDIBRIDGE_CONFIG", str(config))
    return state / "fedibridge"


def test_the_service_reads_its_token_from_the_credential_and_keeps_state_in_its_folder(
    service_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The config names /etc/fedibridge/fedibridge_main, which the service may not read (and
    # which does not exist here): the token comes from the credentials folder instead.
    assert main(["check"]) == 0, capsys.readouterr()
    assert main(["once"]) == 0
    assert (service_environment / "fedibridge.sqlite3").is_file()


def test_the_staff_guide_sets_it_up_where_the_unit_looks() -> None:
    guide = (ROOT / "docs" / "staff-guide.md").read_text()
    steps = guide.split("### The second way: without containers", 1)[1].split("\n## ", 1)[0]
    bin_dir = Path(INSTALLED).parent
    assert f"PIPX_BIN_DIR={bin_dir} pipx install" in steps
    config = settings("Environment")[0].removeprefix("FEDIBRIDGE_CONFIG=")
    assert f"--config {config} check" in steps
    token = settings("LoadCredential")[0].split(":", 1)[1]
    assert f'access_token_file = "{token}"' in steps and "umask 077;" in steps
    state = f"/var/lib/{settings('StateDirectory')[0]}/"
    assert f'state_path = "{state}' in steps
    assert f"deploy/{UNIT.name} /etc/systemd/system/" in steps
