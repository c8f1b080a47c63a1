"""A 4 MB calendar with 10,000 events (a Google Calendar's whole history): memory and CPU.

    python -m bench.calendar_memory [--events N] [--runs N]

Each run is a fresh child process that imports what the daemon imports (``fedibridge.cycle``)
and then reads the calendar as a poll does (``parse_feed`` with a 60-day horizon). Printed:
the peak RSS of a child that only imports (the floor), of one that also reads the calendar,
and the CPU seconds of the read. ``--no-prefilter`` shows what skipping past single events
before parsing saves. The calendar is written by ``tests/calendars.history``. Figures go to
docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.calendars import history  # noqa: E402

CHILD = """
import sys, time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo
import fedibridge.cycle  # what the daemon has loaded anyway
from fedibridge import parse_ical
from fedibridge.models import Reading
from fedibridge.parse import parse_feed
if sys.argv[2] == "no-prefilter":
    scan = parse_ical._scan
    parse_ical._scan = lambda text, now: (text, scan(text, now)[1])
body = open(sys.argv[1], "rb").read() if sys.argv[1] != "-" else None
if body is not None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    reading = Reading(now=now, zone=ZoneInfo("America/New_York"), horizon=timedelta(days=60))
    started = time.process_time()
    feed = parse_feed(body, "https://library.example/basic.ics", "text/calendar", reading)
    print(len(feed.entries), time.process_time() - started)
"""


def child(path: str, mode: str) -> tuple[float, float, int]:
    """(peak RSS in MB, CPU seconds of the read, entries) of one fresh process."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"the child failed ({process.returncode})")
    entries, seconds = ([*output.split(), "0", "0"])[:2]
    return usage.ru_maxrss / 1024, float(seconds), int(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-prefilter", action="store_true")
    options = parser.parse_args()
    from datetime import UTC, datetime

    body = history(options.events, until=datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    with tempfile.NamedTemporaryFile(suffix=".ics") as file:
        file.write(body)
        file.flush()
        print(f"calendar: {len(body) / 1e6:.2f} MB, {options.events} events")
        floor = child("-", "")[0]
        print(f"imports only: peak RSS {floor:.1f} MB")
        mode = "no-prefilter" if options.no_prefilter else "prefilter"
        cpu, peaks = [], []
        for _ in range(options.runs):
            peak, seconds, entries = child(file.name, mode)
            cpu.append(seconds)
            peaks.append(peak)
        print(
            f"{mode}: {entries} events ahead; read CPU median {statistics.median(cpu):.2f} s "
            f"(min {min(cpu):.2f}, max {max(cpu):.2f}); peak RSS {max(peaks):.1f} MB"
        )


if __name__ == "__main__":
    main()
