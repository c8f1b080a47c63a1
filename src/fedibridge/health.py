"""The one health rule, shared by ``fedibridge healthcheck`` and the status page's ``/healthz``.

Healthy means "the daemon is alive and doing its rounds": every feed that is not paused was
polled within ``HEALTHY_INTERVALS`` of its intervals. A feed whose website is down is still
polled, so it does not make the bridge unhealthy; the status page shows it as failing. That
keeps a container orchestrator from restarting a bridge that a restart cannot help.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fedibridge.config import Settings
    from fedibridge.state import FeedRow, State

# A feed counts as healthy while its last poll is at most this many intervals old.
HEALTHY_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    reason: str  # one line: "healthy", or "unhealthy: ..." naming the feeds
    stale: tuple[str, ...] = ()


def assess(settings: Settings, rows: Mapping[str, FeedRow | None], now: datetime) -> Health:
    """Pure: the rule applied to the feeds' last polls as the state knows them."""
    stale = tuple(name for name in settings.feeds if _stale(settings, name, rows.get(name), now))
    if stale:
        return Health(False, f"unhealthy: not polled recently: {', '.join(stale)}", stale)
    return Health(True, "healthy")


def check(settings: Settings, state: State, now: datetime) -> Health:
    """The rule applied to what the state database says now."""
    return assess(settings, {name: state.feed(name) for name in settings.feeds}, now)


def _stale(settings: Settings, name: str, row: FeedRow | None, now: datetime) -> bool:
    if settings.feeds[name].paused:
        return False
    allowed = settings.interval_for(name) * HEALTHY_INTERVALS
    return row is None or row.last_polled_at is None or now - row.last_polled_at > allowed
