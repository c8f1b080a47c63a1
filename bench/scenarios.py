"""The benchmark scenarios. Each returns a ``Result``: figures (with targets where the issue
sets one) and detail tables for docs/performance.md.

The bridge is driven as users drive it: ``fedibridge once`` (or ``run``) with a generated
config.toml, in a child process whose CPU and peak memory come from ``os.wait4``. Per-step
CPU comes from ``bench/steps.py``, which runs the same ``Bridge.run_all`` in-process with the
steps wrapped (a separate run, so the wrapping never touches the headline figures).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from measure import (
    ChildRun,
    Spread,
    bridge_env,
    bridge_python,
    fedibridge_command,
    load_average,
    read_memory,
    run_child,
    spread,
)
from peers import feed2toot, write_feed2toot_config
from servers import Certificates, FeedServer, MastodonServer
from workspace import FeedOptions, write_config

BENCH = Path(__file__).resolve().parent
MB = 1024.0  # kB per MB (RSS figures come in kB)


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    values: tuple[float, ...]  # one per repeat
    unit: str
    target: float | None = None  # an upper bound, in the same unit
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.median < self.target


@dataclass
class Result:
    scenario: str
    title: str
    how: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, list[list[str]]] = field(default_factory=dict)  # title → rows
    notes: list[str] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def add(
        self,
        label: str,
        values: Sequence[float] | Spread | float,
        unit: str,
        target: float | None = None,
        note: str = "",
    ) -> None:
        if isinstance(values, Spread):
            numbers = values.values
        elif isinstance(values, int | float):
            numbers = (float(values),)
        else:
            numbers = tuple(values)
        self.figures.append(Figure(label, tuple(numbers), unit, target, note))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        figures = [
            Figure(f["label"], tuple(f["values"]), f["unit"], f.get("target"), f.get("note", ""))
            for f in data["figures"]
        ]
        return cls(
            scenario=data["scenario"],
            title=data["title"],
            how=data["how"],
            figures=figures,
            details=data.get("details", {}),
            notes=data.get("notes", []),
            started=data.get("started", ""),
            seconds=data.get("seconds", 0.0),
            load_before=tuple(data.get("load_before", (0, 0, 0))),
            load_after=tuple(data.get("load_after", (0, 0, 0))),
        )


@dataclass
class Context:
    root: Path  # a scratch folder for this run of the harness
    quick: bool
    repeats: int
    _certificates: Certificates | None = None

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def certificates(self) -> Certificates:
        if self._certificates is None:
            self._certificates = Certificates(self.root / "tls")
        return self._certificates


# --- running the bridge -----------------------------------------------------------------------


def once(
    config: Path, *, env: dict[str, str] | None = None, accept: Sequence[int] = (0,)
) -> ChildRun:
    run = run_child(
        [*fedibridge_command(), "--config", str(config), "once"], cwd=config.parent, env=env
    )
    if run.exit_code not in accept:
        raise RuntimeError(
            f"fedibridge once exited {run.exit_code}:\n{run.stdout[-1500:]}\n{run.stderr[-1500:]}"
        )
    return run


def steps(
    config: Path,
    *,
    profile: Path | None = None,
    clock: str = "cpu",
    what_if: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One cycle through bench/steps.py: per-step CPU, in-process."""
    argv = [bridge_python(), str(BENCH / "steps.py"), str(config)]
    if profile is not None:
        argv += ["--profile", str(profile), "--profile-clock", clock]
    argv += [f"--what-if={name}" for name in what_if]
    run = run_child(argv, cwd=config.parent, env=env or bridge_env())
    if run.exit_code != 0:
        raise RuntimeError(f"bench/steps.py failed:\n{run.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(run.stdout)
    data["process_cpu"] = run.cpu
    return data


def syscalls(config: Path, env: dict[str, str] | None = None) -> dict[str, int]:
    """System calls of one `once` cycle that cost the disk or the network (strace -c); empty
    when strace is not installed. A separate, untimed run."""
    if shutil.which("strace") is None:
        return {}
    summary = config.parent / "strace.txt"
    argv = [
        "strace", "-f", "-c", "--seccomp-bpf", "-o", str(summary),
        "-e", "trace=fsync,fdatasync,connect,unlink,openat",
        *fedibridge_command(), "--config", str(config), "once",
    ]  # fmt: skip
    run_child(argv, cwd=config.parent, env=env)
    counts = {}
    for line in summary.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1].isidentifier() and fields[3].isdigit():
            counts[fields[-1]] = int(fields[3])
    return counts


def step_rows(data: dict[str, Any], per: int, per_label: str) -> list[list[str]]:
    """Detail rows of a steps.py run: step, calls, CPU total, CPU per ``per_label``."""
    rows = [["step", "calls", "CPU total (ms)", f"CPU per {per_label} (ms)", "wall total (ms)"]]
    ordered = sorted(data["steps"].items(), key=lambda item: -item[1]["cpu"])
    for name, step in ordered:
        rows.append(
            [
                name,
                str(step["calls"]),
                f"{step['cpu'] * 1000:.0f}",
                f"{step['cpu'] * 1000 / per:.3f}",
                f"{step['wall'] * 1000:.0f}",
            ]
        )
    rows.append(
        [
            "**whole cycle** (after imports)",
            "",
            f"{data['cycle_cpu'] * 1000:.0f}",
            f"{data['cycle_cpu'] * 1000 / per:.3f}",
            f"{data['cycle_wall'] * 1000:.0f}",
        ]
    )
    rows.append(
        ["imports + config (once per process)", "", f"{data['import_cpu'] * 1000:.0f}", "", ""]
    )
    return rows


@dataclass
class Cycle:
    run: ChildRun
    feed_requests: dict[str, int]
    connections: int
    feed_server_cpu: float
    mastodon_requests: dict[str, int]
    mastodon_cpu: float
    posted: int


def measured_once(
    config: Path, feeds: FeedServer, mastodon: MastodonServer, **kwargs: Any
) -> Cycle:
    """``fedibridge once``, with the requests it caused on both servers and their own CPU."""
    feeds.reset()
    before = feeds.stats()["cpu_seconds"]
    mastodon_before = mastodon.cpu_seconds()
    count_before = mastodon.statuses_count()
    mastodon.mark()
    run = once(config, **kwargs)
    requests = dict(mastodon.requests())  # before asking the mock anything else
    mastodon_cpu = mastodon.cpu_seconds() - mastodon_before
    stats = feeds.stats()
    return Cycle(
        run=run,
        feed_requests=stats["by_status"],
        connections=stats["connections"],
        feed_server_cpu=stats["cpu_seconds"] - before,
        mastodon_requests=requests,
        mastodon_cpu=mastodon_cpu,
        posted=mastodon.statuses_count() - count_before,
    )


