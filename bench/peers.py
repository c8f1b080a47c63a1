"""Peers run beside fedibridge in the same benchmark: feed2toot 0.17 (PyPI), in its own venv.

feed2toot is the best-known small RSS-to-Mastodon bridge. It reads every feed in full at every
run (no conditional requests), keeps the ids it has posted in a text file, and makes one
Mastodon.py client per post. It runs as users run it: ``feed2toot -c feed2toot.ini``, a child
process measured by ``os.wait4`` like the bridge.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from measure import ChildRun, run_child
from servers import MOCK_TOKEN, FeedServer, MastodonServer

FEED2TOOT = "feed2toot==0.17"
PEERS = Path("/tmp/fedibridge-bench/peers")


def feed2toot_bin() -> Path:
    """feed2toot's own virtualenv (made with pip on first use), apart from fedibridge's."""
    venv = PEERS / "feed2toot"
    script = venv / "bin" / "feed2toot"
    if not script.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", FEED2TOOT],
            check=True,
            timeout=900,
            stdout=subprocess.DEVNULL,
        )
    return script


def write_feed2toot_config(
    folder: Path, feeds: FeedServer, mastodon: MastodonServer, count: int
) -> Path:
    """feed2toot's ini, its feed list and credential files, for the same feeds and account."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feeds.txt").write_text("".join(f"{feeds.url(i)}\n" for i in range(count)))
    (folder / "client.secret").write_text("bench-client-id\nbench-client-secret\n")
    (folder / "user.secret").write_text(f"{MOCK_TOKEN}\n")
    ini = folder / "feed2toot.ini"
    ini.write_text(
        "[mastodon]\n"
        f"instance_url = {mastodon.url}\n"
        f"user_credentials = {folder / 'user.secret'}\n"
        f"client_credentials = {folder / 'client.secret'}\n"
        "toot_visibility = public\n"
        "\n[cache]\n"
        f"cachefile = {folder / 'feed2toot.cache'}\n"
        "cache_limit = 100000\n"
        "\n[lock]\n"
        f"lock_file = {folder / 'feed2toot.lock'}\n"
        "lock_timeout = 3600\n"
        "\n[rss]\n"
        f"uri_list = {folder / 'feeds.txt'}\n"
        "toot = {title} {link} #Library\n"
        "\n[feedparser]\n"
        "accept_bozo_exceptions = true\n"
    )
    return ini


def feed2toot(ini: Path, *extra: str, env: dict[str, str] | None = None) -> ChildRun:
    run = run_child(
        [str(feed2toot_bin()), "-c", str(ini), "--lockfile", str(ini.parent / "f2t.lock"), *extra],
        cwd=ini.parent,
        env=env,
    )
    if run.exit_code != 0:
        raise RuntimeError(f"feed2toot exited {run.exit_code}:\n{run.stderr[-2000:]}")
    return run
