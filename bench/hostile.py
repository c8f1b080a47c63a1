"""A hostile web, measured: what each misbehaving website costs a `fedibridge once` (or `run`).

    python -m bench.hostile [--only NAME] [--write]

Every case runs the bridge in its own process against a loopback website that misbehaves
that way (tests/hostile.py) beside a good feed, and a mastodon-mock server. It prints, per case,
the exit code, the wall time and the bridge's peak memory (its ru_maxrss) and what it
said; with --write it saves bench/results/hostile.json and puts the table into
docs/reliability.md (between the HOSTILE markers). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import ChildRun, bridge_env, fedibridge_command  # noqa: E402
from mastodon_mock.testing import MockServer  # noqa: E402
from tests.hostile import HostileSite, gzipped_zeros  # noqa: E402
from tests.test_cli import rss  # noqa: E402

DOC = ROOT / "docs" / "reliability.md"
RESULT = ROOT / "bench" / "results" / "hostile.json"
BEGIN, END = "<!-- HOSTILE BEGIN -->", "<!-- HOSTILE END -->"
TOKEN = "alice_token"  # mastodon-mock's seeded account; a fixture, not a credential
BOMB = 2_360_000_000  # bytes once inflated, as in issue 11
TRICKLE_EVERY = 5.0  # seconds between bytes, as in issue 11


@dataclass
class Outcome:
    case: str
    limit: str
    does: str
    exit_code: int
    wall_s: float
    peak_mb: float
    said: str


@dataclass(frozen=True)
class Case:
    name: str
    limit: str
    does: str
    run: Callable[[Path, HostileSite, str], Outcome]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the case whose name contains this")
    parser.add_argument("--write", action="store_true", help="update results and the docs")
    args = parser.parse_args()
    # Made before the clock runs: compressing 2.36 GB takes a while.
    stacked, single = len(gzipped_zeros(BOMB, layers=2)), len(gzipped_zeros(BOMB))
    print(
        f"bombs: {BOMB / 1e9:.2f} GB inflated; gzip,gzip {stacked / 1024:.0f} KB on the wire, "
        f"gzip {single / 1024 / 1024:.1f} MB"
    )
    outcomes = []
    with (
        HostileSite(rss(1, 2), trickle_every=TRICKLE_EVERY, bomb_size=BOMB) as site,
        MockServer() as mastodon,
    ):
        for case in CASES:
            if args.only and args.only not in case.name:
                continue
            with tempfile.TemporaryDirectory(prefix="fedibridge-hostile-") as folder:
                outcome = case.run(Path(folder), site, mastodon.base_url)
            outcome.case, outcome.limit, outcome.does = case.name, case.limit, case.does
            outcomes.append(outcome)
            print(
                f"{outcome.case}: exit {outcome.exit_code}, {outcome.wall_s:.1f} s, "
                f"{outcome.peak_mb:.0f} MB: {outcome.said}",
                flush=True,
            )
    if args.write:
        RESULT.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
        _write_table(outcomes)
    return 0


# --- the cases --------------------------------------------------------------------------------


def _feed_case(path: str) -> Callable[[Path, HostileSite, str], Outcome]:
    """`once` with the hostile feed first and a good feed after it."""

    def run(folder: Path, site: HostileSite, server: str) -> Outcome:
        config = _config(folder, server, {"hostile": site.url(path), "good": site.url("/feed.rss")})
        return _once(config)

    return run


def _picture_case(path: str) -> Callable[[Path, HostileSite, str], Outcome]:
    """`once` posting a new item whose picture is the hostile answer."""

    def run(folder: Path, site: HostileSite, server: str) -> Outcome:
        feed = folder / "feed.rss"
        feed.write_bytes(rss(1))
        config = _config(folder, server, {"pictures": str(feed)})
        # The pictures are on loopback, which a feed's content may not name otherwise.
        config.write_text(config.read_text() + "allow_private_network = true\n")
        _once(config)  # the baseline
        enclosure = f'<enclosure url="{site.url(path)}" type="image/png"/></item>'
        feed.write_bytes(rss(1, 2).replace(b"</item>", enclosure.encode(), 1))
        return _once(config)

    return run


def _sigterm_case(folder: Path, site: HostileSite, server: str) -> Outcome:
    """`run` polling a trickling feed and a silent one; SIGTERM once both are in flight."""
    config = _config(folder, server, {"trickle": site.url("/trickle-run.rss"),
                                      "silent": site.url("/silent-run.rss")})  # fmt: skip
    signalled: list[float] = []

    def stop_when_stuck(pid: int) -> None:
        deadline = time.monotonic() + 30
        while not {"/trickle-run.rss", "/silent-run.rss"} <= set(site.seen):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(1)
        signalled.append(time.perf_counter())
        os.kill(pid, signal.SIGTERM)

    started = time.perf_counter()
    child, peak = _measure(
        [*fedibridge_command(), "--config", str(config), "run"],
        folder,
        timeout=120,
        while_running=stop_when_stuck,
    )
    after_signal = started + child.wall - signalled[0] if signalled else child.wall
    return Outcome("", "", "", child.exit_code, after_signal, peak, _said(child.stdout))


def _post_hangs_case(folder: Path, site: HostileSite, server: str) -> Outcome:
    """`run` posting to a server that takes 60 s to answer; SIGTERM once the post is sent."""
    feed = folder / "feed.rss"
    feed.write_bytes(rss(1))
    config = _config(folder, server, {"events": str(feed)})
    _once(config)  # the baseline
    feed.write_bytes(rss(1, 2))
    rule = {
        "match": {"path": "/api/v1/statuses", "methods": ["POST"]},
        "effect": {"type": "latency", "delay_ms": 60_000},
        "count": 1,
    }
    httpx.post(f"{server}/api/v1/_mock/faults", json=rule).raise_for_status()
    state = folder / "state" / "fedibridge.sqlite3"
    signalled: list[float] = []

    def stop_when_posting(pid: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _attempted(state):
            time.sleep(0.1)
        signalled.append(time.perf_counter())
        os.kill(pid, signal.SIGTERM)

    started = time.perf_counter()
    child, peak = _measure(
        [*fedibridge_command(), "--config", str(config), "run"],
        folder,
        timeout=120,
        while_running=stop_when_posting,
    )
    after_signal = started + child.wall - signalled[0] if signalled else child.wall
    said = _said(child.stdout)
    return Outcome("", "", "", child.exit_code, after_signal, peak, said)


def _many_pictures_case(folder: Path, site: HostileSite, server: str) -> Outcome:
    """`run` posting one new item on each of 4 feeds at once, each with 4 pictures of 9 MB."""
    feeds = {f"pictures{n}": folder / f"feed{n}.rss" for n in range(4)}
    for feed in feeds.values():
        feed.write_bytes(rss(1))
    config = _config(folder, server, {name: str(path) for name, path in feeds.items()})
    config.write_text(
        config.read_text().replace('.rss"\n', '.rss"\nallow_private_network = true\n')
    )
    _once(config)  # the baseline
    for n, feed in enumerate(feeds.values()):
        pictures = "".join(
            f'<enclosure url="{site.url(f"/big-picture-{n}-{p}.png")}" type="image/png"/>'
            for p in range(4)
        )
        feed.write_bytes(rss(1, 2).replace(b"</item>", f"{pictures}</item>".encode(), 1))
    state = folder / "state" / "fedibridge.sqlite3"

    def until_posted(pid: int) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and _posted(state) < len(feeds):
            time.sleep(0.5)
        os.kill(pid, signal.SIGTERM)

    child, peak = _measure(
        [*fedibridge_command(), "--config", str(config), "run"],
        folder,
        timeout=400,
        while_running=until_posted,
    )
    left_out = child.stdout.count("is left out")
    said = f"{_posted(state)} of {len(feeds)} items posted; {left_out} pictures left out"
    return Outcome("", "", "", child.exit_code, child.wall, peak, said)


def _posted(state: Path) -> int:
    try:
        with sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True, timeout=5) as db:
            query = "SELECT COUNT(*) FROM entries WHERE state = 'posted'"
            return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def _attempted(state: Path) -> bool:
    try:
        with sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT 1 FROM entries WHERE attempts > 0").fetchone() is not None
    except sqlite3.Error:
        return False


def _full_disk_case(folder: Path, site: HostileSite, server: str) -> Outcome:
    """`once` with 64 KB of room for files (RLIMIT_FSIZE), as a full disk behaves."""
    feed = folder / "feed.rss"
    big = {"summary": "A long description. " * 1000}
    feed.write_bytes(rss(1, **big))
    config = _config(folder, server, {"big": str(feed), "good": site.url("/feed.rss")})
    _once(config)
    feed.write_bytes(rss(1, 2, 3, 4, 5, **big))
    limit = 64 * 1024
    return _once(config, preexec=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))


MANY_FEEDS = 1000


def _first_round_case(folder: Path, site: HostileSite, server: str) -> Outcome:
    """`run` with many feeds at a 1-minute interval: how long until every one was polled."""
    feed = folder / "feed.rss"
    feed.write_bytes(rss(1, 2))
    feeds = {f"f{number}": str(feed) for number in range(MANY_FEEDS)}
    config = _config(folder, server, feeds)
    config.write_text(
        config.read_text().replace("[accounts.main]", 'interval = "1m"\n\n[accounts.main]')
    )
    state = folder / "state" / "fedibridge.sqlite3"
    polled: list[float] = []

    def until_all_polled(pid: int) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if _polled_feeds(state) >= MANY_FEEDS:
                polled.append(time.perf_counter())
                break
        os.kill(pid, signal.SIGTERM)

    started = time.perf_counter()
    child, peak = _measure(
        [*fedibridge_command(), "--config", str(config), "run"],
        folder,
        timeout=240,
        while_running=until_all_polled,
    )
    took = polled[0] - started if polled else float("nan")
    said = f"{_polled_feeds(state)} of {MANY_FEEDS} feeds polled after {took:.0f} s"
    return Outcome("", "", "", child.exit_code, took, peak, said)


def _polled_feeds(state: Path) -> int:
    try:
        with sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True, timeout=5) as db:
            return int(
                db.execute("SELECT COUNT(*) FROM feeds WHERE last_polled_at NOT NULL").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


CASES = (
    Case("baseline: a good feed only", "—", "polls it (first visit)", _feed_case("/feed2.rss")),
    Case("feed: gzip,gzip bomb (2.36 GB inflated)", "one content coding",
         "refused before inflating; next feed polled; failure recorded",
         _feed_case("/bomb-gzip-gzip.rss")),
    Case("feed: gzip bomb (2.36 GB inflated)", "10 MB inflated",
         "stops at 10 MB; next feed polled; failure recorded", _feed_case("/bomb-gzip.rss")),
    Case("feed: headers, then 1 byte every 5 s", "60 s per whole feed",
         "cut at 60 s; next feed polled; failure recorded", _feed_case("/trickle.rss")),
    Case("feed: accepts, never answers", "30 s for headers, 60 s in all",
         "gives up at 30 s; next feed polled", _feed_case("/silent.rss")),
    Case("feed: 302 to gopher://", "http and https only",
         "a passing problem, named; not a gone feed", _feed_case("/gopher.rss")),
    Case("picture: gzip,gzip bomb", "one content coding",
         "picture left out, item posted", _picture_case("/bomb-gzip-gzip.png")),
    Case("picture: gzip bomb", "the server's image size (10 MB here)",
         "picture left out, item posted", _picture_case("/bomb-gzip.png")),
    Case("pictures: 4 feeds at once, 4 pictures of 9 MB each", "2 items' pictures in memory",
         "all posted with their pictures (time: the whole run)", _many_pictures_case),
    Case("picture: 1 byte every 5 s", "60 s per picture, outside the account lock",
         "picture left out at 60 s, item posted", _picture_case("/trickle-picture.png")),
    Case("picture: an HTML page", "a picture type",
         "picture left out, said so", _picture_case("/html-picture.png")),
    Case("run: SIGTERM with a trickling and a silent feed", "exit within 30 s",
         "transfers cut at once; exit 0 (time is from the signal)", _sigterm_case),
    Case("run: SIGTERM while the server takes 60 s to answer a post", "exit within 30 s",
         "waits 20 s for the post, then exits 0; the item is reconciled at the next start",
         _post_hangs_case),
    Case("state: full disk during once (64 KB file limit)", "exit 2 with the file named",
         "every feed still read; nothing half-recorded", _full_disk_case),
    Case(f"run: first round of {MANY_FEEDS} feeds at 1 minute", "all within 66 s of the start",
         "first polls spread over the interval (time: start to the last first poll)",
         _first_round_case),
)  # fmt: skip


# --- helpers ----------------------------------------------------------------------------------


def _config(folder: Path, server: str, feeds: dict[str, str]) -> Path:
    token = folder / "token"
    token.write_text(TOKEN + "\n")
    lines = "".join(f'\n[feeds.{name}]\nurl = "{url}"\n' for name, url in feeds.items())
    path = folder / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [bridge]
        state_path = "{folder}/state/fedibridge.sqlite3"

        [accounts.main]
        server = "{server}"
        access_token_file = "{token}"
        """)
        + lines
    )
    return path


