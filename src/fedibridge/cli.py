"""The commands staff use: ``fedibridge [--config PATH] COMMAND``.

Exit codes: 0 all well; 1 the command ran but a feed or account had a problem; 2 the
configuration or the state database cannot be used. Heavy libraries are imported only by the
command that needs them, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from fedibridge import __version__
from fedibridge.health import HEALTHY_INTERVALS

if TYPE_CHECKING:
    from fedibridge.config import FeedConfig, Settings
    from fedibridge.report import FeedReport, PostOutcome
    from fedibridge.state import State

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_CONFIG = 2

COMMANDS = (
    "run",
    "once",
    "preview",
    "check",
    "status",
    "retry",
    "healthcheck",
    "backup",
    "restore",
    "login",
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the configuration file (default: $FEDIBRIDGE_CONFIG, else ./config.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="fedibridge",
        parents=[common],
        description="Post a library's RSS/Atom feeds to its fediverse account, each item once.",
    )
    parser.add_argument("--version", action="version", version=f"fedibridge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser(
        "run", parents=[common], help="keep polling every feed and posting new items (the daemon)"
    )
    once = commands.add_parser(
        "once", parents=[common], help="poll every feed once, post what is new, then exit"
    )
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="show the posts that would be made; post nothing and change nothing",
    )
    once.add_argument("--json", action="store_true", help="one JSON object per post")

    preview = commands.add_parser(
        "preview", parents=[common], help="show what the newest items would look like as posts"
    )
    preview.add_argument("feed", nargs="?", metavar="FEED", help="only this feed (its name)")
    preview.add_argument(
        "--limit", type=int, default=3, metavar="N", help="items per feed (default 3)"
    )
    preview.add_argument("--json", action="store_true", help="one JSON object per post")

    commands.add_parser(
        "check", parents=[common], help="test the config, every feed and every account's token"
    )
    status = commands.add_parser(
        "status", parents=[common], help="per feed: last poll, items posted, pending and failed"
    )
    status.add_argument(
        "--json", action="store_true", help="the same facts as one JSON document (for monitoring)"
    )
    retry = commands.add_parser(
        "retry",
        parents=[common],
        help="post refused items of a feed again, and poll a stopped feed again",
    )
    retry.add_argument("feed", metavar="FEED", help="the feed's name")
    retry.add_argument(
        "entry", nargs="?", metavar="ENTRY", help="only this item (its key, as `status` shows)"
    )
    commands.add_parser(
        "healthcheck",
        parents=[common],
        help=f"exit 0 if every feed was polled in the last {HEALTHY_INTERVALS} intervals "
        "(for container health checks)",
    )
    backup = commands.add_parser(
        "backup",
        parents=[common],
        help="write a checked copy of the state database (safe while fedibridge runs)",
    )
    backup.add_argument("file", metavar="FILE", help="where to write it; - for standard output")
    restore = commands.add_parser(
        "restore",
        parents=[common],
        help="replace the state database with a backup (stop fedibridge first)",
    )
    restore.add_argument("file", metavar="FILE", help="the backup; - for standard input")
    login = commands.add_parser(
        "login",
        parents=[common],
        help="connect an account: get a token from its server and save it in access_token_file",
    )
    login.add_argument("account", metavar="ACCOUNT", help="the account's name ([accounts.NAME])")
    login.add_argument(
        "--code",
        metavar="CODE",
        help="second step, Mastodon-API servers: the code shown after you allowed access",
    )
    login.add_argument(
        "--done",
        action="store_true",
        help="second step, Misskey-family servers: after you allowed access in the browser",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_code_joined(sys.argv[1:] if argv is None else argv))
    from fedibridge.config import config_path, load_settings
    from fedibridge.errors import ConfigError, StateError

    path = config_path(getattr(args, "config", None))
    try:
        settings = load_settings(path)
        command: Callable[[Settings, argparse.Namespace], int] = _COMMANDS[args.command]
        return command(settings, args)
    except ConfigError as error:
        print(f"fedibridge cannot use the configuration in {path}:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except StateError as error:
        print(f"fedibridge: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK


def _code_joined(argv: Sequence[str]) -> list[str]:
    """``--code VALUE`` as ``--code=VALUE``. A server's code may begin with "-" (Mastodon's
    are URL-safe base64, so one in 64 does), which argparse takes for an option and refuses
    with "expected one argument"."""
    args = list(argv)
    for index, arg in enumerate(args[:-1]):
        if arg == "--code":
            return [*args[:index], f"--code={args[index + 1]}", *args[index + 2 :]]
    return args


# --- commands -------------------------------------------------------------------


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.daemon import run_daemon
    from fedibridge.logs import setup

    setup(sys.stdout, settings.bridge.log_format)
    return run_daemon(settings, force_exit=True)


def _once(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.cycle import Bridge
    from fedibridge.state import StateLock

    _log_to(sys.stderr, logging.WARNING)
    bridge = Bridge(settings, dry_run=args.dry_run)
    try:
        if args.dry_run:
            reports = bridge.run_all()
        else:
            with StateLock(settings.bridge.state_path):
                reports = bridge.run_all()
    finally:
        bridge.close()
    _print_reports(reports, as_json=args.json, dry_run=args.dry_run)
    if bridge.state_error is not None:
        raise bridge.state_error
    return EXIT_OK if all(r.ok for r in reports) else EXIT_PROBLEM


def _preview(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.cycle import Bridge
    from fedibridge.errors import ConfigError

    names = [args.feed] if args.feed else list(settings.feeds)
    unknown = [n for n in names if n not in settings.feeds]
    if unknown:
        known = ", ".join(settings.feeds)
        raise ConfigError([f"feeds.{unknown[0]}: no such feed in the config (feeds: {known})"])
    _log_to(sys.stderr, logging.WARNING)
    bridge = Bridge(settings, dry_run=True)
    try:
        reports = [bridge.preview(name, max(1, args.limit)) for name in names]
    finally:
        bridge.close()
    _print_reports(reports, as_json=args.json, dry_run=True)
    return EXIT_OK if all(r.ok for r in reports) else EXIT_PROBLEM


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.cycle import Bridge

    _log_to(sys.stderr, logging.WARNING)
    print("config: ok")
    ok = True
    bridge = Bridge(settings, dry_run=True)
    try:
        for name in settings.feeds:
            report = bridge.check_feed(name)
            ok &= report.ok
            for line in report.lines:
                print(f"feed {name}: {line}")
        for account in settings.accounts:
            account_ok, line = bridge.check_account(account)
            ok &= account_ok
            print(line if not account_ok else f"account {account}: {line}")
    finally:
        bridge.close()
    return EXIT_OK if ok else EXIT_PROBLEM


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.errors import ConfigError
    from fedibridge.state import State

    if args.feed not in settings.feeds:
        known = ", ".join(settings.feeds)
        raise ConfigError([f"feeds.{args.feed}: no such feed in the config (feeds: {known})"])
    # No StateLock: a running daemon may hold it, and this small change is safe beside it.
    state = State.open(settings.bridge.state_path)
    try:
        count = state.requeue(args.feed, args.entry)
        state.revive_feed(args.feed)
    finally:
        state.close()
    if args.entry and count == 0:
        print(f"feed {args.feed}: no item {args.entry} that could be posted again")
        return EXIT_PROBLEM
    items = "1 item" if count == 1 else f"{count} items"
    print(f"feed {args.feed}: {items} will be posted at the next poll; the feed is polled again")
    return EXIT_OK


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.state import State

    state = State.open_readonly(settings.bridge.state_path)
    try:
        feeds = [_feed_status(name, config, state) for name, config in settings.feeds.items()]
        size = state.size()
    finally:
        state.close()
    state_facts = {
        "bytes": size.bytes,
        "items": size.items + size.forgotten,
        "pruned": size.forgotten,
        "keep_days": settings.bridge.keep_days,
    }
    if args.json:
        document = {"feeds": feeds, "state": state_facts}
        print(json.dumps(document, ensure_ascii=False, indent=2, default=_iso))
    else:
        for feed in feeds:
            _print_feed_status(feed)
        print(
            f"state: {size.bytes / 1_000_000:.1f} MB, {state_facts['items']} items, "
            f"{size.forgotten} of them pruned to their keys "
            f"(kept whole for {settings.bridge.keep_days} days)"
        )
    return EXIT_OK


def _feed_status(name: str, config: FeedConfig, state: State) -> dict[str, Any]:
    """One feed's facts, for `status` and `status --json` alike."""
    row = state.feed(name)
    counts = state.counts(name)
    polled = row is not None and row.last_polled_at is not None
    return {
        "feed": name,
        "url": config.url,
        "paused": config.paused,
        "last_poll": row.last_polled_at if row else None,
        "last_result": row.last_result if row and polled else None,
        "problem": row.last_error if row and polled else None,
        "moved_to": row.moved_to if row and polled else None,
        "posted": counts.posted,
        "pending": counts.pending,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "skipped_because": [
            {"reason": reason, "items": count} for reason, count in state.skipped_reasons(name)
        ],
        "last_post": counts.last_status_url,
        "waiting_because": counts.last_failure if counts.pending else None,
        "failed_items": [
            {"key": key, "title": title, "reason": reason}
            for key, title, reason in state.failed_items(name)
        ],
    }


