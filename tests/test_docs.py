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


# A fresh clone has nothing beside it: every file a test, script or benchmark reads lives in
# the repository. Paths that climb out of it, or name the folder real feeds were copied from,
# would pass here and fail for everyone else.
_OUTSIDE = re.compile(r"\.\./shared|shared/(?:feeds|servers)|parents\[[2-9]\]")


def test_nothing_reads_files_outside_the_repository() -> None:
    offenders = []
    for folder in ("tests", "scripts", "bench", ".ci", "src"):
        for path in sorted((ROOT / folder).rglob("*")):
            built = any(part.endswith(".egg-info") or part == "__pycache__" for part in path.parts)
            if built or not path.is_file() or path.suffix in {".json", ".png", ".xml", ".rss"}:
                continue
            text = path.read_text(errors="replace")
            offenders += [
                f"{path.relative_to(ROOT)}:{number}"
                for number, line in enumerate(text.splitlines(), 1)
                if _OUTSIDE.search(line) and path.name != "test_docs.py"
            ]
    assert offenders == [], f"these read outside the repository: {offenders}"


def test_every_real_feed_has_its_origin_and_licence() -> None:
    feeds = ROOT / "tests" / "fixtures" / "feeds"
    rows = (feeds / "SOURCES.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    listed = {}
    for row in rows[1:]:
        fields = dict(zip(header, row.split("\t"), strict=False))
        listed[fields["file"]] = fields
    files = {p.name for p in feeds.iterdir() if p.name != "SOURCES.tsv"}
    assert files == set(listed)
    assert all(row["repo"] and row["licence"] for row in listed.values())