def _feed_requests(cycle: Cycle) -> int:
    """Requests for feeds (the counters also hold "picture 200")."""
    return sum(n for kind, n in cycle.feed_requests.items() if kind.isdigit())


TEXT_ONLY = FeedOptions(media="none")


def _requests(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} x {kind}" for kind, n in sorted(counts.items())) or "none"


def _cycle_rows(cycles: Sequence[Cycle]) -> list[list[str]]:
    rows = [
        [
            "repeat",
            "wall (s)",
            "CPU user+sys (s)",
            "peak RSS (MB)",
            "feed requests (by status)",
            "TCP connections",
            "Mastodon requests",
            "posted",
            "feed server CPU (s)",
        ]
    ]
    for number, cycle in enumerate(cycles, start=1):
        rows.append(
            [
                str(number),
                f"{cycle.run.wall:.2f}",
                f"{cycle.run.cpu:.2f}",
                f"{cycle.run.max_rss_kb / MB:.0f}",
                _requests(cycle.feed_requests),
                str(cycle.connections),
                _requests(cycle.mastodon_requests),
                str(cycle.posted),
                f"{cycle.feed_server_cpu:.2f}",
            ]
        )
    return rows


# --- scenarios --------------------------------------------------------------------------------


def steady(count: int, *, tls: bool = False) -> Callable[[Context], Result]:
    name = f"steady-{count}" + ("-tls" if tls else "")

    def scenario(context: Context) -> Result:
        where = (
            "each feed on its own HTTPS port (a connection and a TLS handshake per feed, as "
            "with feeds on separate websites)"
            if tls
            else "all feeds on one plain-HTTP loopback host"
        )
        result = Result(
            name,
            f"{count:,} unchanged feeds (every feed answers 304)" + (", HTTPS" if tls else ""),
            f"`fedibridge once` in a child process, {where}; 20 items per feed. The first "
            "cycle (first contact: everything recorded, nothing posted) is not counted; then "
            f"{context.repeats} cycles in which nothing changed.",
        )
        folder = context.folder(name)
        certificates = context.certificates if tls else None
        env = (
            bridge_env(extra={"SSL_CERT_FILE": str(certificates.bundle)}) if certificates else None
        )
        with (
            FeedServer(count, port_per_feed=tls, tls=certificates) as feeds,
            MastodonServer(folder) as mastodon,
        ):
            config = write_config(folder, feeds, mastodon)
            first = measured_once(config, feeds, mastodon, env=env)
            cycles = [
                measured_once(config, feeds, mastodon, env=env) for _ in range(context.repeats)
            ]
            breakdown = steps(config, env=env) if count >= 100 else None
            calls = syscalls(config, env)
            state_bytes = _state_size(folder)
        cpu = spread([c.run.cpu for c in cycles])
        wall = spread([c.run.wall for c in cycles])
        big = count >= 1000
        result.add("wall time per cycle", wall, "s", 10.0 if big else None)
        result.add("CPU per cycle (user+sys)", cpu, "s")
        result.add(
            "CPU per feed (whole process ÷ feeds)",
            [c * 1000 / count for c in cpu.values],
            "ms",
            3.0 if big else None,
        )
        result.add("peak RSS of the bridge", [c.run.max_rss_kb / MB for c in cycles], "MB")
        result.add("feed requests per cycle", [_feed_requests(c) for c in cycles], "requests")
        result.add(
            "Mastodon requests per cycle",
            [sum(c.mastodon_requests.values()) for c in cycles],
            "requests",
        )
        result.add(
            "feed server's own CPU per cycle",
            [c.feed_server_cpu for c in cycles],
            "s",
            note="not counted in the bridge's CPU",
        )
        result.add(
            f"first contact with {count:,} feeds of 20 items (CPU)",
            first.run.cpu,
            "s",
            note=f"wall {first.run.wall:.1f} s; {count * 20:,} items recorded, none posted",
        )
        result.add(
            "state database size",
            state_bytes / 1024 / 1024,
            "MB",
            note=f"{state_bytes / (count * 20):,.0f} bytes per recorded item",
        )
        if calls:
            result.add(
                "fsync + fdatasync per cycle (strace)",
                calls.get("fsync", 0) + calls.get("fdatasync", 0),
                "calls",
                note="each waits for the disk",
            )
            result.add("files opened per cycle (strace)", calls.get("openat", 0), "calls")
        result.details["cycles"] = _cycle_rows(cycles)
        if breakdown is not None:
            result.details["where one steady cycle's CPU goes (bench/steps.py, in-process)"] = (
                step_rows(breakdown, count, "feed")
            )
        return result

    scenario.__name__ = name
    return scenario


def new_items(count: int) -> Callable[[Context], Result]:
    name = f"new-10pct-{count}"

    def scenario(context: Context) -> Result:
        changed = math.ceil(count / 10)
        result = Result(
            name,
            f"{count:,} feeds, 10 % of them with one new item",
            f"`fedibridge once`; before each measured cycle every tenth feed publishes one item "
            f"({changed} new items, each posted to mastodon-mock). Each measured cycle is "
            "followed by a steady cycle on the same state; the difference is the cost of the new "
            "items (full download, parse, store, render, post).",
        )
        folder = context.folder(name)
        with FeedServer(count) as feeds, MastodonServer(folder) as mastodon:
            config = write_config(folder, feeds, mastodon)
            once(config)
            new_cycles, steady_cycles = [], []
            for number in range(context.repeats):
                # A fresh account name each time: the bridge's own budget of 270 posts per
                # account in 3 hours would otherwise stop the later repeats.
                config = write_config(
                    folder, feeds, mastodon, account=f"main{number}", options=TEXT_ONLY
                )
                feeds.add(step=10)
                new_cycles.append(measured_once(config, feeds, mastodon))
                steady_cycles.append(measured_once(config, feeds, mastodon))
            config = write_config(folder, feeds, mastodon, account="inprocess", options=TEXT_ONLY)
            feeds.add(step=10)
            breakdown = steps(config)
        extra = [
            (n.run.cpu - s.run.cpu) * 1000 / max(1, n.posted)
            for n, s in zip(new_cycles, steady_cycles, strict=True)
        ]
        result.add("wall time per cycle", [c.run.wall for c in new_cycles], "s")
        result.add("CPU per cycle (user+sys)", [c.run.cpu for c in new_cycles], "s")
        result.add("items posted per cycle", [c.posted for c in new_cycles], "posts")
        result.add(
            "extra CPU per new item (fetch + parse a 20-item feed + store + render + post)",
            extra,
            "ms",
        )
        post_cpu = _post_cpu(breakdown)
        if post_cpu is not None:
            result.add(
                "bridge CPU per posted item (render + post + bookkeeping; in-process)",
                post_cpu,
                "ms",
                50.0,
            )
        result.add(
            "feed requests per cycle",
            [_feed_requests(c) for c in new_cycles],
            "requests",
        )
        result.add(
            "Mastodon requests per cycle",
            [sum(c.mastodon_requests.values()) for c in new_cycles],
            "requests",
        )
        result.details["cycles with new items"] = _cycle_rows(new_cycles)
        result.details["where the CPU of a cycle with new items goes (in-process)"] = step_rows(
            breakdown, max(1, breakdown["posted"]), "posted item"
        )
        return result

    scenario.__name__ = name
    return scenario


