"""SIGKILL at random moments and servers that fail at random: every item arrives exactly once.

A few trials per test run; bench/faults.py runs hundreds and writes docs/reliability.md.
"""

from __future__ import annotations

import random

import pytest

from tests.chaos import Chaos


@pytest.mark.parametrize("ignore_idempotency_key", [False, True])
def test_random_kills_neither_lose_nor_duplicate(ignore_idempotency_key: bool) -> None:
    rng = random.Random(20261126)
    with Chaos(ignore_idempotency_key=ignore_idempotency_key) as chaos:
        for _ in range(4):
            result = chaos.kill_trial(rng, items=4, kills=3)
            assert (result.duplicated, result.lost) == (0, 0), result


@pytest.mark.parametrize("rate", [0.3, 0.5])
def test_a_failing_server_neither_loses_nor_duplicates(rate: float) -> None:
    rng = random.Random(7)
    with Chaos(ignore_idempotency_key=True) as chaos:
        result = chaos.fault_trial(rng, rate=rate, items=10)
    assert (result.duplicated, result.lost) == (0, 0), result