def _print_feed_status(feed: dict[str, Any]) -> None:
    name = feed["feed"]
    print(f"{name}  {feed['url']}")
    if feed["paused"]:
        print("  paused (paused = true in the config)")
    if feed["last_poll"] is None:
        print("  not polled yet")
    else:
        print(f"  last poll: {_when(feed['last_poll'])}: {feed['last_result']}")
        if feed["problem"]:
            print(f"  problem: {feed['problem']}")
        if feed["moved_to"]:
            print(f"  moved to {feed['moved_to']}: update feeds.{name}.url")
    print(
        f"  posted {feed['posted']}, pending {feed['pending']}, failed {feed['failed']}, "
        f"skipped {feed['skipped']}"
    )
    for skipped in feed["skipped_because"]:
        print(f"  skipped {skipped['items']}: {skipped['reason'] or 'no reason recorded'}")
    if feed["last_post"]:
        print(f"  last post: {feed['last_post']}")
    if feed["waiting_because"]:
        print(f"  waiting because: {feed['waiting_because']}")
    for item in feed["failed_items"]:
        print(f"  failed: {item['title'] or item['key']} ({item['key']}): {item['reason']}")
    if feed["failed"]:
        print(f"  to post them again: fedibridge retry {name} [KEY]")


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.health import check
    from fedibridge.state import State

    state = State.open_readonly(settings.bridge.state_path)
    try:
        # Not cycle.utc_now: importing the cycle loads Mastodon.py and httpx, 0.13 s of CPU
        # and 13 MB at every health check, which the image runs every 5 minutes.
        health = check(settings, state, datetime.now(UTC))
    finally:
        state.close()
    print(health.reason)
    return EXIT_OK if health.healthy else EXIT_PROBLEM


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.backup import STREAM, backup

    summary = backup(settings.bridge.state_path, args.file)
    # With "-" the backup itself is on standard output: the note goes to standard error.
    notes = sys.stderr if args.file == STREAM else sys.stdout
    where = "standard output" if args.file == STREAM else args.file
    print(
        f"backup written to {where} and checked: {summary.items} items, {summary.posted} posted",
        file=notes,
    )
    return EXIT_OK


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.backup import restore

    summary = restore(settings.bridge.state_path, args.file)
    print(
        f"restored {settings.bridge.state_path} from the backup: {summary.items} items, "
        f"{summary.posted} posted. Items posted after the backup was made are not in it: "
        "`fedibridge once --dry-run` shows what would be posted before you start fedibridge."
    )
    return EXIT_OK