def pictures(context: Context) -> Result:
    feeds_count = 20
    result = Result(
        "post-pictures-20",
        "20 new items, each posted with its picture",
        f"{feeds_count} feeds each publish one item with a 120 kB JPEG (served by the feed "
        "server); `fedibridge once` downloads each picture, uploads it with its description "
        "(POST /api/v2/media) and posts. Each measured cycle is followed by a steady cycle; "
        "the difference, over the posts, is the cost of a post with a picture (fetching and "
        "parsing the changed feed included). A new account name per repeat: fedibridge allows "
        "27 uploads per account in 30 minutes (90 % of Mastodon's limit).",
    )
    folder = context.folder("post-pictures-20")
    runs: list[Cycle] = []
    steadies: list[Cycle] = []
    breakdown: dict[str, Any] = {}
    with FeedServer(feeds_count) as feeds, MastodonServer(folder) as mastodon:
        once(write_config(folder, feeds, mastodon))
        for number in range(context.repeats + 1):
            config = write_config(folder, feeds, mastodon, account=f"main{number}")
            feeds.add(step=1)
            if number == context.repeats:
                breakdown = steps(config)
                break
            runs.append(measured_once(config, feeds, mastodon))
            steadies.append(measured_once(config, feeds, mastodon))
    extra = [
        (r.run.cpu - s.run.cpu) * 1000 / max(1, r.posted)
        for r, s in zip(runs, steadies, strict=True)
    ]
    result.add("wall time of the cycle", [c.run.wall for c in runs], "s")
    result.add("items posted in the cycle", [c.posted for c in runs], "posts")
    result.add(
        "bridge CPU per new item with a picture (whole process, minus a steady cycle)",
        extra,
        "ms",
        50.0,
    )
    post_cpu = _post_cpu(breakdown)
    if post_cpu is not None:
        result.add(
            "bridge CPU per post with a picture (in-process: all but the polling steps)",
            post_cpu,
            "ms",
            50.0,
        )
    result.add(
        "Mastodon requests per cycle", [sum(c.mastodon_requests.values()) for c in runs], "requests"
    )
    result.add("peak RSS of the bridge", [c.run.max_rss_kb / MB for c in runs], "MB")
    result.details["cycles"] = _cycle_rows(runs)
    result.details["where the CPU goes (in-process)"] = step_rows(
        breakdown, max(1, breakdown["posted"]), "posted item"
    )
    return result


# Steps of polling a feed; everything else a cycle spends is the cost of posting.
_POLL_STEPS = frozenset(
    {
        "fetch (httpx)",
        "parse (feedparser + parse.py)",
        "filter",
        "plan",
        "state (SQLite): open",
        "state (SQLite): close",
        "state (SQLite): feed",
        "state (SQLite): known_keys",
        "state (SQLite): known",
        "state (SQLite): record_fetch",
        "state (SQLite): record_fetch_failure",
    }
)


def _post_cpu(breakdown: dict[str, Any]) -> float | None:
    """ms of CPU per posted item: the cycle minus its polling steps, over the posts. It
    includes rendering, Mastodon.py, pictures, the outbox bookkeeping, the rate budget checks
    and the cycle's own loop over the feeds: an upper bound."""
    posted = int(breakdown["posted"])
    if not posted:
        return None
    polling = sum(
        float(step["cpu"]) for name, step in breakdown["steps"].items() if name in _POLL_STEPS
    )
    return (float(breakdown["cycle_cpu"]) - polling) * 1000 / posted


def first_contact_500(context: Context) -> Result:
    result = Result(
        "first-500",
        "first contact with a 500-item feed",
        "`fedibridge once` on one feed of 500 items and an empty state: "
        "everything is downloaded, parsed and recorded as already published; nothing posted. "
        f"{context.repeats} repeats, each with a fresh state file.",
    )
    folder = context.folder("first-500")
    runs: list[Cycle] = []
    with FeedServer(1, items=500) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon)
        document, compressed = feeds.size(0)
        for _ in range(context.repeats):
            _remove_state(folder)
            runs.append(measured_once(config, feeds, mastodon))
        _remove_state(folder)
        breakdown = steps(config)
    result.add("wall time", [c.run.wall for c in runs], "s")
    result.add("CPU (user+sys)", [c.run.cpu for c in runs], "s")
    result.add("CPU per item", [c.run.cpu * 1000 / 500 for c in runs], "ms")
    result.add("peak RSS of the bridge", [c.run.max_rss_kb / MB for c in runs], "MB")
    result.add("feed requests", [_feed_requests(c) for c in runs], "requests")
    result.add("Mastodon requests", [sum(c.mastodon_requests.values()) for c in runs], "requests")
    result.notes.append(
        f"the feed: {document:,} bytes, {compressed:,} bytes gzip-compressed on the wire"
    )
    result.details["runs"] = _cycle_rows(runs)
    result.details["where the CPU goes (in-process)"] = step_rows(breakdown, 500, "item")
    return result


def _state_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("state.sqlite3*"))


def _remove_state(folder: Path) -> None:
    for path in folder.glob("state.sqlite3*"):
        path.unlink()


