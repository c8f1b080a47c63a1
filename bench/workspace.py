"""Configuration files and working folders for benchmark runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from servers import MOCK_TOKEN, FeedServer, MastodonServer


@dataclass(frozen=True, slots=True)
class FeedOptions:
    interval: str = "15m"
    backfill: int = 0
    flood_guard_items: int = 10
    # "auto": download each item's picture and upload it with its description (it lives on
    # the loopback feed server, hence allow_private_network); "none": text-only posts.
    media: str = "auto"


def write_config(
    folder: Path,
    feeds: FeedServer,
    mastodon: MastodonServer,
    *,
    count: int | None = None,
    options: FeedOptions = FeedOptions(),
    account: str = "main",
    token: bool = True,
) -> Path:
    """A config.toml for ``count`` feeds (default: every feed the server has; beyond that,
    several config feeds share a document), all posting to one account.

    ``account`` names the account section: a new name starts a new rate budget in the state
    (fedibridge allows 270 posts per account in 3 hours). ``token=False`` points the account
    at a token file that does not exist, so items pile up as pending."""
    credential = (
        f"access_token = {_toml(MOCK_TOKEN)}"
        if token
        else f"access_token_file = {_toml(str(folder / 'missing-token'))}"
    )
    lines = [
        "[bridge]",
        f"state_path = {_toml(str(folder / 'state.sqlite3'))}",
        f"interval = {_toml(options.interval)}",
        f"contact = {_toml('https://library.example/contact')}",
        "",
        f"[accounts.{account}]",
        f"server = {_toml(mastodon.url)}",
        credential,
        "",
    ]
    for index in range(feeds.feeds if count is None else count):
        lines += [
            f"[feeds.f{index:05d}]",
            f"url = {_toml(feeds.url(index % feeds.feeds))}",
            'hashtags = ["Library"]',
            'language = "en"',
            f"backfill = {options.backfill}",
            f"flood_guard_items = {options.flood_guard_items}",
            f"media = {_toml(options.media)}",
            "allow_private_network = true",
            "",
        ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
