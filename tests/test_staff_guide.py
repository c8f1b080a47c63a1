"""docs/staff-guide.md tells the truth: its commands, keys, files and quoted messages exist.

The steps themselves are exercised elsewhere: backup and restore in test_backup.py, the status
page in test_web.py and test_status_browser.py, pausing and the token in test_cli.py and
test_reliability.py, the container files in test_container.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from fedibridge.cli import COMMANDS, build_parser
from fedibridge.config import AccountConfig, BridgeConfig, FeedConfig
from fedibridge.snapshot import Level
from fedibridge.status_page import WORDS

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "staff-guide.md").read_text()
SOURCE = "\n".join(p.read_text() for p in sorted((ROOT / "src" / "fedibridge").rglob("*.py")))
KEYS = (
    set(BridgeConfig.model_fields) | set(AccountConfig.model_fields) | set(FeedConfig.model_fields)
)


def section(title: str) -> str:
    return GUIDE.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def code() -> list[str]:
    """What the guide asks staff to type: `spans` and the lines of ``` blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.DOTALL)
    typed = re.findall(r"`([^`\n]+)`", GUIDE) + [line for b in blocks for line in b.splitlines()]
    return [line for line in typed if line.startswith(("fedibridge ", "docker compose "))]


def test_every_command_in_the_guide_exists_with_its_options() -> None:
    [commands] = [a for a in build_parser()._actions if a.dest == "command"]
    used = [m for line in code() for m in re.findall(r"fedibridge (\w+)([^<>|]*)", line)]
    assert {"check", "backup", "restore", "retry", "preview", "once"} <= {n for n, _ in used}
    for name, rest in used:
        if name == "fedibridge":  # docker compose exec fedibridge fedibridge ...
            continue
        assert name in COMMANDS, f"the guide shows fedibridge {name}, which does not exist"
        help_text = commands.choices[name].format_help()
        for flag in re.findall(r"--[a-z-]+", rest):
            assert flag in help_text, f"fedibridge {name} has no {flag}"


def test_every_config_key_in_the_guide_exists() -> None:
    written = set(re.findall(r"`(\w+) = ", GUIDE)) | set(re.findall(r"\| `(\w+)` for", GUIDE))
    assert written
    assert written <= KEYS, written - KEYS
    for key in re.findall(r"`(?:feeds|accounts)\.\w+\.(\w+)`", GUIDE):
        assert key in KEYS


def test_every_quoted_message_is_one_the_bridge_really_says() -> None:
    quoted = []
    for title in ("5. When something goes wrong",):
        for row in section(title).splitlines():
            if row.startswith("| `"):
                quoted += re.findall(r"`([^`]+)`", row.split("|")[1])
    assert len(quoted) > 20
    for fragment in quoted:
        assert fragment in SOURCE, f"the guide quotes {fragment!r}, which fedibridge never says"


def test_the_states_of_the_status_page_are_all_explained() -> None:
    table = section("4. Read the status page")
    for level in Level.__args__:
        assert f"| {WORDS[level][1]} |" in table


def test_the_container_details_match_the_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["fedibridge"]
    secret = compose["secrets"]["fedibridge_main"]["file"].removeprefix("./")
    assert f"> {secret}" in GUIDE
    assert 'access_token_file = "/run/secrets/fedibridge_main"' in GUIDE
    assert "fedibridge-state" in GUIDE and "fedibridge-state" in compose["volumes"]
    assert "http://127.0.0.1:8080/" in GUIDE and "127.0.0.1:8080:8080" in service["ports"]
    user = re.search(r"^USER (\d+):", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert user is not None and f"chown {user.group(1)}:{user.group(1)} {secret}" in GUIDE
    for command in re.findall(r"docker compose (?:exec|run --rm)(?: -T)? (\w+)", GUIDE):
        assert command in compose["services"]


def test_backup_and_restore_are_the_commands_the_tests_run() -> None:
    tested = (ROOT / "tests" / "test_backup.py").read_text()
    steps = section("6. Back up and restore")
    assert "docker compose exec -T fedibridge fedibridge backup - >" in steps
    assert "docker compose run --rm -T fedibridge restore - <" in steps
    assert "# docker compose exec -T fedibridge fedibridge backup - >" in tested
    assert "# docker compose run --rm -T fedibridge restore - <" in tested


def test_the_privacy_statement_says_what_is_stored_and_sent() -> None:
    statement = section("8. Privacy statement")
    assert "stores nothing about the people who follow" in statement
    assert "names the program (fedibridge) and how to contact the library" in statement
    assert "no analytics" in statement and "sets no cookies" in statement


def test_the_readme_points_to_the_guide() -> None:
    assert "docs/staff-guide.md" in (ROOT / "README.md").read_text()
