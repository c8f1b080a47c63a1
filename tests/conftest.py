"""Fixtures shared by the tests: real servers on loopback, real files in temp dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mastodon_mock.testing import MockServer

from tests.feedserver import FeedServer

FIXTURES = Path(__file__).resolve().parent / "fixtures"

REAL_FEEDS = FIXTURES / "feeds"
"""Real feeds nobody here wrote, copied with their origin and licence (``SOURCES.tsv``)."""


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


# --- a Mastodon API server written by someone else (PyPI: mastodon-mock) ---------------------

TOKEN = "alice_token"  # the mock's seeded account; a fixture, not a credential


class Mastodon:
    """A started mastodon-mock server, with the few looks a test needs."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.url = server.base_url
        self.client = server.client()

    def statuses(self) -> list[dict[str, Any]]:
        """Everything the test account has posted, oldest first."""
        me = self.client.account_verify_credentials()
        found = self.client.account_statuses(me["id"], limit=40)
        every = self.client.fetch_remaining(found)
        return sorted(every, key=lambda s: int(s["id"]))

    def fault(self, path: str, *, count: int | None = None, **effect: Any) -> None:
        """Make the server fail requests to ``path``: ``status=503``, ``type="ratelimit"``,
        ``type="malformed"``... (mastodon-mock's fault injection). ``count`` limits how often."""
        effect.setdefault("type", "status")
        rule = {
            "match": {"path": path, "methods": ["POST"] if path == "/api/v1/statuses" else None},
            "effect": effect,
            "count": count,
        }
        httpx.post(f"{self.url}/api/v1/_mock/faults", json=rule).raise_for_status()


@pytest.fixture
def mastodon() -> Iterator[Mastodon]:
    with MockServer() as server:
        yield Mastodon(server)
