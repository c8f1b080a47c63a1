"""One polling cycle for one feed: fetch → parse → plan → state → render → publish → state.

``once`` calls it for every feed; the daemon calls it from one scheduled job per feed. The
steps themselves live in their own modules; this one only wires them and decides what a
failure of each step means for the items (they stay pending unless the server refused them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fedibridge.config import Settings, read_token
from fedibridge.errors import (
    AccountUnusable,
    ConfigError,
    FeedError,
    PostRejected,
    ServerUnavailable,
)
from fedibridge.fetch import fetch, make_client
from fedibridge.models import (
    Entry,
    Fetched,
    ParsedFeed,
    Post,
    ServerLimits,
    Style,
    Validators,
)
from fedibridge.parse import parse_feed
from fedibridge.plan import idempotency_key, newest, plan_entries
from fedibridge.publish import Publisher
from fedibridge.publish.mastodon import MastodonPublisher, read_limits
from fedibridge.render import render
from fedibridge.state import OutboxItem, State

log = logging.getLogger("fedibridge")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """A post that was sent (status_url set), would be sent (dry run) or was refused."""

    feed: str
    entry_key: str
    post: Post
    status_url: str | None = None
    error: str | None = None


@dataclass(slots=True)
class FeedReport:
    feed: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)  # what happened, for staff
    posts: list[PostOutcome] = field(default_factory=list)

    def problem(self, message: str) -> None:
        self.ok = False
        self.lines.append(message)

    def say(self, message: str) -> None:
        self.lines.append(message)


@dataclass(frozen=True, slots=True)
class _Unsaved:
    entries: list[Entry] = field(default_factory=list)
    title: str = ""


class Bridge:
    """Runs cycles. Holds what lives longer than one cycle: HTTP clients and publishers."""

    def __init__(
        self,
        settings: Settings,
        *,
        dry_run: bool = False,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self.clock = clock
        self.stop = stop or threading.Event()
        self.http = make_client(settings.bridge.contact)
        self._user_agent = self.http.headers["User-Agent"]
        self._publishers: dict[str, Publisher] = {}
        self._account_problems: dict[str, str] = {}
        # One post at a time per account: keeps posting order and the server's rate budget.
        self._account_locks = {name: threading.Lock() for name in settings.accounts}

    def close(self) -> None:
        self.http.close()

    def run_all(self) -> list[FeedReport]:
        return [self.run_feed(name) for name in self.settings.feeds if not self.stop.is_set()]

    def run_feed(self, name: str) -> FeedReport:
        report = FeedReport(name)
        if self.settings.feeds[name].paused:
            report.say("paused in the config (paused = true); not polled")
            return report
        with self._state() as state:
            unsaved = self._poll(state, name, report)
            self._publish(state, name, report, unsaved)
        return report

    # --- steps ----------------------------------------------------------------

    def _read(self, name: str, validators: Validators) -> tuple[Fetched, ParsedFeed | None]:
        """Fetch and parse one feed; no ParsedFeed when the server said "not modified"."""
        fetched = fetch(self.http, self.settings.feeds[name].url, validators)
        if fetched.body is None:
            return fetched, None
        return fetched, parse_feed(fetched.body, fetched.url, fetched.content_type)

    @contextmanager
    def _state(self) -> Iterator[State]:
        path = self.settings.bridge.state_path
        state = State.open_readonly(path) if self.dry_run else State.open(path)
        try:
            yield state
        finally:
            state.close()

    def _poll(self, state: State, name: str, report: FeedReport) -> _Unsaved:
        """Fetch, parse, plan and store. A dry run stores nothing and returns what it would
        have stored, so that publishing can show those posts."""
        config = self.settings.feeds[name]
        row = state.feed(name)
        same_url = row is not None and row.url == config.url
        validators = row.validators if row is not None and same_url else None
        now = self.clock()
        try:
            fetched, parsed = self._read(name, validators or Validators())
        except FeedError as error:
            message = _feed_problem(name, error)
            if not self.dry_run:
                state.record_fetch_failure(name, config.url, now=now, message=message)
            report.problem(message)
            return _Unsaved()
        if parsed is None:
            if not self.dry_run:
                state.record_fetch(name, config.url, now=now, result="not modified")
            report.say("not modified since the last poll")
            return _Unsaved()
        plan = plan_entries(
            parsed.entries,
            state.known_keys(name, (e.key for e in parsed.entries)),
            first_contact=row is None or row.first_contact,
            backfill=config.backfill,
            flood_items=config.flood_guard_items,
            flood_ratio=config.flood_guard_ratio,
        )
        for reason in parsed.dropped:
            report.say(f"item left out: {reason}")
        if plan.note:
            report.say(plan.note)
        if fetched.moved_to:
            report.say(_moved(name, fetched.moved_to))
        if self.dry_run:
            planned = [n.entry for n in plan.new if n.state == "pending"]
            return _Unsaved(planned, parsed.title)
        state.record_fetch(
            name,
            config.url,
            now=now,
            result=f"{len(plan.new)} new, {plan.to_post} to post",
            validators=fetched.validators,
            title=parsed.title,
            moved_to=fetched.moved_to,
            new_entries=plan.new,
        )
        report.say(f"{len(parsed.entries)} items, {len(plan.new)} new, {plan.to_post} to post")
        return _Unsaved()

    def _publish(self, state: State, name: str, report: FeedReport, unsaved: _Unsaved) -> None:
        items = state.pending(name) + [OutboxItem(name, e.key, e, 0) for e in unsaved.entries]
        if not items:
            return
        account = self.settings.account_for(name)
        row = state.feed(name)
        title = unsaved.title or (row.title if row else "")
        style = self.settings.feeds[name].style(title)
        if self.dry_run:
            limits = self._public_limits(account)
            report.posts += [
                PostOutcome(name, i.key, render(i.entry, style, limits)) for i in items
            ]
            return
        with self._account_locks[account]:
            publisher = self._publisher(account, report)
            if publisher is None:
                self._leave_pending(state, items, self._account_problems[account])
                return
            try:
                limits = publisher.limits()
            except ServerUnavailable as error:
                report.problem(f"{len(items)} items wait: {error}")
                self._leave_pending(state, items, str(error))
                return
            for item in items:
                if self.stop.is_set():
                    report.say("stopping: the remaining items stay pending for the next start")
                    return
                if not self._post_one(state, publisher, account, item, style, limits, report):
                    return

    def _post_one(
        self,
        state: State,
        publisher: Publisher,
        account: str,
        item: OutboxItem,
        style: Style,
        limits: ServerLimits,
        report: FeedReport,
    ) -> bool:
        """Post one item. False when the account cannot take more posts this cycle."""
        server = self.settings.accounts[account].server
        key = idempotency_key(server, account, item.feed, item.key)
        post = render(item.entry, style, limits)
        state.mark_attempt(item.feed, item.key, now=self.clock())
        try:
            try:
                published = publisher.post(post, key)
            except PostRejected as error:
                if not (error.too_long and limits.characters_per_url is not None):
                    raise
                # Some servers count every character of a link although they advertise a
                # fixed weight per URL: render again counting that way, and try once more.
                post = render(item.entry, style, limits.counting_raw())
                published = publisher.post(post, key)
        except PostRejected as error:
            reason = f"the server refused this post: {error.reason}"
            state.mark_failed(item.feed, item.key, reason=reason)
            report.posts.append(PostOutcome(item.feed, item.key, post, error=reason))
            report.problem(f"{_describe(item.entry)} not posted: {reason}")
            return True
        except ServerUnavailable as error:
            state.note_waiting(item.feed, item.key, reason=str(error))
            report.problem(f"posting paused until the next poll: {error}")
            return False
        except AccountUnusable as error:
            message = self._account_down(account, str(error))
            state.note_waiting(item.feed, item.key, reason=message)
            report.problem(message)
            return False
        state.mark_posted(
            item.feed,
            item.key,
            status_id=published.status_id,
            status_url=published.url,
            now=self.clock(),
        )
        report.posts.append(PostOutcome(item.feed, item.key, post, status_url=published.url))
        return True

    # --- looking without posting ------------------------------------------------

    def preview(self, name: str, count: int) -> FeedReport:
        """The posts the ``count`` newest items would become, whatever the state says."""
        report = FeedReport(name)
        try:
            _, parsed = self._read(name, Validators())
        except FeedError as error:
            report.problem(_feed_problem(name, error))
            return report
        assert parsed is not None  # an unconditional request is never "not modified"
        limits = self._public_limits(self.settings.account_for(name))
        style = self.settings.feeds[name].style(parsed.title)
        report.posts = [
            PostOutcome(name, e.key, render(e, style, limits))
            for e in newest(parsed.entries, count)
        ]
        return report

    def check_feed(self, name: str) -> FeedReport:
        report = FeedReport(name)
        try:
            fetched, parsed = self._read(name, Validators())
        except FeedError as error:
            report.problem(_feed_problem(name, error))
            return report
        assert parsed is not None
        title = f'"{parsed.title}"' if parsed.title else "(no title)"
        report.say(f"ok: {title}, {len(parsed.entries)} items")
        if fetched.moved_to:
            report.say(_moved(name, fetched.moved_to))
        return report

    def check_account(self, account: str) -> tuple[bool, str]:
        report = FeedReport(account)
        publisher = self._publisher(account, report)
        if publisher is None:
            return False, self._account_problems[account]
        try:
            handle = publisher.verify()
            limits = publisher.limits()
        except (AccountUnusable, ServerUnavailable) as error:
            return False, f"account {account}: {error} (accounts.{account})"
        return True, (
            f"ok: posting as {handle}, up to {limits.max_characters} characters and "
            f"{limits.max_media} images per post"
        )

    # --- accounts --------------------------------------------------------------

    def _publisher(self, account: str, report: FeedReport) -> Publisher | None:
        if account in self._account_problems:
            report.problem(self._account_problems[account])
            return None
        if account not in self._publishers:
            try:
                token = read_token(self.settings, account)
            except ConfigError as error:
                report.problem(self._account_down(account, str(error)))
                return None
            self._publishers[account] = MastodonPublisher(
                self.settings.accounts[account].server,
                token,
                user_agent=self._user_agent,
                http=self.http,
            )
        return self._publishers[account]

    def _account_down(self, account: str, message: str) -> str:
        text = (
            f"account {account}: {message}. Items stay pending and are posted once this is "
            f"fixed (see accounts.{account} in the config; `fedibridge check` tests the token)."
        )
        self._account_problems[account] = text
        return text

    def _leave_pending(self, state: State, items: list[OutboxItem], reason: str) -> None:
        for item in items:
            state.note_waiting(item.feed, item.key, reason=reason)

    def _public_limits(self, account: str) -> ServerLimits:
        """Limits for showing posts without a token: the server's if it answers, else
        Mastodon's defaults, so that previews work offline too."""
        server = self.settings.accounts[account].server
        try:
            return read_limits(self.http, server)
        except ServerUnavailable as error:
            log.info("%s; showing posts with Mastodon's default limits", error)
            return ServerLimits()


def _feed_problem(name: str, error: FeedError) -> str:
    return f"{error} (feeds.{name}.url)"


def _moved(name: str, new_url: str) -> str:
    return f"the feed has moved permanently to {new_url}: update feeds.{name}.url in the config"


def _describe(entry: Entry) -> str:
    return f'"{entry.title}"' if entry.title else (entry.link or entry.key)
