"""What staff should do about a waiting or refused item, a failing feed or account. Pure text.

The reasons themselves come from the edges (fetch.py, publish/, deliver.py), which already
say what went wrong, and often what to do; these sentences add the step that follows from the
item's state, so the status page never shows a problem without a next step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fedibridge.state import EntryState

RESTART = "docker compose restart fedibridge"
LOGS = "docker compose logs fedibridge"


def for_item(feed: str, state: EntryState, reason: str | None) -> str:
    if state == "failed":
        return (
            "fedibridge will not try this item again by itself. Correct the item on the website "
            f"or the feed's template (feeds.{feed}.template), then run "
            f"`fedibridge retry {feed}` to send it again."
        )
    if reason:
        return (
            "Nothing to do unless this lasts: nothing is lost, and the item is posted as soon "
            "as the account can post again. The account's line above says what is wrong."
        )
    return "Nothing to do: it is posted at the feed's next poll."


def for_stale_feed(last_poll: datetime | None, interval: timedelta) -> str:
    since = f"since {last_poll:%Y-%m-%d %H:%M} UTC" if last_poll else "yet"
    return (
        f"fedibridge has not read this feed {since}, although it should every "
        f"{describe_interval(interval)}. If fedibridge is running, its log says why "
        f"(`{LOGS}`); restarting it (`{RESTART}`) is safe: nothing is lost."
    )


def for_account(name: str) -> str:
    return (
        f"`fedibridge check` tests the account's token. A new token goes in the file named by "
        f"accounts.{name}.access_token_file; then restart fedibridge (`{RESTART}`)."
    )


def describe_interval(interval: timedelta) -> str:
    """15 minutes, 2 hours, 1 day: how staff write it in the config, in words."""
    seconds = int(interval.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
