"""One ``once`` cycle in-process, with the CPU of each step accounted separately.

Run as a child process by the harness: ``python bench/steps.py CONFIG [--profile FILE]``. It
prints one JSON object: per step, calls, CPU seconds (``time.thread_time``: this thread only,
so waits on the network are excluded) and wall seconds, each *exclusive* of the other steps
nested inside it; plus import time and the whole cycle.

It drives ``fedibridge.cycle.Bridge.run_all`` exactly as ``fedibridge once`` does, after
wrapping the functions that ``cycle.py`` calls. A name that a later version of cycle.py no
longer uses is skipped (listed under "missing"), and its time shows up as "cycle (rest)".
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (module, attribute, step name). Attributes with a dot are methods of a class.
PROBES: tuple[tuple[str, str, str], ...] = (
    ("fedibridge.cycle", "fetch", "fetch (httpx)"),
    ("fedibridge.cycle", "parse_feed", "parse (feedparser + parse.py)"),
    ("fedibridge.cycle", "plan_entries", "plan"),
    ("fedibridge.cycle", "render", "render"),
    ("fedibridge.state", "State.open", "state: open + migrate"),
    ("fedibridge.state", "State.close", "state: close (WAL checkpoint)"),
    ("fedibridge.state", "State.feed", "state: read feed row"),
    ("fedibridge.state", "State.known_keys", "state: known keys"),
    ("fedibridge.state", "State.record_fetch", "state: record fetch + entries"),
    ("fedibridge.state", "State.pending", "state: read pending"),
    ("fedibridge.state", "State.mark_attempt", "state: mark attempt/posted"),
    ("fedibridge.state", "State.mark_posted", "state: mark attempt/posted"),
    ("fedibridge.publish.mastodon", "MastodonPublisher.__init__", "publisher set-up"),
    ("fedibridge.publish.mastodon", "MastodonPublisher.limits", "server limits"),
    ("fedibridge.publish.mastodon", "MastodonPublisher.post", "post (Mastodon.py)"),
)


@dataclass
class Step:
    calls: int = 0
    cpu: float = 0.0
    wall: float = 0.0


@dataclass
class Accounting:
    steps: dict[str, Step] = field(default_factory=dict)
    # Per open call: [cpu, wall] of nested probed calls, subtracted from the caller.
    _nested: list[list[float]] = field(default_factory=list)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def probed(*args: Any, **kwargs: Any) -> Any:
            self._nested.append([0.0, 0.0])
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
                inner_cpu, inner_wall = self._nested.pop()
                step = self.steps.setdefault(name, Step())
                step.calls += 1
                step.cpu += cpu - inner_cpu
                step.wall += wall - inner_wall
                if self._nested:
                    self._nested[-1][0] += cpu
                    self._nested[-1][1] += wall

        return probed


def install(accounting: Accounting) -> list[str]:
    """Wrap every probe that exists; return the ones that do not."""
    missing = []
    for module_name, attribute, step in PROBES:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--profile", type=Path, help="also write cProfile stats here")
    args = parser.parse_args()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    from fedibridge.config import load_settings
    from fedibridge.cycle import Bridge
    from fedibridge.state import StateLock

    import_cpu, import_wall = time.process_time() - cpu0, time.perf_counter() - wall0

    accounting = Accounting()
    missing = install(accounting)
    settings = load_settings(args.config)
    bridge = Bridge(settings)
    profiler = cProfile.Profile() if args.profile else None
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    with StateLock(settings.bridge.state_path):
        if profiler is not None:
            profiler.enable()
        reports = bridge.run_all()
        if profiler is not None:
            profiler.disable()
    cycle_cpu, cycle_wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    bridge.close()
    if profiler is not None:
        profiler.dump_stats(str(args.profile))

    accounted_cpu = sum(s.cpu for s in accounting.steps.values())
    accounted_wall = sum(s.wall for s in accounting.steps.values())
    steps = {name: vars(step) for name, step in accounting.steps.items()}
    steps["cycle (rest)"] = {
        "calls": 1,
        "cpu": cycle_cpu - accounted_cpu,
        "wall": cycle_wall - accounted_wall,
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
    }
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