def backlog_300(context: Context) -> Result:
    feeds_count, per_feed = 30, 10
    total = feeds_count * per_feed
    result = Result(
        "backlog-300",
        "a backlog of 300 posts",
        f"{feeds_count} feeds each publish {per_feed} items while the account's token is missing "
        "(the token file does not exist), so 300 items wait as `pending`; the token comes back "
        "and one `fedibridge once` delivers the backlog. Each measured cycle is followed by a "
        "steady cycle; the difference is the cost of the posts. Each repeat uses a new account "
        "name, so each starts with a full rate budget.",
    )
    folder = context.folder("backlog-300")
    backlog_runs: list[Cycle] = []
    steady_runs: list[Cycle] = []
    breakdown: dict[str, Any] = {}
    with (
        FeedServer(feeds_count, window=20 + per_feed) as feeds,
        MastodonServer(folder) as mastodon,
    ):
        once(write_config(folder, feeds, mastodon))
        for number in range(context.repeats + 1):
            account = f"main{number}" if number < context.repeats else "inprocess"
            without_token = write_config(
                folder, feeds, mastodon, account=account, token=False, options=TEXT_ONLY
            )
            feeds.add(step=1, items=per_feed)
            once(without_token, accept=(0, 1))  # exit 1: the account has a problem
            config = write_config(folder, feeds, mastodon, account=account, options=TEXT_ONLY)
            if number == context.repeats:
                breakdown = steps(config)
                break
            # exit 1: the items beyond the rate budget wait, and say so
            backlog_runs.append(measured_once(config, feeds, mastodon, accept=(0, 1)))
            steady_runs.append(measured_once(config, feeds, mastodon, accept=(0, 1)))
    posted = {run.posted for run in backlog_runs}
    result.notes.append(
        f"posted per backlog cycle: {', '.join(map(str, sorted(posted)))} of {total} (the rest "
        "waits: fedibridge keeps to 270 posts per account in 3 hours, 90 % of Mastodon's limit)"
    )
    extra = [
        (b.run.cpu - s.run.cpu) * 1000 / max(1, b.posted)
        for b, s in zip(backlog_runs, steady_runs, strict=True)
    ]
    result.add("wall time of the cycle", [c.run.wall for c in backlog_runs], "s")
    result.add("CPU of the cycle (user+sys)", [c.run.cpu for c in backlog_runs], "s")
    result.add("items posted in the cycle", [c.posted for c in backlog_runs], "posts")
    result.add(
        "bridge CPU per posted item (whole process, minus a steady cycle)", extra, "ms", 50.0
    )
    post_cpu = _post_cpu(breakdown)
    if post_cpu is not None:
        result.add(
            "bridge CPU per posted item (in-process: all but the polling steps)",
            post_cpu,
            "ms",
            50.0,
        )
    result.add(
        "mastodon-mock's own CPU per post",
        [c.mastodon_cpu * 1000 / max(1, c.posted) for c in backlog_runs],
        "ms",
        note="the server's cost, not the bridge's; it bounds the wall time",
    )
    result.add(
        "Mastodon requests per cycle",
        [sum(c.mastodon_requests.values()) for c in backlog_runs],
        "requests",
    )
    result.add("peak RSS of the bridge", [c.run.max_rss_kb / MB for c in backlog_runs], "MB")
    result.details["backlog cycles"] = _cycle_rows(backlog_runs)
    result.details["where the CPU of the backlog cycle goes (in-process)"] = step_rows(
        breakdown, max(1, breakdown["posted"]), "posted item"
    )
    return result


def memory(context: Context) -> Result:
    seconds = 25.0 if context.quick else 130.0
    result = Result(
        "memory-run-10",
        "`fedibridge run` with 10 feeds: resident memory",
        f"`fedibridge run` (interval 1m) on 10 feeds whose first contact is already recorded; 3 "
        f"of them have a new item at start, so the first round posts. VmRSS and VmHWM are read "
        f"from /proc/PID/status every 0.1 s for {seconds:.0f} s, then SIGTERM.",
    )
    folder = context.folder("memory-run-10")
    samples: list[tuple[float, int, int]] = []

    def watch(pid: int) -> None:
        start = time.monotonic()
        for _ in range(int(seconds / 0.1)):
            found = read_memory(pid)
            if found is None:
                break
            samples.append((time.monotonic() - start, *found))
            time.sleep(0.1)
        _terminate(pid)

    with FeedServer(10) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon, options=FeedOptions(interval="1m"))
        once(config)
        feeds.add(feeds=[0, 4, 8])
        before = mastodon.statuses_count()
        run = run_child(
            [*fedibridge_command(), "--config", str(config), "run"], cwd=folder, while_running=watch
        )
        posted = mastodon.statuses_count() - before
    if not samples:
        raise RuntimeError(f"fedibridge run ended at once:\n{run.stderr[-2000:]}")
    idle_window = [rss for t, rss, _ in samples if 15.0 <= t <= 55.0]
    idle = statistics.median(idle_window) if idle_window else samples[-1][1]
    result.add("peak RSS (VmHWM)", samples[-1][2] / MB, "MB")
    result.add("idle RSS after the first round (median, 15-55 s)", idle / MB, "MB", 80.0)
    result.add("RSS at the end", samples[-1][1] / MB, "MB")
    result.add("CPU over the whole run (user+sys)", run.cpu, "s", note=f"for {seconds:.0f} s")
    result.add("items posted", posted, "posts")
    result.details["resident memory over time"] = [
        ["seconds after start", "VmRSS (MB)", "VmHWM (MB)"]
    ] + [
        [f"{t:.0f}", f"{rss / MB:.1f}", f"{hwm / MB:.1f}"]
        for t, rss, hwm in _thin(
            samples, [0.5, 1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 75, 90, 110, 125]
        )
    ]
    return result


