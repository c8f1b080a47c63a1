"""The docs tell the truth about the commands."""

from __future__ import annotations

import re
from pathlib import Path

from fedibridge.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_every_command_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `fedibridge (\w+)", readme, flags=re.MULTILINE))
    assert listed == set(COMMANDS)


def test_the_parser_knows_exactly_the_documented_commands() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    assert set(commands.choices) == set(COMMANDS)


def test_readme_options_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    [commands] = [a for a in build_parser()._actions if a.dest == "command"]
    help_text = "\n".join(sub.format_help() for sub in commands.choices.values())
    for option in set(re.findall(r"`fedibridge \w+[^`]*`", readme)):
        for flag in re.findall(r"--[a-z-]+", option):
            assert flag in help_text, f"README shows {flag}, which no command has"


def test_ci_runs_the_test_command_the_readme_shows() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in readme.split("## What it does")[0]
    assert re.search(r"^scripts/test", ci, flags=re.MULTILINE)
    assert "pytest" in (ROOT / "scripts" / "test").read_text()
