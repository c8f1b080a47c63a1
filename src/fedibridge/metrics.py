"""/metrics in the Prometheus text format (version 0.0.4): a pure function of a snapshot.

Item counts, times and health come from the state database, so they survive a restart.
``fedibridge_polls_total`` counts the polls of this process only and starts again at 0 after a
restart (Prometheus' ``rate()`` and ``increase()`` handle such resets).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fedibridge.snapshot import StatusSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[dict[str, str], float]


def render_metrics(snapshot: StatusSnapshot) -> str:
    families = [
        _family(
            "fedibridge_info",
            "gauge",
            "The running fedibridge version.",
            [({"version": snapshot.version}, 1)],
        ),
        _family(
            "fedibridge_healthy",
            "gauge",
            "1 when every feed that is not paused was polled recently (as /healthz), else 0.",
            [({}, float(snapshot.health.healthy))],
        ),
        _family(
            "fedibridge_feed_ok",
            "gauge",
            "1 when the feed's last poll worked and nothing needs staff, else 0.",
            [({"feed": f.name}, float(f.level in ("ok", "paused"))) for f in snapshot.feeds],
        ),
        _family(
            "fedibridge_account_ok",
            "gauge",
            "1 when the account is posting (or has nothing to post), else 0.",
            [({"account": a.name}, float(a.level in ("ok", "new"))) for a in snapshot.accounts],
        ),
        _family(
            "fedibridge_polls_total",
            "counter",
            "Polls by this process, by result; starts at 0 when fedibridge starts.",
            [
                ({"feed": f.name, "result": result}, count)
                for f in snapshot.feeds
                if f.polls is not None
                for result, count in (("ok", f.polls.ok), ("failed", f.polls.failed))
            ],
        ),
        _family(
            "fedibridge_feed_failures_in_a_row",
            "gauge",
            "Failed polls of the feed since its last successful one (from the state file).",
            [({"feed": f.name}, f.failures_in_a_row) for f in snapshot.feeds],
        ),
        _family(
            "fedibridge_posts_total",
            "counter",
            "Items posted, ever (from the state file).",
            [({"feed": f.name}, f.counts.posted) for f in snapshot.feeds],
        ),
        _family(
            "fedibridge_items",
            "gauge",
            "Items not posted, by state: pending (waiting), failed (refused), skipped.",
            [
                ({"feed": f.name, "state": state}, count)
                for f in snapshot.feeds
                for state, count in (
                    ("pending", f.counts.pending),
                    ("failed", f.counts.failed),
                    ("skipped", f.counts.skipped),
                )
            ],
        ),
        _family(
            "fedibridge_last_poll_timestamp_seconds",
            "gauge",
            "When the feed was last polled, successfully or not (Unix time).",
            _times((f.name, f.last_poll) for f in snapshot.feeds),
        ),
        _family(
            "fedibridge_last_success_timestamp_seconds",
            "gauge",
            "When the feed was last read successfully (Unix time).",
            _times((f.name, f.last_success) for f in snapshot.feeds),
        ),
        _family(
            "fedibridge_next_poll_timestamp_seconds",
            "gauge",
            "When the feed is polled next (Unix time); absent when paused or stopped.",
            _times((f.name, f.next_poll) for f in snapshot.feeds),
        ),
    ]
    size = snapshot.state_size
    if size is not None:
        families += [
            _family(
                "fedibridge_state_bytes",
                "gauge",
                "Size of the state database file (its write-ahead log not included).",
                [({}, size.bytes)],
            ),
            _family(
                "fedibridge_state_items",
                "gauge",
                "Items in the state: kept whole, or pruned to their key after keep_days.",
                [({"kept": "whole"}, size.items), ({"kept": "key"}, size.forgotten)],
            ),
        ]
    return "".join(families)


def _times(pairs: Iterable[tuple[str, datetime | None]]) -> list[Sample]:
    return [({"feed": name}, moment.timestamp()) for name, moment in pairs if moment is not None]


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