def scale_10000(context: Context) -> Result:
    count, seconds = 10_000, 20.0 if context.quick else 40.0
    result = Result(
        "scale-10000",
        "a configuration of 10,000 feeds: start-up and memory",
        f"A config.toml with {count:,} feeds (sharing 100 served documents). `fedibridge "
        f"healthcheck` (reads the config and every feed's row) on an empty state; then "
        f"`fedibridge run` for {seconds:.0f} s: resident memory once every feed is scheduled, "
        "and how many feeds were polled by then.",
    )
    folder = context.folder("scale-10000")
    samples: list[tuple[float, int, int]] = []

    def watch(pid: int) -> None:
        start = time.monotonic()
        for _ in range(int(seconds / 0.2)):
            found = read_memory(pid)
            if found is None:
                break
            samples.append((time.monotonic() - start, *found))
            time.sleep(0.2)
        _terminate(pid)

    with FeedServer(100) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon, count=count)
        health = [
            _run(["--config", str(config), "healthcheck"], folder)
            for _ in range(max(1, context.repeats // 2))
        ]
        feeds.reset()
        run = run_child(
            [*fedibridge_command(), "--config", str(config), "run"],
            cwd=folder,
            while_running=watch,
        )
        polled = sum(n for kind, n in feeds.stats()["by_status"].items() if kind.isdigit())
    if not samples:
        raise RuntimeError(f"fedibridge run ended at once:\n{run.stderr[-2000:]}")
    result.add("`healthcheck` with 10,000 feeds: wall", [r.wall for r in health], "s")
    result.add("`healthcheck` with 10,000 feeds: CPU", [r.cpu for r in health], "s")
    result.add(
        "`healthcheck` with 10,000 feeds: peak RSS", [r.max_rss_kb / MB for r in health], "MB"
    )
    result.add(f"`run` with 10,000 feeds: RSS after {seconds:.0f} s", samples[-1][1] / MB, "MB")
    result.add("`run` with 10,000 feeds: peak RSS (VmHWM)", samples[-1][2] / MB, "MB")
    result.add(
        f"`run` with 10,000 feeds: feeds polled in the first {seconds:.0f} s",
        polled,
        "feeds",
        note="first polls are started one second apart",
    )
    result.add("`run` with 10,000 feeds: CPU until SIGTERM", run.cpu, "s")
    result.details["resident memory over time"] = [
        ["seconds after start", "VmRSS (MB)", "VmHWM (MB)"]
    ] + [
        [f"{t:.0f}", f"{rss / MB:.1f}", f"{hwm / MB:.1f}"]
        for t, rss, hwm in _thin(samples, [0.5, 1, 2, 3, 5, 8, 12, 20, 30, 40])
    ]
    return result


def _thin(
    samples: list[tuple[float, int, int]], moments: list[float]
) -> list[tuple[float, int, int]]:
    chosen = []
    for moment in moments:
        later = [s for s in samples if s[0] >= moment]
        if later:
            chosen.append(later[0])
    return chosen


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def startup(context: Context) -> Result:
    repeats = max(5, context.repeats * 2)
    result = Result(
        "startup",
        "start-up",
        f"Each command run {repeats} times; median. Bytecode cached as in the container image "
        "(pip compiles at install), unless the row says otherwise.",
    )
    folder = context.folder("startup")
    help_runs = [_run(["--help"], folder) for _ in range(repeats + 1)][1:]  # the first warms
    cold_runs = [_run(["--help"], folder, bytecode=False) for _ in range(repeats)]
    version_runs = [_run(["--version"], folder) for _ in range(repeats)]
    with FeedServer(1) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon)
        once(config)
        once_runs = [once(config) for _ in range(repeats)]
        health_runs = [
            _run(["--config", str(config), "healthcheck"], folder) for _ in range(repeats)
        ]
    result.add("`fedibridge --help` wall", [r.wall * 1000 for r in help_runs], "ms", 300.0)
    result.add("`fedibridge --help` CPU", [r.cpu * 1000 for r in help_runs], "ms")
    result.add(
        "`fedibridge --help` wall, no bytecode for fedibridge's modules",
        [r.wall * 1000 for r in cold_runs],
        "ms",
        note="as in this development checkout (PYTHONDONTWRITEBYTECODE=1)",
    )
    result.add("`fedibridge --version` wall", [r.wall * 1000 for r in version_runs], "ms")
    result.add(
        "`fedibridge once`, one unchanged feed: wall", [r.wall * 1000 for r in once_runs], "ms"
    )
    result.add(
        "`fedibridge once`, one unchanged feed: CPU", [r.cpu * 1000 for r in once_runs], "ms"
    )
    result.add(
        "`fedibridge once`, one unchanged feed: peak RSS",
        [r.max_rss_kb / MB for r in once_runs],
        "MB",
    )
    result.add(
        "`fedibridge healthcheck` (the image runs it every 5 minutes): CPU",
        [r.cpu * 1000 for r in health_runs],
        "ms",
    )
    result.details["slowest imports of `fedibridge once` (python -X importtime, cumulative)"] = (
        _import_times(config)
    )
    return result


def _run(arguments: list[str], folder: Path, *, bytecode: bool = True) -> ChildRun:
    return run_child(
        [*fedibridge_command(), *arguments], cwd=folder, env=bridge_env(bytecode=bytecode)
    )


def _import_times(config: Path) -> list[list[str]]:
    """Top-level imports of a `once` run by cumulative import time (-X importtime)."""
    run = run_child(
        [bridge_python(), "-X", "importtime", "-m", "fedibridge", "--config", str(config), "once"],
        cwd=config.parent,
    )
    totals: dict[str, int] = {}
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (
            part.strip() for part in line.removeprefix("import time:").split("|")
        )
        if not cumulative.isdigit():
            continue
        top = name.split(".")[0] if not name.startswith(" ") else None
        # Only the outermost imports (no indentation): their cumulative time includes the rest.
        if top and name == name.lstrip():
            totals[top] = totals.get(top, 0) + int(cumulative)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:12]
    return [["package", "import time (ms)"]] + [[name, f"{us / 1000:.0f}"] for name, us in ranked]


def latency(context: Context) -> Result:
    items = 6
    result = Result(
        "latency",
        "from an item appearing in a feed to its post",
        f"`fedibridge run` with 5 feeds at interval 1m (jitter up to 6 s). {items} times: wait a "
        "random 0-60 s, publish one item, and poll mastodon-mock every 0.1 s until the post "
        "appears.",
    )
    folder = context.folder("latency")
    rng = random.Random(7)
    delays: list[float] = []

    def drive(pid: int) -> None:
        try:
            time.sleep(10)  # the first round (first polls are 1 s apart)
            for number in range(items):
                time.sleep(rng.uniform(0, 60))
                before = mastodon.statuses_count()
                feeds.add(feeds=[number % 5])
                appeared = time.monotonic()
                for _ in range(1500):  # at most 150 s
                    if mastodon.statuses_count() > before:
                        delays.append(time.monotonic() - appeared)
                        break
                    time.sleep(0.1)
        finally:
            _terminate(pid)

    with FeedServer(5) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon, options=FeedOptions(interval="1m"))
        once(config)
        run_child(
            [*fedibridge_command(), "--config", str(config), "run"], cwd=folder, while_running=drive
        )
    result.add("delay from publication to post", delays, "s")
    mean, worst = expected_delay(60.0)
    result.notes.append(
        f"Expected from the scheduling rule for interval 1m: mean {mean:.1f} s, worst "
        f"{worst:.0f} s, plus the in-cycle time (see new-10pct)."
    )
    return result


def expected_delay(interval: float) -> tuple[float, float]:
    """Mean and worst wait from an item's publication to the next poll, for APScheduler's
    interval trigger with fedibridge's jitter: gaps between polls are I + U(0, J), J = min(I/10,
    60 s), because the trigger adds the jitter to the previous (already jittered) fire time. An
    item published at a random moment waits E[G²] / (2 E[G])."""
    jitter = min(interval / 10, 60.0)
    mean_gap = interval + jitter / 2
    mean_square = interval**2 + interval * jitter + jitter**2 / 3
    return mean_square / (2 * mean_gap), interval + jitter


