"""The container files: linted, and holding the promises the README and staff guide make.

The image itself is built and run for real by scripts/container-test (podman), which CI runs
(.ci/run); it takes minutes and root, so it is not part of the tests. These tests keep the
files, and that script's way of running the image, the same as docker-compose.yml.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICE = COMPOSE["services"]["fedibridge"]


def instructions(name: str) -> list[str]:
    """Every NAME instruction of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_builds_and_runs_the_image_for_real() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^scripts/container-test$", ci, flags=re.MULTILINE)
    script = (ROOT / "scripts" / "container-test").read_text()
    assert "build --quiet --format docker" in script  # the OCI format drops HEALTHCHECK
    assert '--build-arg "BASE_IMAGE=$base"' in script
    # Users keep the official image: the base is an argument whose default is python:3.11-slim.
    assert DOCKERFILE.index("ARG BASE_IMAGE=python:3.11-slim") < DOCKERFILE.index("FROM ")
    assert [f.split()[0] for f in instructions("FROM")] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


def test_ci_runs_the_image_the_way_compose_does() -> None:
    script = (ROOT / "scripts" / "container-test").read_text()
    flags = " ".join(script.split("compose_like=(", 1)[1].split(")", 1)[0].split())
    assert SERVICE["init"] is True and "--init" in flags
    assert SERVICE["read_only"] is True and "--read-only" in flags
    assert SERVICE["tmpfs"] == ["/tmp"] and "--tmpfs /tmp" in flags
    assert "/config/config.toml:ro" in flags and "/run/secrets/fedibridge_main:ro" in flags
    assert "--volume fedibridge-state:/data" in flags
    [port] = SERVICE["ports"]
    host, _, inside = port.rpartition(":")
    listen = SERVICE["environment"]["FEDIBRIDGE_BRIDGE__STATUS_LISTEN"]
    assert f'--publish "{host.rsplit(":", 1)[0]}:$port:{inside}"' in script
    assert f"--env FEDIBRIDGE_BRIDGE__STATUS_LISTEN={listen}" in script


def test_the_image_runs_unprivileged_with_a_read_only_root() -> None:
    [user] = instructions("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid == uid
    env = " ".join(instructions("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "FEDIBRIDGE_BRIDGE__STATE_PATH=/data/" in env
    assert instructions("VOLUME") == ['["/data"]']
    assert SERVICE["read_only"] is True
    assert SERVICE["tmpfs"] == ["/tmp"]


def test_signals_reach_fedibridge_and_health_is_checked_without_extra_tools() -> None:
    [entrypoint] = instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["fedibridge"]  # exec form
    [healthcheck] = instructions("HEALTHCHECK")
    assert healthcheck.split("CMD ", 1)[1] == '["fedibridge", "healthcheck"]'
    assert SERVICE["init"] is True


def test_labels_name_the_version_of_the_package() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"ARG VERSION={version}" in DOCKERFILE
    labels = " ".join(instructions("LABEL"))
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert "org.opencontainers.image.source=" in labels


def test_compose_keeps_secrets_config_and_state_where_the_guide_says() -> None:
    assert "./config.toml:/config/config.toml:ro" in SERVICE["volumes"]
    assert "fedibridge-state:/data" in SERVICE["volumes"]
    assert "fedibridge-state" in COMPOSE["volumes"]
    assert SERVICE["secrets"] == ["fedibridge_main"]
    assert COMPOSE["secrets"]["fedibridge_main"] == {"file": "./secrets/fedibridge_main"}
    assert SERVICE["restart"] == "unless-stopped"


def test_the_status_page_is_published_on_this_computer_only() -> None:
    assert SERVICE["ports"] == ["127.0.0.1:8080:8080"]
    assert SERVICE["environment"]["FEDIBRIDGE_BRIDGE__STATUS_LISTEN"] == "0.0.0.0:8080"
    assert instructions("EXPOSE") == ["8080"]