def _once(config: Path, preexec: Callable[[], None] | None = None) -> Outcome:
    argv = [*fedibridge_command(), "--config", str(config), "once"]
    child, peak = _measure(argv, config.parent, preexec=preexec)
    said = _said(child.stdout + child.stderr)
    return Outcome("", "", "", child.exit_code, child.wall, peak, said)


# The bridge runs under a tiny launcher that reports the bridge's own peak memory: a child
# spawned straight from this process would count this process's memory too (on Linux, a
# vforked child's ru_maxrss includes its parent's before exec), and this one holds the
# mastodon-mock server.
_LAUNCHER = """\
import resource, signal, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
signal.signal(signal.SIGTERM, lambda number, frame: child.send_signal(number))
code = child.wait()
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def _measure(
    argv: list[str],
    cwd: Path,
    *,
    timeout: float = 300,
    while_running: Callable[[int], None] | None = None,
    preexec: Callable[[], None] | None = None,
) -> tuple[ChildRun, float]:
    """Run the bridge to its end; its outcome and its peak memory in MB."""
    peak_file = cwd / "peak-rss-kb"
    launched = [sys.executable, "-c", _LAUNCHER, str(peak_file), *argv]
    out_path, err_path = cwd / "child.stdout", cwd / "child.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            launched, cwd=cwd, env=bridge_env(), stdout=out, stderr=err, preexec_fn=preexec
        )
        try:
            if while_running is not None:
                while_running(process.pid)
            code = process.wait(timeout=timeout)
        finally:
            process.kill()
    child = ChildRun(
        wall=time.perf_counter() - start,
        user=0.0,
        system=0.0,
        max_rss_kb=int(peak_file.read_text()) if peak_file.exists() else 0,
        exit_code=code,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )
    return child, child.max_rss_kb / 1024


def _said(output: str) -> str:
    """The bridge's most telling line, shortened."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for word in ("left out", "fedibridge:", "stopping now", "took longer", "compressed",
                 "larger than", "redirected", "too long", "feed hostile", "stopped"):  # fmt: skip
        for line in lines:
            if word in line:
                return line[:220]
    return lines[-1][:220] if lines else ""


def _write_table(outcomes: list[Outcome]) -> None:
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, CPython "
        f"{platform.python_version()} by `python -m bench.hostile --write`. Peak memory is "
        "the bridge process's ru_maxrss; time is the whole `once` (for SIGTERM: from the "
        "signal to the exit).\n\n"
        "| case | limit | what fedibridge does | exit | peak memory | time |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {o.case} | {o.limit} | {o.does} | {o.exit_code} | {o.peak_mb:.0f} MB "
        f"| {o.wall_s:.1f} s |\n"
        for o in outcomes
    )
    text = DOC.read_text()
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END)
    DOC.write_text(f"{before}{BEGIN}\n{header}{rows}{END}{after}")


if __name__ == "__main__":
    sys.exit(main())