def profile(context: Context) -> Result:
    """cProfile of one steady cycle over 1,000 feeds, grouped by package: once with a CPU
    clock (where the CPU goes), once with a wall clock (where the time goes, waits included)."""
    result = Result(
        "profile",
        "profile of a steady 1,000-feed cycle",
        "bench/steps.py under cProfile, self time grouped by the package the code lives in. "
        "cProfile slows pure-Python code down (about 2x here): read the shares, not the "
        "absolute times. The CPU profile uses the thread's CPU clock; the wall profile "
        "perf_counter, so it also shows waiting (disk, network, other processes).",
    )
    folder = context.folder("profile")
    with FeedServer(1000) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon)
        once(config)
        for clock in ("cpu", "wall"):
            stats_path = folder / f"steady-1000-{clock}.prof"
            data = steps(config, profile=stats_path, clock=clock)
            total, groups, top = _profile_tables(stats_path)
            result.add(f"profiled cycle, {clock} clock", total, "s")
            result.details[f"{clock} profile: self time by package"] = groups
            result.details[f"{clock} profile: top functions by self time"] = top
            if clock == "cpu":
                result.notes.append(
                    f"the CPU-profiled cycle took {data['cycle_cpu']:.2f} s of CPU "
                    "(unprofiled: see steady-1000)"
                )
    return result


def _profile_tables(path: Path) -> tuple[float, list[list[str]], list[list[str]]]:
    import pstats

    table: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    calls: dict[str, int] = {}
    for (filename, _, function), (_, primitive, own, _, _) in table.items():
        group = _package(filename, function)
        groups[group] = groups.get(group, 0.0) + own
        calls[group] = calls.get(group, 0) + primitive
    total = sum(groups.values())
    rows = [["where (self time)", "share", "ms per feed (profiled)", "calls"]]
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1])[:14]:
        rows.append([group, f"{seconds / total:.0%}", f"{seconds:.3f}", f"{calls[group]:,}"])
    ranked = sorted(table.items(), key=lambda item: -item[1][2])[:12]
    top = [["function", "calls", "self time (ms)"]] + [
        [f"{_short(filename)}:{line}({function})", f"{value[1]:,}", f"{value[2] * 1000:.0f}"]
        for (filename, line, function), value in ranked
    ]
    return total, rows, top


def _package(filename: str, function: str) -> str:
    if filename.startswith("<"):
        return "frozen/generated code"
    if filename == "~":  # a C function: name the object it belongs to
        if "sqlite3" in function:
            return "sqlite3 (C)"
        if "socket" in function or "select" in function or "poll" in function:
            return "socket (C)"
        return "other built-ins (C)"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if "fedibridge" in parts:
        return "fedibridge." + path.stem
    if "bench" in parts:
        return "bench (the probes)"
    folder = parts[-2] if len(parts) > 1 else ""
    return "stdlib: " + (folder if folder not in ("", "lib", "python3.11") else path.stem)


def _short(filename: str) -> str:
    parts = Path(filename).parts
    for anchor in ("site-packages", "python3.11", "src"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1 :])
    return filename


# Both optimisations this benchmark found are in src/ now: the variants take them out again,
# one and both, to show what each is worth, and try the next lever (parallel polling).
WHAT_IF_VARIANTS: tuple[tuple[str, ...], ...] = (
    (),
    ("no-304-read",),
    ("per-feed-connection",),
    ("no-304-read", "per-feed-connection"),
    ("parallel-8",),
)


def what_if(context: Context) -> Result:
    """Proposed optimisations, measured in-process on 1,000 unchanged feeds."""
    result = Result(
        "what-if-1000",
        "the optimisations, measured: 1,000 unchanged feeds",
        "bench/steps.py with `--what-if` (the change is applied in the benchmark process only; "
        "src/ is untouched): each of the two optimisations now in src/ taken out again "
        "(`no-304-read`, `per-feed-connection`), both, and 8 polling threads; on three "
        "set-ups: plain HTTP with every feed on one host; HTTPS with every feed on one host "
        "(a consortium's CMS); HTTPS with every feed on its own host (a TLS handshake per "
        "feed). CPU is the cycle's, plus the process's imports, per "
        f"feed; {context.repeats} rounds, the variants in rotating order.",
    )
    certificates = context.certificates
    setups = (
        ("HTTP, one host", False, False),
        ("HTTPS, one host", True, False),
        ("HTTPS, a host per feed", True, True),
    )
    rows = [["set-up", "change", "CPU per feed (ms)", "range", "wall per cycle (s)", "vs. today"]]
    for label, tls, spread_hosts in setups:
        folder = context.folder(f"what-if-{len(rows)}")
        env = bridge_env(extra={"SSL_CERT_FILE": str(certificates.bundle)}) if tls else None
        with (
            FeedServer(
                1000, port_per_feed=spread_hosts, tls=certificates if tls else None
            ) as feeds,
            MastodonServer(folder) as mastodon,
        ):
            config = write_config(folder, feeds, mastodon)
            once(config, env=env)
            cpu: dict[tuple[str, ...], list[float]] = {v: [] for v in WHAT_IF_VARIANTS}
            wall: dict[tuple[str, ...], list[float]] = {v: [] for v in WHAT_IF_VARIANTS}
            for round_number in range(context.repeats):
                shift = round_number % len(WHAT_IF_VARIANTS)
                for variant in WHAT_IF_VARIANTS[shift:] + WHAT_IF_VARIANTS[:shift]:
                    data = steps(config, what_if=variant, env=env)
                    note = (
                        f"{label}: {', '.join(data['already'])} changed nothing: the code "
                        "already does that"
                    )
                    if data.get("already") and note not in result.notes:
                        result.notes.append(note)
                    cpu[variant].append((data["cycle_cpu"] + data["import_cpu"]) * 1000 / 1000)
                    wall[variant].append(data["cycle_wall"])
        today = statistics.median(cpu[()])
        for variant in WHAT_IF_VARIANTS:
            values = spread(cpu[variant])
            rows.append(
                [
                    label,
                    " + ".join(variant) or "none (today)",
                    f"{values.median:.2f}",
                    f"{values.low:.2f}-{values.high:.2f}",
                    f"{statistics.median(wall[variant]):.2f}",
                    f"{values.median / today - 1:+.0%}" if variant else "",
                ]
            )
            if variant == ("no-304-read", "per-feed-connection") or not variant:
                name = "without both changes" if variant else "today"
                result.add(f"{label}: CPU per feed, {name}", cpu[variant], "ms", 3.0)
    result.details["CPU per unchanged feed, by change"] = rows
    return result


def peers(*, tls: bool = False) -> Callable[[Context], Result]:
    name = "peers-10" + ("-tls" if tls else "")

    def scenario(context: Context) -> Result:
        return _peers(context, name, tls)

    return scenario


