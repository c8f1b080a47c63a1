"""requirements.lock, what the container image installs, still matches pyproject.toml.

`pip install fedibridge` takes the ranges of pyproject.toml; the image takes the exact,
hashed versions of the lock (scripts/lock writes it). When a dependency is added, removed or
its range changed without running scripts/lock, these tests say so.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = (ROOT / "requirements.lock").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
FIX = "run scripts/lock, then scripts/test, and commit requirements.lock"


def pins() -> dict[str, Version]:
    found = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", LOCK, flags=re.MULTILINE)
    return {canonicalize_name(name): Version(version) for name, version in found}


def pinned_for_fedibridge() -> set[str]:
    """The packages the lock says it pinned because pyproject.toml asks for them."""
    blocks = re.split(r"^(?=\S)", LOCK, flags=re.MULTILINE)
    return {
        canonicalize_name(block.split("==", 1)[0])
        for block in blocks
        if "==" in block and re.search(r"#\s+(via\s+)?fedibridge \(pyproject\.toml\)", block)
    }


def test_the_lock_says_how_it_was_made() -> None:
    assert "#    scripts/lock\n" in LOCK
    assert (ROOT / "scripts" / "lock").stat().st_mode & 0o111


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    locked = pins()
    for requirement in RUNTIME:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements.lock: {FIX}"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock has {requirement.name} {locked[name]}, outside "
            f"{requirement.specifier} of pyproject.toml: {FIX}"
        )


def test_the_lock_pins_no_dependency_pyproject_dropped() -> None:
    wanted = {canonicalize_name(r.name) for r in RUNTIME}
    assert pinned_for_fedibridge() == wanted, FIX


def test_every_pin_is_exact_and_hashed() -> None:
    entries = re.split(r"^(?=\S)", LOCK, flags=re.MULTILINE)
    packages = [e for e in entries if not e.startswith("#") and e.strip()]
    assert len(packages) == len(pins()) > len(RUNTIME)
    for entry in packages:
        assert "==" in entry.split()[0], entry
        assert "--hash=sha256:" in entry, f"no hash for {entry.split()[0]}"


def test_the_image_installs_the_lock_with_hashes_and_fedibridge_without_dependencies() -> None:
    dockerfile = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    [install] = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert "--require-hashes -r requirements.lock" in install
    assert re.search(r"pip install [^&]*--no-deps \.", install)
    assert "COPY requirements.lock" in dockerfile
