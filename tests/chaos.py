"""Crash and fault trials: the promise "every item exactly once", checked by brute force.

Used by tests/test_crashes.py (a few trials, every test run) and bench/faults.py (hundreds of
trials, by hand, writing docs/reliability.md). Each trial runs real `fedibridge once`
processes against a loopback feed server and mastodon-mock, optionally behind a proxy that
ignores Idempotency-Key and injects faults, kills them with SIGKILL at random moments, then
lets the bridge finish and counts what arrived on the account.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from mastodon_mock.testing import MockServer

from tests.feedserver import FeedServer
from tests.proxy import QuirkyProxy
from tests.test_cli import let_backoffs_expire, rss, write_config

FINISHING_RUNS = 40  # a bound: a bridge that needs more to deliver everything has failed


@dataclass(frozen=True)
class TrialResult:
    expected: int
    posted: int  # distinct items on the account
    duplicated: int  # extra posts of an item already there
    lost: int  # items never posted
    kills: int
    runs: int
    kills_while_posting: int = 0  # kills after this run had posted something, before the end


class Chaos:
    """Servers shared by many trials; each trial gets a fresh account and state."""

    def __init__(self, *, ignore_idempotency_key: bool) -> None:
        self._mastodon = MockServer()
        self._feeds = FeedServer()
        self._ignore = ignore_idempotency_key
        self._root = tempfile.TemporaryDirectory(prefix="fedibridge-chaos-")
        self._trials = 0

    def __enter__(self) -> Chaos:
        self._mastodon.start()
        self._feeds.__enter__()
        self.proxy = QuirkyProxy(
            self._mastodon.base_url, ignore_idempotency_key=self._ignore
        ).__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.proxy.__exit__(exc_type, exc, tb)
        self._feeds.__exit__(exc_type, exc, tb)
        self._mastodon.stop()
        self._root.cleanup()

    def kill_trial(self, rng: random.Random, *, items: int = 5, kills: int = 3) -> TrialResult:
        """Post ``items`` items (a backfill on first contact), SIGKILL-ing the bridge
        ``kills`` times at random moments, then let it finish."""
        config = self._fresh_trial(items, backfill=items)
        self.proxy.unavailable_rate = self.proxy.lost_answer_rate = 0.0
        # Slow posts, so that kills land before, during and after requests alike.
        self._slow_posts(delay_ms=rng.randint(20, 120))
        while_posting = 0
        for _ in range(kills):
            before = self._statuses_count()
            if rng.random() < 0.5:
                _run_bridge(config, kill_after=rng.uniform(0.2, 1.6))
            else:
                # Aimed: just after the k-th POST reached the server, before, during or after
                # the server's answer and the state write that follows it.
                target = self.proxy.posts_seen + rng.randint(1, items)
                _run_bridge(
                    config,
                    kill_when=lambda target=target: self.proxy.posts_seen >= target,
                    then_wait=rng.uniform(0, 0.15),
                )
            while_posting += before < self._statuses_count() < items
        runs = kills + self._finish(config)
        result = self._count(items, kills=kills, runs=runs)
        return dataclasses.replace(result, kills_while_posting=while_posting)

    def fault_trial(self, rng: random.Random, *, rate: float, items: int = 20) -> TrialResult:
        """Post ``items`` items while a share ``rate`` of posts fail: half refused with 503
        before the server sees them, half acted on with the answer lost."""
        config = self._fresh_trial(items, backfill=items)
        self.proxy.random = random.Random(rng.random())
        self.proxy.unavailable_rate = rate / 2
        self.proxy.lost_answer_rate = rate / 2
        runs = self._finish(config)
        self.proxy.unavailable_rate = self.proxy.lost_answer_rate = 0.0
        return self._count(items, kills=0, runs=runs)

    def _fresh_trial(self, items: int, *, backfill: int) -> Path:
        self._trials += 1
        httpx.post(f"{self._mastodon.base_url}/api/v1/_mock/reset").raise_for_status()
        folder = Path(self._root.name) / f"trial-{self._trials}"
        folder.mkdir()
        path = f"/trial-{self._trials}.rss"
        url = self._feeds.serve(path, rss(*range(1, items + 1)))
        return write_config(folder, url, self.proxy.url, backfill=min(backfill, 40))

    def _slow_posts(self, *, delay_ms: int) -> None:
        rule = {
            "match": {"path": "/api/v1/statuses", "methods": ["POST"]},
            "effect": {"type": "latency", "delay_ms": delay_ms},
        }
        httpx.post(f"{self._mastodon.base_url}/api/v1/_mock/faults", json=rule).raise_for_status()

    def _finish(self, config: Path) -> int:
        """Run the bridge until a run reports nothing left to do; return how many runs."""
        for run in range(1, FINISHING_RUNS + 1):
            if (config.parent / "state").exists():
                let_backoffs_expire(config)
            if _run_bridge(config) == 0:
                return run
        return FINISHING_RUNS

    def _statuses(self) -> list[dict[str, str]]:
        client = self._mastodon.client()
        me = client.account_verify_credentials()
        found: list[dict[str, str]] = client.fetch_remaining(
            client.account_statuses(me["id"], limit=40)
        )
        return found

    def _statuses_count(self) -> int:
        return len(self._statuses())

    def _count(self, items: int, *, kills: int, runs: int) -> TrialResult:
        statuses = self._statuses()
        numbers = Counter(
            int(match.group(1))
            for status in statuses
            if (match := re.search(r"Event number (\d+)<", status["content"]))
        )
        return TrialResult(
            expected=items,
            posted=len(numbers),
            duplicated=sum(count - 1 for count in numbers.values()),
            lost=items - len(numbers),
            kills=kills,
            runs=runs,
        )


def _run_bridge(
    config: Path,
    *,
    kill_after: float | None = None,
    kill_when: Callable[[], bool] | None = None,
    then_wait: float = 0.0,
) -> int | None:
    """`fedibridge once`; SIGKILL it after ``kill_after`` seconds, or ``then_wait`` seconds
    after ``kill_when`` turns true, if it is still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fedibridge", "--config", str(config), "once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if kill_after is None and kill_when is None:
        return process.wait(timeout=120)
    deadline = time.monotonic() + (kill_after if kill_after is not None else 60)
    while time.monotonic() < deadline and process.poll() is None:
        if kill_when is not None and kill_when():
            time.sleep(then_wait)
            break
        time.sleep(0.005)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return None