def _peers(context: Context, name: str, tls: bool) -> Result:
    count = 10
    where = (
        "over HTTPS from one website, as a library's feeds usually are"
        if tls
        else "over plain HTTP from one website"
    )
    result = Result(
        name,
        f"fedibridge beside feed2toot 0.17: {count} feeds {where}, steady and posting",
        f"The same {count} feeds (20 items each) and the same mastodon-mock account, the same "
        "run: `fedibridge once` and `feed2toot -c feed2toot.ini`, each a whole process from "
        "its own virtualenv, measured by wait4, in alternating order. First both take in the "
        "feeds (fedibridge's first contact, feed2toot --populate-cache; not counted). Steady: "
        f"nothing changed ({context.repeats} runs each; feed2toot has no conditional requests, "
        f"so it downloads and parses every feed each time). Posting: one new item in each of "
        f"the {count} feeds, then each bridge posts those {count} items (text only).",
    )
    folder = context.folder(name)
    certificates = context.certificates if tls else None
    # Both trust the bench's CA through the one variable OpenSSL reads for both.
    env = bridge_env(extra={"SSL_CERT_FILE": str(certificates.bundle)}) if certificates else None
    with FeedServer(count, tls=certificates) as feeds, MastodonServer(folder) as mastodon:
        config = write_config(folder, feeds, mastodon, options=TEXT_ONLY)
        ini = write_feed2toot_config(folder / "feed2toot", feeds, mastodon, count)
        once(config, env=env)
        feed2toot(ini, "--populate-cache", env=env)
        steady_ours, steady_theirs = [], []
        for number in range(context.repeats):
            pair = [lambda: steady_ours.append(once(config, env=env)),
                    lambda: steady_theirs.append(feed2toot(ini, env=env))]  # fmt: skip
            for step in pair if number % 2 == 0 else pair[::-1]:
                step()
        post_ours, post_theirs = [], []
        for number in range(context.repeats):
            feeds.add(feeds=list(range(count)))
            before = mastodon.statuses_count()
            post_ours.append(once(config, env=env))
            post_theirs.append(feed2toot(ini, env=env))
            posted = mastodon.statuses_count() - before
            if posted != 2 * count:
                raise RuntimeError(f"expected {2 * count} posts in round {number}, saw {posted}")
    ratios = {
        "steady": [a.cpu / b.cpu for a, b in zip(steady_ours, steady_theirs, strict=True)],
        "posting": [a.cpu / b.cpu for a, b in zip(post_ours, post_theirs, strict=True)],
    }
    result.add(f"{count} unchanged feeds: fedibridge CPU", [r.cpu for r in steady_ours], "s")
    result.add(f"{count} unchanged feeds: feed2toot CPU", [r.cpu for r in steady_theirs], "s")
    result.add(f"{count} unchanged feeds: fedibridge ÷ feed2toot", ratios["steady"], "times", 0.5)
    result.add(f"posting {count} items: fedibridge CPU", [r.cpu for r in post_ours], "s")
    result.add(f"posting {count} items: feed2toot CPU", [r.cpu for r in post_theirs], "s")
    result.add(f"posting {count} items: fedibridge ÷ feed2toot", ratios["posting"], "times", 0.8)
    result.add("peak RSS, steady: fedibridge", [r.max_rss_kb / MB for r in steady_ours], "MB")
    result.add("peak RSS, steady: feed2toot", [r.max_rss_kb / MB for r in steady_theirs], "MB")
    return result


def websites_10000(context: Context) -> Result:
    feeds_count, interval = 10_000, 900.0
    long = interval * 1.1 + 90
    variants = [
        ("the daemon as it is", {}, long),
        ("32 threads, spread in config order", {"BENCH_THREADS": "32", "BENCH_SPREAD": "1"},
         long),
        ("32 threads, even spread per website", {"BENCH_THREADS": "32", "BENCH_SPREAD": "host"},
         long),
    ]  # fmt: skip
    # WEBSITES_VARIANTS=0 (or 0,2...) runs only those variants: each takes 20 minutes. The
    # daemon before issue 14 (4 threads, first polls a second apart) is in docs/performance.md.
    chosen = os.environ.get("WEBSITES_VARIANTS")
    if chosen:
        variants = [variants[int(i)] for i in chosen.split(",")]
    result = Result(
        "websites-10000",
        "10,000 feeds on realistic websites, `fedibridge run`",
        f"bench/websites.py serves {feeds_count:,} feeds, each on a loopback address of its own "
        "except 5 websites with 400 feeds and 20 with 100; answers take a log-normal time "
        "around 300 ms, 5 % take 5 s and 1 % never come (the bridge's 30 s timeout ends them). "
        "Every feed polls every 15 minutes; first contact records 3 items, then 304s. "
        "`fedibridge run` as it is, and with other first rounds for comparison "
        "(bench/daemon_variant.py: spread evenly over the interval in the config's order, or "
        "per website), each for 1.1 intervals and 90 s. CPU and memory from /proc every "
        "10 s; poll times as the websites saw them.",
    )
    folder = context.folder("websites-10000")
    argv = [sys.executable, str(BENCH / "websites.py"), f"--feeds={feeds_count}"]
    web = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert web.stdout is not None
        ready = json.loads(web.stdout.readline().removeprefix("READY "))
        for label, extra, seconds in variants:
            rows = _web_run(
                context, folder / str(len(result.figures)), ready, label, extra, seconds
            )
            for name, value, unit, target in rows:
                result.add(f"{label}: {name}", value, unit, target)
            # The next variant starts with fresh counters: a new website server would do too,
            # but the polls are told apart by time instead.
    finally:
        web.terminate()
        web.wait(30)
    return result


def _web_run(
    context: Context, folder: Path, ready: dict[str, Any], label: str, extra: dict[str, str],
    seconds: float,
) -> list[tuple[str, float, str, float | None]]:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[bridge]", f"state_path = {json.dumps(str(folder / 'state.sqlite3'))}",
             'interval = "15m"', "", "[accounts.main]", 'server = "http://127.0.0.1:9"',
             'access_token = "unused"', ""]  # fmt: skip
    for index, url in enumerate(ready["urls"]):
        lines += [f"[feeds.f{index:05d}]", f"url = {json.dumps(url)}",
                  "allow_private_network = true", ""]  # fmt: skip
    config = folder / "config.toml"
    config.write_text("\n".join(lines))
    env = bridge_env(extra={**extra, "BENCH_FEEDS": str(len(ready["urls"]))})
    argv = [bridge_python(), str(BENCH / "daemon_variant.py"), "--config", str(config), "run"]
    started = time.monotonic()
    polls_before = _polls(ready["port"])
    child = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    samples: list[tuple[float, float, float]] = []  # (seconds, cpu seconds, rss MB)
    try:
        while time.monotonic() - started < seconds:
            time.sleep(10)
            memory = read_memory(child.pid)
            rss = memory[0] / MB if memory else 0.0
            samples.append((time.monotonic() - started, _cpu(child.pid), rss))
    finally:
        child.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            child.wait(120)
        except subprocess.TimeoutExpired:
            child.kill()  # queued polls still running after SIGTERM: see the figure
            child.wait()
        stopped_after = time.monotonic() - stopping
    seen = _polls(ready["port"])
    figures = _web_figures(polls_before["now"], seen, samples)
    figures.append(("time from SIGTERM to exit (killed at 120 s)", stopped_after, "s", 31.0))
    return figures


