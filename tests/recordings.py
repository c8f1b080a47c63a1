"""The recorded HTTP exchanges of real servers in tests/fixtures/servers (see SOURCES.md there):
read by the fakes, for the bodies they answer with, and by test_recorded_servers.py, which
replays them against the fakes."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SERVERS = Path(__file__).parent / "fixtures" / "servers"

# Where each recording's folder is, by the name the fakes use.
FOLDERS = {
    "takahe": "takahe",
    "snac": "snac",
    "sharkey": "sharkey/misskey-api",
    "sharkey-mastodon": "sharkey/mastodon-layer",
}


@dataclass(frozen=True)
class Exchange:
    server: str  # a key of FOLDERS
    group: str  # "03-posting"
    label: str
    request: dict[str, Any]
    response: dict[str, Any] | None  # None: the connection failed (``transport_error``)
    note: str
    time_utc: str  # when it was sent, ISO 8601
    repeat: int = 1  # the n-th exchange of that label in its group

    @property
    def id(self) -> str:
        again = f" #{self.repeat}" if self.repeat > 1 else ""
        return f"{self.server}/{self.group}/{self.label}{again}"

    @property
    def method(self) -> str:
        return str(self.request["method"])

    @property
    def path(self) -> str:
        return str(self.request["path"])

    def header(self, name: str) -> str | None:
        """A response header (the first of that name), None when absent."""
        assert self.response is not None
        for key, value in self.response["headers"]:
            if key.lower() == name.lower():
                return str(value)
        return None

    def body_json(self) -> Any:
        """The response body as JSON (the whole body, from full_bodies/ when it was cut)."""
        assert self.response is not None
        truncated = self.response.get("body_truncated")
        if truncated:
            name = truncated.rsplit("full_bodies/", 1)[1].strip()
            full = SERVERS / FOLDERS[self.server] / "full_bodies" / name
            return json.loads(full.read_text(encoding="utf-8"))
        return json.loads(self.response["body"])


@cache
def _exchanges(server: str) -> tuple[Exchange, ...]:
    found = []
    for path in sorted((SERVERS / FOLDERS[server]).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        labels: dict[str, int] = {}
        for raw in data["exchanges"]:
            labels[raw["label"]] = labels.get(raw["label"], 0) + 1
            found.append(
                Exchange(
                    server,
                    str(data["group"]),
                    str(raw["label"]),
                    raw["request"],
                    raw.get("response"),
                    str(raw.get("note", "")),
                    str(raw.get("time_utc", "")),
                    labels[raw["label"]],
                )
            )
    return tuple(found)


def exchanges(server: str) -> tuple[Exchange, ...]:
    return _exchanges(server)


def exchange(server: str, group: str, label: str) -> Exchange:
    for found in _exchanges(server):
        if found.group == group and found.label == label:
            return found
    raise KeyError(f"{server}/{group}/{label}")


@cache
def _body(server: str, group: str, label: str) -> str:
    return json.dumps(exchange(server, group, label).body_json())


def recorded(server: str, group: str, label: str) -> Any:
    """A fresh copy of the JSON body that server answered in that exchange."""
    return copy.deepcopy(json.loads(_body(server, group, label)))


def recorded_text(server: str, group: str, label: str) -> str:
    """The body, verbatim, of a non-JSON answer (an error page)."""
    response = exchange(server, group, label).response
    assert response is not None
    return str(response["body"] or "")