def _login(settings: Settings, args: argparse.Namespace) -> int:
    from fedibridge.fetch import make_client
    from fedibridge.login import LoginError, login

    # With a terminal the code is typed in; without one (cron, CI) a second run brings it.
    ask = input if sys.stdin.isatty() else None
    http = make_client(settings.bridge.contact)
    try:
        login(settings, args.account, code=args.code, done=args.done, http=http, say=print, ask=ask)
    except LoginError as error:
        print(f"fedibridge login {args.account}: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        http.close()
    return EXIT_OK


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": _run,
    "once": _once,
    "preview": _preview,
    "check": _check,
    "status": _status,
    "retry": _retry,
    "healthcheck": _healthcheck,
    "backup": _backup,
    "restore": _restore,
    "login": _login,
}


# --- output ---------------------------------------------------------------------


def _print_reports(reports: list[FeedReport], *, as_json: bool, dry_run: bool) -> None:
    notes = sys.stderr if as_json else sys.stdout
    for report in reports:
        for line in report.lines:
            print(f"feed {report.feed}: {line}", file=notes)
        for outcome in report.posts:
            if as_json:
                print(json.dumps(post_json(outcome), ensure_ascii=False))
            else:
                _print_post(outcome, dry_run=dry_run)


def post_json(outcome: PostOutcome) -> dict[str, Any]:
    post = outcome.post
    return {
        "feed": outcome.feed,
        "entry_key": outcome.entry_key,
        "text": post.text,
        "link": post.link,
        "language": post.language,
        "visibility": post.visibility,
        "spoiler_text": post.spoiler_text,
        "media": [{"url": m.url, "alt": m.alt} for m in post.media],
        "status_url": outcome.status_url,
        "length": post.length,
        "limit": post.limit,
        "error": outcome.error,
        "kind": outcome.kind,
        "at": outcome.at.isoformat() if outcome.at else None,
    }


def _print_post(outcome: PostOutcome, *, dry_run: bool) -> None:
    post = outcome.post
    out = sys.stdout
    what = f"{outcome.kind} at {outcome.at:%a %d %b %Y %H:%M %Z}, " if outcome.at else ""
    print(f"── {outcome.feed}: {what}{post.length} of {post.limit} characters ──", file=out)
    if post.spoiler_text:
        print(f"[content warning: {post.spoiler_text}]", file=out)
    print(post.text, file=out)
    for image in post.media:
        print(f"[image {image.url} — description: {image.alt}]", file=out)
    if outcome.status_url:
        print(f"→ posted: {outcome.status_url}", file=out)
    elif outcome.error:
        print(f"→ not posted: {outcome.error}", file=out)
    elif dry_run:
        print("→ not posted (dry run)", file=out)
    print(file=out)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _log_to(stream: TextIO, level: int = logging.INFO) -> None:
    from fedibridge.logs import setup

    setup(stream, "text", level)