def _polls(port: int) -> dict[str, Any]:
    answer = subprocess.run(
        ["curl", "-s", f"http://127.0.0.1:{port}/_ctl/polls"], capture_output=True, check=True
    )
    data: dict[str, Any] = json.loads(answer.stdout)
    return data


def _later_cpu(samples: list[tuple[float, float, float]], interval: float) -> float:
    """CPU share from 1.05 intervals on (unchanged feeds answering 304), else of the whole run."""
    later = [sample for sample in samples if sample[0] >= interval * 1.05]
    if len(later) < 2:
        return samples[-1][1] / samples[-1][0] * 100
    return (later[-1][1] - later[0][1]) / (later[-1][0] - later[0][0]) * 100


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _web_figures(
    start: float, seen: dict[str, Any], samples: list[tuple[float, float, float]]
) -> list[tuple[str, float, str, float | None]]:
    interval, late_after = 900.0, 990.0
    end = seen["now"] - start
    firsts, gaps, late, overdue = [], [], 0, 0
    for polls in seen["polls"]:
        mine = [(t - start, kind) for t, kind in polls if t >= start]
        if mine:
            firsts.append(mine[0][0])
        for (before, kind), (after, _) in itertools.pairwise(mine):
            if kind != "x":  # after a timeout the feed backs off, as it should
                gaps.append(after - before)
                late += after - before > late_after
        last = mine[-1] if mine else None
        if end > late_after and (last is None or (last[1] != "x" and end - last[0] > late_after)):
            overdue += 1
    firsts.sort()
    feeds = len(seen["polls"])
    buckets: dict[int, int] = {}
    for moment in firsts:
        buckets[int(moment // 10)] = buckets.get(int(moment // 10), 0) + 1
    even = feeds / interval * 10  # first polls per 10 s if spread evenly over the interval
    figures: list[tuple[str, float, str, float | None]] = [
        ("feeds polled at least once", len(firsts), "feeds", None),
        ("first round: time until 99 % of feeds were polled once",
         firsts[int(feeds * 0.99) - 1] if len(firsts) >= feeds * 0.99 else float("inf"),
         "s", interval * 1.1),
        ("first round: busiest 10 s, as a multiple of an even spread",
         max(buckets.values(), default=0) / even, "times", None),
        ("gaps between polls longer than interval + 10 %", late, "gaps", 0.5),
        ("feeds not polled within interval + 10 % at the end", overdue, "feeds", 0.5),
        ("most requests at once to one website", max(seen["most_at_once"]), "requests", 2.5),
        ("average CPU, % of one core (whole run: start-up and first contact included)",
         samples[-1][1] / samples[-1][0] * 100, "%", None),
        ("average CPU after the first round, % of one core", _later_cpu(samples, interval),
         "%", 5.0),
        ("peak RSS", max(rss for _, _, rss in samples), "MB", 150.0),
    ]  # fmt: skip
    if gaps:
        figures.insert(4, ("longest gap between polls", max(gaps), "s", None))
    return figures


def state_year(context: Context) -> Result:
    days = 120 if context.quick else 365
    result = Result(
        "state-year",
        f"the state after {days} days of a 200-item-a-day catalogue feed",
        "bench/state_year.py: every simulated day the feed shows that day's 200 new titles "
        "(generated, parsed by fedibridge), and the cycle's own steps run on a real SQLite "
        "file with the clock moved on a day: known, plan, record, every item marked posted, "
        "then prune (keep_days 90, update_max_age 7 days). A second file gets the same items "
        "without pruning. Then every seventh day's items are offered again: any that would be "
        "posted is a repost.",
    )
    run = run_child(
        [bridge_python(), str(BENCH / "state_year.py"), "--days", str(days)],
        cwd=context.folder("state-year"),
        env=bridge_env(),
    )
    if run.exit_code != 0:
        raise RuntimeError(f"bench/state_year.py failed:\n{run.stderr[-3000:]}")
    data = json.loads(run.stdout)
    megabytes = 1024 * 1024
    result.add(
        "state file after the simulated period, pruned",
        data["state_bytes"] / megabytes,
        "MB",
        20.0 if days == 365 else None,
        note=f"{data['kept_whole']:,} items kept whole, {data['kept_as_key']:,} as a key digest",
    )
    result.add(
        "the same without pruning", data["unpruned_bytes"] / megabytes, "MB",
        note=f"{data['unpruned_bytes'] / data['items']:,.0f} bytes per item",
    )  # fmt: skip
    result.add(
        "reposts when old items are offered again", data["reposts"], "posts", 0.5,
        note=f"{data['offered_again']:,} old items offered",
    )  # fmt: skip
    result.add("CPU of all the daily prunes", data["prune_cpu_seconds_total"], "s")
    return result


SCENARIOS: dict[str, Callable[[Context], Result]] = {
    "startup": startup,
    "steady-1": steady(1),
    "steady-100": steady(100),
    "steady-1000": steady(1000),
    "steady-1000-tls": steady(1000, tls=True),
    "new-10pct-100": new_items(100),
    "new-10pct-1000": new_items(1000),
    "post-pictures-20": pictures,
    "first-500": first_contact_500,
    "backlog-300": backlog_300,
    "memory-run-10": memory,
    "scale-10000": scale_10000,
    "latency": latency,
    "what-if-1000": what_if,
    "profile": profile,
    "state-year": state_year,
    "peers-10": peers(),
    "peers-10-tls": peers(tls=True),
    "websites-10000": websites_10000,
}
SLOW = frozenset({"latency", "websites-10000"})  # skipped by --quick


def run_scenario(name: str, context: Context) -> Result:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = load_average()
    clock = time.perf_counter()
    result = SCENARIOS[name](context)
    result.started = started
    result.seconds = time.perf_counter() - clock
    result.load_before = load_before
    result.load_after = load_average()
    return result
