"""One ``once`` cycle in-process, with the CPU of each step accounted separately.

Run as a child process by the harness: ``python bench/steps.py CONFIG [--profile FILE]
[--what-if NAME ...]``. It prints one JSON object: per step, calls, CPU seconds
(``time.thread_time``: the calling thread only, so waits on the network or the disk are
excluded) and wall seconds, each *exclusive* of the probed steps nested inside it; plus import
time and the whole cycle.

It drives ``fedibridge.cycle.Bridge.run_all`` exactly as ``fedibridge once`` does, after
wrapping the functions that the cycle calls. A name that a later version of the code no longer
has is skipped (listed under "missing"); its time then shows up as "cycle (rest)".

``--what-if`` applies an experimental change to the bridge *in this process only* (nothing in
src/ is touched), so that the effect of a proposed optimisation is measured, not guessed:

- ``reuse-304``: read the (empty) body of a 304 answer, so httpx returns the connection to its
  pool instead of closing it. ``no-304-read`` undoes that (fetch.py does it since this
  benchmark measured it), to show what it is worth.
- ``one-connection``: one SQLite connection per thread for the whole cycle, instead of
  opening, migrating and closing the database for every feed. ``per-feed-connection`` undoes
  that (cycle.py keeps one connection per thread since this benchmark measured it).
- ``parallel-8``: poll the feeds with 8 threads instead of one after the other.

An experiment that the code already does is reported under "already" and changes nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import inspect
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (module, attribute, step name). Attributes with a dot are methods of a class. Every public
# method of State and of MastodonPublisher is probed as well (see ``install``).
PROBES: tuple[tuple[str, str, str], ...] = (
    ("fedibridge.cycle", "fetch", "fetch (httpx)"),
    ("fedibridge.parse", "parse_feed", "parse (feedparser + parse.py)"),
    ("fedibridge.cycle", "plan_entries", "plan"),
    ("fedibridge.cycle", "render", "render"),
    ("fedibridge.deliver", "render", "render"),
    ("fedibridge.deliver", "download", "picture download (httpx)"),
    ("fedibridge.publish.mastodon", "MastodonPublisher.__init__", "publisher set-up (Mastodon.py)"),
    ("fedibridge.publish.mastodon", "read_limits", "publish: read server limits"),
)
WHOLE_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("fedibridge.state", "State", "state (SQLite)"),
    ("fedibridge.publish.mastodon", "MastodonPublisher", "publish"),
)
WHAT_IFS = ("reuse-304", "no-304-read", "one-connection", "per-feed-connection", "parallel-8")


@dataclass
class Step:
    calls: int = 0
    cpu: float = 0.0
    wall: float = 0.0


@dataclass
class Accounting:
    steps: dict[str, Step] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Per thread, per open call: [cpu, wall] of nested probed calls, taken from the caller.
    _local: threading.local = field(default_factory=threading.local)

    def _stack(self) -> list[list[float]]:
        stack: list[list[float]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def probed(*args: Any, **kwargs: Any) -> Any:
            stack = self._stack()
            stack.append([0.0, 0.0])
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
                inner_cpu, inner_wall = stack.pop()
                with self._lock:
                    step = self.steps.setdefault(name, Step())
                    step.calls += 1
                    step.cpu += cpu - inner_cpu
                    step.wall += wall - inner_wall
                if stack:
                    stack[-1][0] += cpu
                    stack[-1][1] += wall

        return probed


def _whole_classes() -> list[tuple[str, str, str]]:
    probes = []
    for module_name, class_name, prefix in WHOLE_CLASSES:
        owner = getattr(importlib.import_module(module_name), class_name, None)
        for name, value in vars(owner or object).items():
            if name.startswith("_") or isinstance(value, property | staticmethod):
                continue
            if not callable(getattr(value, "__func__", value)):
                continue
            probes.append((module_name, f"{class_name}.{name}", f"{prefix}: {name}"))
    return probes


def install(accounting: Accounting) -> list[str]:
    """Wrap every probe that exists; return the ones that do not."""
    missing = []
    for module_name, attribute, step in (*PROBES, *_whole_classes()):
        module = importlib.import_module(module_name)
        owner: Any = module
        *classes, name = attribute.split(".")
        for class_name in classes:
            owner = getattr(owner, class_name, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            missing.append(f"{module_name}.{attribute}")
            continue
        if isinstance(owner, type) and isinstance(owner.__dict__.get(name), classmethod):
            wrapped = accounting.wrap(step, original.__func__)
            setattr(owner, name, classmethod(wrapped))
        else:
            setattr(owner, name, accounting.wrap(step, original))
    return missing


# --- what-if experiments -----------------------------------------------------------------


def what_if(names: list[str]) -> tuple[Callable[[], None], list[str]]:
    """Apply the experiments; return what to call after the cycle, and the experiments that
    changed nothing because the code already behaves that way."""
    from fedibridge import cycle, fetch
    from fedibridge.state import State

    cleanups: list[Callable[[], None]] = []
    already: list[str] = []
    per_feed_state = hasattr(cycle.Bridge._state, "__wrapped__")  # a @contextmanager
    if "reuse-304" in names:
        if ".read()" in inspect.getsource(fetch._fetched):
            already.append("reuse-304")
        original_fetched = fetch._fetched

        def fetched(response: Any, *args: Any, **kwargs: Any) -> Any:
            if response.status_code == 304:
                response.read()  # empty; lets httpx keep the connection
            return original_fetched(response, *args, **kwargs)

        fetch._fetched = fetched
    if "no-304-read" in names:
        original = fetch._fetched

        def unread(response: Any, *args: Any, **kwargs: Any) -> Any:
            if response.status_code == 304:
                response.read = lambda: b""  # the stream stays unread: httpx drops it
            return original(response, *args, **kwargs)

        fetch._fetched = unread
    if "one-connection" in names and not per_feed_state:
        already.append("one-connection")
    elif "one-connection" in names:
        local = threading.local()
        opened: list[Any] = []

        @contextmanager
        def shared_state(self: Any) -> Iterator[Any]:
            state = getattr(local, "state", None)
            if state is None:
                state = local.state = State.open(self.settings.bridge.state_path)
                opened.append(state)
            yield state

        def close_all() -> None:
            for state in opened:
                # A connection opened by a worker thread (parallel-8) may only be closed there;
                # those are closed when the process ends.
                with suppress(sqlite3.ProgrammingError):
                    state.close()

        cycle.Bridge._state = shared_state  # type: ignore[method-assign, assignment]
        cleanups.append(close_all)
    if "per-feed-connection" in names and per_feed_state:
        already.append("per-feed-connection")
    elif "per-feed-connection" in names:
        # The bridge keeps one connection per thread (Bridge._local.state): close it after
        # every feed, so the next feed opens, checks and closes the database again.
        original_run_feed = cycle.Bridge.run_feed

        def run_feed(self: Any, name: str) -> Any:
            try:
                return original_run_feed(self, name)
            finally:
                state = getattr(self._local, "state", None)
                if state is not None:
                    self._local.state = None
                    self._connections.remove(state)
                    state.close()

        cycle.Bridge.run_feed = run_feed  # type: ignore[method-assign]
    if "parallel-8" in names:

        def run_all(self: Any) -> list[Any]:
            names = [n for n in self.settings.feeds if not self.stop.is_set()]
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(self.run_feed, names))

        cycle.Bridge.run_all = run_all  # type: ignore[method-assign]

    def after() -> None:
        for cleanup in cleanups:
            cleanup()

    return after, already


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--profile", type=Path, help="also write cProfile stats here")
    parser.add_argument(
        "--profile-clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: time.thread_time (where the CPU goes); wall: perf_counter (where it waits)",
    )
    parser.add_argument("--what-if", action="append", choices=WHAT_IFS, default=[])
    args = parser.parse_args()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    from fedibridge.config import load_settings
    from fedibridge.cycle import Bridge
    from fedibridge.state import StateLock

    import_cpu, import_wall = time.process_time() - cpu0, time.perf_counter() - wall0

    accounting = Accounting()
    missing = install(accounting)
    after, already = what_if(args.what_if)
    settings = load_settings(args.config)
    bridge = Bridge(settings)
    profiler = None
    if args.profile:
        clock = time.thread_time if args.profile_clock == "cpu" else time.perf_counter
        profiler = cProfile.Profile(clock)
    # process_time: with parallel-8 the work happens in other threads.
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with StateLock(settings.bridge.state_path):
        if profiler is not None:
            profiler.enable()
        reports = bridge.run_all()
        after()
        if profiler is not None:
            profiler.disable()
    cycle_cpu, cycle_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    bridge.close()
    if profiler is not None:
        profiler.dump_stats(str(args.profile))

    accounted_cpu = sum(s.cpu for s in accounting.steps.values())
    accounted_wall = sum(s.wall for s in accounting.steps.values())
    steps = {name: vars(step) for name, step in accounting.steps.items()}
    steps["cycle (rest)"] = {
        "calls": 1,
        "cpu": cycle_cpu - accounted_cpu,
        "wall": max(0.0, cycle_wall - accounted_wall),  # threads overlap in parallel-8
    }
    result = {
        "import_cpu": import_cpu,
        "import_wall": import_wall,
        "cycle_cpu": cycle_cpu,
        "cycle_wall": cycle_wall,
        "feeds": len(reports),
        "posted": sum(1 for r in reports for p in r.posts if p.status_url),
        "problems": [line for r in reports if not r.ok for line in r.lines][:5],
        "steps": steps,
        "missing": missing,
        "what_if": args.what_if,
        "already": already,
    }
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
