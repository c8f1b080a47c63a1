"""Fault-injection harness: hundreds of SIGKILL trials and fault rates, with figures.

    python -m bench.faults [--kills N] [--seed S] [--write]

Prints items expected, posted, duplicated and lost for each scenario; with --write it also
puts the table into docs/reliability.md (between the FIGURES markers). Loopback only.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos import Chaos, TrialResult  # noqa: E402

DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- FIGURES BEGIN -->", "<!-- FIGURES END -->"


def scenario(
    name: str, trials: int, ignore_key: bool, trial: Callable[[Chaos, random.Random], TrialResult]
) -> str:
    rng = random.Random(hash((name, trials)) & 0xFFFF)
    started = time.monotonic()
    results = []
    with Chaos(ignore_idempotency_key=ignore_key) as chaos:
        for number in range(trials):
            results.append(trial(chaos, rng))
            if (number + 1) % 25 == 0:
                print(f"  {name}: {number + 1}/{trials}", file=sys.stderr)
    row = (
        f"| {name} | {trials} | {sum(r.kills for r in results)} "
        f"| {sum(r.kills_while_posting for r in results)} | {sum(r.expected for r in results)} "
        f"| {sum(r.posted for r in results)} | {sum(r.duplicated for r in results)} "
        f"| {sum(r.lost for r in results)} | {time.monotonic() - started:.0f} s |"
    )
    print(row)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=100, help="kill trials per server kind")
    parser.add_argument("--fault-trials", type=int, default=5, help="trials per fault rate")
    parser.add_argument("--write", action="store_true", help="update docs/reliability.md")
    args = parser.parse_args()
    header = (
        "| scenario | trials | SIGKILLs | of them mid-posting | items expected | posted "
        "| duplicated | lost | time |\n|---|---|---|---|---|---|---|---|---|"
    )
    print(header)
    rows = [
        scenario(
            "3 SIGKILLs per trial, Mastodon (honours Idempotency-Key)",
            args.kills,
            False,
            lambda chaos, rng: chaos.kill_trial(rng, items=5, kills=3),
        ),
        scenario(
            "3 SIGKILLs per trial, server ignoring Idempotency-Key",
            args.kills,
            True,
            lambda chaos, rng: chaos.kill_trial(rng, items=5, kills=3),
        ),
    ]
    for rate in (0.1, 0.3, 0.5):
        rows.append(
            scenario(
                f"{rate:.0%} of posts fail (503 or lost answer), no Idempotency-Key",
                args.fault_trials,
                True,
                lambda chaos, rng, rate=rate: chaos.fault_trial(rng, rate=rate, items=20),
            )
        )
    if args.write:
        machine = (
            f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
        )
        table = "\n".join(
            [
                f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine} "
                "by `python -m bench.faults --write`.",
                "",
                header,
                *rows,
            ]
        )
        text = DOC.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOC.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
