"""One polling cycle for one feed: fetch → parse → plan → state, then deliver the outbox.

``once`` calls it for every feed; the daemon calls it from one scheduled job per feed. The
steps themselves live in their own modules; this one only wires them and decides what a
failure of each step means: a feed that fails is polled again after a backoff (or stopped,
when it is gone); items stay pending until their account can take them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fedibridge.config import Settings, read_token
from fedibridge.digest import digest_due, digest_post
from fedibridge.errors import (
    AccountUnusable,
    ConfigError,
    FeedError,
    FeedGone,
    FeedUnavailable,
    ServerUnavailable,
    StateError,
)
from fedibridge.events import reminder_times
from fedibridge.fetch import fetch, make_client
from fedibridge.filters import filter_reason
from fedibridge.models import Entry, Fetched, ParsedFeed, ServerLimits, Style, Validators
from fedibridge.plan import (
    after_feed_failure,
    corrections,
    newest,
    plan_entries,
    polite_next_poll,
)
from fedibridge.render import render
from fedibridge.report import FeedReport, PostOutcome
from fedibridge.state import FeedRow, KnownServer, OutboxItem, State, state_errors
from fedibridge.transfer import Deadline, Timing, WebsiteBusy, Websites

if TYPE_CHECKING:
    from fedibridge.deliver import Delivery
    from fedibridge.publish import Publisher
    from fedibridge.publish.detect import DetectingPublisher, KeptLimits, ServerSoftware

# Imported where used, not here: a cycle in which no feed changed never loads feedparser
# (fedibridge.parse), and one with nothing to post never loads the posting machinery
# (fedibridge.deliver, fedibridge.publish.*: Mastodon.py and requests), which together are
# most of a short run's CPU (docs/performance.md, "Cold start").

log = logging.getLogger("fedibridge")

Clock = Callable[[], datetime]

PER_HOST_REQUESTS = 2
ITEMS_WITH_PICTURES = 2


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        rand: Callable[[], float] = random.random,
        timing: Timing | None = None,
    ) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self.clock = clock
        self.rand = rand
        self.timing = timing or Timing()
        self.stop = stop or threading.Event()
        self.http = make_client(settings.bridge.contact)
        self._user_agent = self.http.headers["User-Agent"]
        self._publishers: dict[str, Publisher] = {}
        # One delivery at a time per account: keeps posting order and the server's rate budget.
        self._account_locks = {name: threading.Lock() for name in settings.accounts}
        # At most PER_HOST_REQUESTS transfers at a time to one website: library sites often
        # live on small shared hosting, and one library may have many feeds there.
        self.websites = Websites(PER_HOST_REQUESTS)
        # Items whose pictures are in memory at once: a post may carry 4 pictures of 16 MB.
        self._picture_room = threading.BoundedSemaphore(ITEMS_WITH_PICTURES)
        self._hosts_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[State] = []
        self.state_error: StateError | None = None

    def close(self) -> None:
        self.http.close()
        with self._hosts_lock:
            for state in self._connections:
                state.close()
            self._connections.clear()

    def run_all(self) -> list[FeedReport]:
        """Every feed once. A state database that cannot be written does not stop the round:
        the other feeds are still read (nothing is recorded half-done), and ``state_error``
        says what is wrong."""
        reports = []
        for name in self.settings.feeds:
            if self.stop.is_set():
                break
            try:
                reports.append(self.run_feed(name))
            except StateError as error:
                self.state_error = self.state_error or error
                report = FeedReport(name)
                report.problem("not recorded: the state database cannot be written (see below)")
                reports.append(report)
        return reports

    def run_feed(self, name: str) -> FeedReport:
        """Poll and deliver one feed. Raises StateError when the state cannot be written."""
        report = FeedReport(name)
        if self.settings.feeds[name].paused:
            report.say("paused in the config (paused = true); not polled")
            return report
        if self.stop.is_set():
            # Polls queued behind busy threads when the daemon was told to stop: with
            # thousands of feeds, running them all would delay the stop by minutes (bench/).
            report.say("stopping: not polled")
            return report
        with state_errors(self.settings.bridge.state_path):
            state = self._state()
            unsaved = self._poll(state, name, report)
            self._publish(state, name, report, unsaved)
            if self.settings.feeds[name].reminds and not self.dry_run:
                self._remind(state, name, report)
        return report

    # --- steps ----------------------------------------------------------------

    def _read(
        self, name: str, validators: Validators, now: datetime
    ) -> tuple[Fetched, ParsedFeed | None]:
        """Fetch and parse one feed; no ParsedFeed when the server said "not modified"."""
        config = self.settings.feeds[name]
        # A short wait for one of the website's slots: a poll waiting longer would hold a
        # worker that other websites' feeds need (raises WebsiteBusy).
        with self.websites.slot(config.url, self.timing.slot_wait):
            fetched = fetch(
                self.http,
                config.url,
                validators,
                allow_private_network=config.allow_private_network,
                deadline=Deadline(self.timing.feed, self.stop),
            )
        if fetched.body is None:
            return fetched, None
        from fedibridge.parse import parse_feed

        reading = config.reading(now, self.settings.bridge.zone)
        return fetched, parse_feed(fetched.body, fetched.url, fetched.content_type, reading)

    def _state(self) -> State:
        """This thread's connection to the state database, opened on first use.

        One connection per polling thread, kept for the Bridge's life: opening, checking
        the schema and closing per feed cost more than the poll itself (bench/: -56 % CPU per
        unchanged feed), and the last close of a WAL database syncs and deletes the WAL."""
        state: State | None = getattr(self._local, "state", None)
        if state is None:
            path = self.settings.bridge.state_path
            state = State.open_readonly(path) if self.dry_run else State.open(path)
            self._local.state = state
            with self._hosts_lock:
                self._connections.append(state)
        return state

    def _poll(self, state: State, name: str, report: FeedReport) -> _Unsaved:
        """Fetch, parse, plan and store. A dry run stores nothing and returns what it would
        have stored, so that publishing can show those posts."""
        config = self.settings.feeds[name]
        account = self.settings.account_for(name)
        row = state.feed(name)
        if row is not None and row.url != config.url:
            row = None  # another address: its validators, failures and backoff do not apply
        now = self.clock()
        if row is not None and not self.dry_run and self._must_wait(row, now, report):
            return _Unsaved()
        try:
            fetched, parsed = self._read(name, row.validators if row else Validators(), now)
        except WebsiteBusy as error:
            # Not the feed's failure, and nothing is recorded: the caller says when it is
            # tried again (the daemon: soon). `once` polls one feed at a time, so it never
            # finds a website busy.
            report.busy = True
            report.say(f"not polled this time: {error}")
            return _Unsaved()
        except FeedError as error:
            if self.stop.is_set():  # cut short by the stop: not the website's fault
                report.say("stopping: not polled to its end; polled again at the next start")
            elif not self.dry_run:
                self._fetch_failed(state, name, row, error, now, report)
            else:
                report.problem(_feed_problem(name, error))
            return _Unsaved()
        next_poll_at = polite_next_poll(
            fresh_for=fetched.fresh_for,
            ttl_minutes=parsed.ttl_minutes if parsed else None,
            interval=self.settings.interval_for(name),
            longest=self.settings.bridge.max_interval,
            now=now,
        )
        if parsed is None:
            if not self.dry_run:
                state.record_fetch(
                    name,
                    config.url,
                    now=now,
                    result="not modified",
                    account=account,
                    next_poll_at=next_poll_at,
                )
            report.say("not modified since the last poll")
            return _Unsaved()
        known = state.known(name, (e.key for e in parsed.entries))
        plan = plan_entries(
            parsed.entries,
            set(known),
            first_contact=row is None or row.first_contact,
            backfill=config.backfill,
            flood_items=config.flood_guard_items,
            flood_ratio=config.flood_guard_ratio,
            entry_filter=config.entry_filter(name),
            announce=config.announce,
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
        changed = corrections(
            parsed.entries,
            known,
            edit=config.on_update == "edit",
            max_age=config.update_max_age,
            now=now,
        )
        if config.digest is not None and parsed.link:
            state.set_feed_page(name, parsed.link)
        if config.reminds:
            # Before the entries: a crash in between leaves the validators unsaved, so the
            # next poll reads the same events and schedules their reminders again.
            self._schedule_reminders(state, name, parsed, now, report)
        state.record_fetch(
            name,
            config.url,
            now=now,
            result=f"{len(plan.new)} new, {plan.to_post} to post",
            account=account,
            next_poll_at=next_poll_at,
            validators=Validators() if parsed.expanded else fetched.validators,
            title=parsed.title,
            moved_to=fetched.moved_to,
            new_entries=plan.new,
            corrections=changed,
        )
        report.say(f"{len(parsed.entries)} items, {len(plan.new)} new, {plan.to_post} to post")
        self._prune(state, name, now)
        return _Unsaved()

    def _prune(self, state: State, name: str, now: datetime) -> None:
        """Keep only the key of items older than keep_days, and never of an item that could
        still be corrected (update_max_age): pruned items have nothing to compare with."""
        correctable = self.settings.feeds[name].update_max_age
        keep = max(timedelta(days=self.settings.bridge.keep_days), correctable)
        pruned = state.prune(name, before=now - keep, settled_before=now - correctable, now=now)
        if pruned:
            log.info("feed %s: %d old items pruned to their keys", name, pruned)

    def _schedule_reminders(
        self, state: State, name: str, parsed: ParsedFeed, now: datetime, report: FeedReport
    ) -> None:
        config = self.settings.feeds[name]
        entry_filter = config.entry_filter(name)
        wanted = {
            (entry.key, label): due
            for entry in parsed.entries
            if entry.event is not None
            and not entry.event.cancelled
            and filter_reason(entry, entry_filter) is None
            for label, due in reminder_times(
                entry.event, config.reminder_at(), config.remind_before, self.settings.bridge.zone
            ).items()
        }
        added, moved, dropped = state.sync_reminders(name, wanted, now=now)
        changes = [
            f"{count} {what}"
            for count, what in ((added, "new"), (moved, "moved"), (dropped, "dropped"))
            if count
        ]
        if changes:
            report.say("reminders: " + ", ".join(changes))

    def run_reminders(self, name: str) -> FeedReport:
        """Post the feed's reminders that are due (the daemon's job at their time)."""
        report = FeedReport(name)
        if not self.dry_run and not self.settings.feeds[name].paused:
            self._remind(self._state(), name, report)
        return report

    def next_reminder(self, name: str) -> datetime | None:
        """When the feed's next reminder is due; None when it has none."""
        if not self.settings.feeds[name].reminds:
            return None
        return self._state().next_reminder(name)

    def _remind(self, state: State, name: str, report: FeedReport) -> None:
        if not state.due_reminders(name, self.clock()):
            return
        row = state.feed(name)
        style = self._reminder_style(name, row.title if row else "")
        account = self.settings.account_for(name)
        with self._account_locks[account]:
            # Read again under the lock: the poll and the reminder job may both get here.
            due = state.due_reminders(name, self.clock())
            delivery = self._delivery(state, name, style, report, len(due)) if due else None
            if delivery is not None:
                delivery.remind(due, self.stop)

    def _must_wait(self, row: FeedRow, now: datetime, report: FeedReport) -> bool:
        if row.gone_since is not None:
            report.problem(
                f"not polled since {row.gone_since:%Y-%m-%d}: {row.last_error} Once the address "
                f"in feeds.{row.name}.url is right, run `fedibridge retry {row.name}`."
            )
            return True
        if row.next_poll_at is not None and row.next_poll_at > now:
            if row.last_error:
                # Still a problem while it lasts: cron and health checks should notice.
                report.problem(
                    f"waiting until {row.next_poll_at:%H:%M} UTC after: {row.last_error}"
                )
            else:
                report.say(f"next poll after {row.next_poll_at:%H:%M} UTC, as the website asks")
            return True
        return False

    def _fetch_failed(
        self,
        state: State,
        name: str,
        row: FeedRow | None,
        error: FeedError,
        now: datetime,
        report: FeedReport,
    ) -> None:
        not_found = isinstance(error, FeedGone) and not error.permanent
        retry = after_feed_failure(
            failures=row.failures if row else 0,
            not_found=row.not_found if row else 0,
            is_not_found=not_found,
            permanent=isinstance(error, FeedGone) and error.permanent,
            retry_after=error.retry_after if isinstance(error, FeedUnavailable) else None,
            interval=self.settings.interval_for(name),
            now=now,
            rand=self.rand(),
        )
        message = _feed_problem(name, error)
        if retry.gone:
            message += (
                f" fedibridge stops polling this feed; after fixing it, run "
                f"`fedibridge retry {name}`."
            )
        elif retry.next_poll_at is not None:
            message += f" Next try after {retry.next_poll_at:%H:%M} UTC."
        state.record_fetch_failure(
            name,
            self.settings.feeds[name].url,
            now=now,
            message=message,
            next_poll_at=retry.next_poll_at,
            not_found=not_found,
            gone=retry.gone,
            account=self.settings.account_for(name),
        )
        report.problem(message)

    def _publish(self, state: State, name: str, report: FeedReport, unsaved: _Unsaved) -> None:
        items = state.pending(name) + [OutboxItem(name, e.key, e, 0) for e in unsaved.entries]
        edits = [] if self.dry_run else state.edits_wanted(name)
        if not items and not edits:
            return
        account = self.settings.account_for(name)
        config = self.settings.feeds[name]
        row = state.feed(name)
        style = config.style(
            unsaved.title or (row.title if row else ""), zone=self.settings.bridge.zone
        )
        if self.dry_run:
            limits = self._public_limits(account)
            report.posts += [
                PostOutcome(name, i.key, render(i.entry, style, limits)) for i in items
            ]
            return
        if config.digest is not None:
            self._publish_digest(state, name, report, items, style)
            for edit in edits:  # an item in a digest has no post of its own to correct
                state.mark_edited(edit.feed, edit.key)
            return
        with self._account_locks[account]:
            delivery = self._delivery(state, name, style, report, len(items))
        # The delivery takes the account's lock again per item, after its pictures are
        # downloaded: a slow picture never holds back the account's other feeds.
        if delivery is not None and delivery.run(items, self.stop):
            delivery.correct(edits, self.stop)

    def _publish_digest(
        self, state: State, name: str, report: FeedReport, items: list[OutboxItem], style: Style
    ) -> None:
        """Post the waiting items as a digest when its time has come (see digest.py)."""
        config = self.settings.feeds[name]
        digest = config.digest_schedule()
        assert digest is not None
        row = state.feed(name)
        since = state.last_posted_at(name) or (row.first_polled_at if row else None)
        moment = digest_due(digest, now=self.clock(), since=since, zone=self.settings.bridge.zone)
        if not items:
            return
        if moment is None:
            report.say(f"{len(items)} items wait for the digest ({config.digest})")
            return
        account = self.settings.account_for(name)
        with self._account_locks[account]:
            delivery = self._delivery(state, name, style, report, len(items))
            if delivery is None:
                return
            post = digest_post(
                [item.entry for item in items],
                digest=digest,
                heading=config.digest_heading,
                link=state.feed_page(name) or config.url,
                style=style,
                limits=delivery.limits,
                listed=not config.digest_thread,
            )
            published = delivery.post_digest(items, post, f"digest {moment.isoformat()}", self.stop)
            if published is None:
                return
            if not config.digest_thread:
                now = self.clock()
                for item in items:
                    state.mark_posted(
                        name,
                        item.key,
                        status_id=published.status_id,
                        status_url=published.url,
                        now=now,
                    )
                report.say(f"digest of {len(items)} items posted")
                return
        # A thread: one post per item, each answering the one before; the delivery takes the
        # account's lock per item.
        delivery.thread_under = published.status_id
        delivery.run(items, self.stop)

    def _delivery(
        self, state: State, name: str, style: Style, report: FeedReport, waiting: int
    ) -> Delivery | None:
        """A delivery to the feed's account, or None (and why) when it cannot take posts
        now. Called with the account's lock held."""
        account = self.settings.account_for(name)
        config = self.settings.feeds[name]
        row = state.account(account)
        if row.retry_at is not None and row.retry_at > self.clock():
            report.problem(f"{waiting} items wait: {row.problem}")
            return None
        publisher = self._publisher(state, account, report)
        if publisher is None:
            return None
        try:
            limits = publisher.limits()
        except ServerUnavailable as error:
            report.problem(f"{waiting} items wait: {error}")
            return None
        from fedibridge.deliver import Delivery

        return Delivery(
            state=state,
            publisher=publisher,
            account=account,
            style=style,
            limits=limits,
            report=report,
            clock=self.clock,
            rand=self.rand,
            http=self.http,
            allow_private_network=config.allow_private_network,
            pacing=self.settings.pacing_for(name),
            image_from_page=config.image_from_page,
            trusted_host=urlsplit(config.url).hostname,
            lock=self._account_locks[account],
            websites=self.websites,
            timing=self.timing,
            picture_room=self._picture_room,
        )

    # --- looking without posting ------------------------------------------------

    def preview(self, name: str, count: int) -> FeedReport:
        """The posts the ``count`` newest items would become, whatever the state says."""
        report = FeedReport(name)
        try:
            _, parsed = self._read(name, Validators(), self.clock())
        except FeedError as error:
            report.problem(_feed_problem(name, error))
            return report
        assert parsed is not None  # an unconditional request is never "not modified"
        limits = self._public_limits(self.settings.account_for(name))
        style = self.settings.feeds[name].style(parsed.title, zone=self.settings.bridge.zone)
        for entry in newest(parsed.entries, count):
            report.posts.append(PostOutcome(name, entry.key, render(entry, style, limits)))
            report.posts += self._preview_reminders(name, entry, parsed.title, limits)
        return report

    def _preview_reminders(
        self, name: str, entry: Entry, title: str, limits: ServerLimits
    ) -> list[PostOutcome]:
        """The reminders ``entry`` would get, with their times in the library's zone."""
        config, zone = self.settings.feeds[name], self.settings.bridge.zone
        event = entry.event
        if not config.reminds or event is None or event.cancelled:
            return []
        times = reminder_times(event, config.reminder_at(), config.remind_before, zone)
        post = render(entry, self._reminder_style(name, title), limits)
        now = self.clock()
        return [
            PostOutcome(name, entry.key, post, kind="reminder", at=due.astimezone(zone))
            for due in sorted(times.values())
            if due > now
        ]

    def _reminder_style(self, name: str, title: str) -> Style:
        config = self.settings.feeds[name]
        return dataclasses.replace(
            config.style(title, zone=self.settings.bridge.zone),
            template=config.reminder_template,
            media=False,
        )

    def check_feed(self, name: str) -> FeedReport:
        report = FeedReport(name)
        try:
            fetched, parsed = self._read(name, Validators(), self.clock())
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
        try:
            token = read_token(self.settings, account)
        except ConfigError as error:
            return False, f"account {account}: {error}"
        publisher = self._new_publisher(account, token, fresh=True)
        try:
            handle = publisher.verify()
            limits = publisher.limits()
        except (AccountUnusable, ServerUnavailable) as error:
            return False, f"account {account}: {error} (accounts.{account})"
        self._keep_checked(account, publisher)
        found = publisher.software
        runs = f" on {found.describe()}, found by {found.found_by}" if found else ""
        return True, (
            f"ok: posting as {handle}{runs}; up to {limits.max_characters} characters and "
            f"{limits.max_media} images per post"
        )

    # --- accounts --------------------------------------------------------------

    def _publisher(self, state: State, account: str, report: FeedReport) -> Publisher | None:
        """The account's publisher; None (and the reason stored) when its token is missing.

        After a refused token the publisher is made afresh, so a token file that staff have
        fixed is read again without a restart."""
        if state.account(account).problem is not None:
            self._publishers.pop(account, None)
        if account not in self._publishers:
            try:
                token = read_token(self.settings, account)
            except ConfigError as error:
                from fedibridge.deliver import account_problem

                message = account_problem(account, str(error))
                state.account_failed(account, retry_at=None, problem=message)
                report.problem(message)
                return None
            self._publishers[account] = self._new_publisher(account, token)
        return self._publishers[account]

    def _new_publisher(
        self, account: str, token: str, *, fresh: bool = False
    ) -> DetectingPublisher:
        """Which API the server speaks is found out on first use (publish/detect.py) and kept
        in the state with the server's limits; ``fresh`` asks the server again, as
        `fedibridge check` does."""
        config = self.settings.accounts[account]
        from fedibridge.publish.detect import DetectingPublisher, KeptLimits, software

        known = None if fresh else self._state().known_server(config.server)
        known_software, known_limits = None, None
        if known is not None:
            known_software = software(known.software, known.version, known.family, known.found_by)
            if known.limits is not None and known.limits_read_at is not None:
                known_limits = KeptLimits(known.limits, known.limits_read_at)
        return DetectingPublisher(
            config.server,
            token,
            server_type=config.server_type,
            user_agent=self._user_agent,
            http=self.http,
            known=known_software,
            remember=lambda found: self._remember_software(config.server, found),
            known_limits=known_limits,
            remember_limits=lambda kept: self._remember_limits(config.server, kept),
            clock=self.clock,
        )

    def _remember_software(self, server: str, found: ServerSoftware | None) -> None:
        if self.dry_run:
            return
        state = self._state()
        if found is None:
            state.forget_server(server)
        else:
            _keep_server(state, server, found, None, self.clock())

    def _remember_limits(self, server: str, kept: KeptLimits | None) -> None:
        if self.dry_run:
            return
        if kept is None:
            self._state().forget_limits(server)
        else:
            self._state().remember_limits(server, kept.limits, read_at=kept.read_at)

    def _keep_checked(self, account: str, publisher: DetectingPublisher) -> None:
        """`check` asked the server afresh: what it found replaces what the state kept, so
        the next run uses it. A state file that does not exist yet is not made for this."""
        path = self.settings.bridge.state_path
        if publisher.software is None or not path.exists():
            return
        with contextlib.suppress(StateError), state_errors(path):
            state = State.open(path)  # beside a running daemon, as `retry` does
            try:
                server = self.settings.accounts[account].server
                _keep_server(state, server, publisher.software, publisher.kept_limits, self.clock())
            finally:
                state.close()

    def _public_limits(self, account: str) -> ServerLimits:
        """Limits for showing posts without a token: the server's if it answers, else
        Mastodon's defaults, so that previews work offline too."""
        from fedibridge.publish.detect import public_limits

        config = self.settings.accounts[account]
        try:
            return public_limits(self.http, config.server, config.server_type)
        except ServerUnavailable as error:
            log.info("%s; showing posts with Mastodon's default limits", error)
            return ServerLimits()


def _keep_server(
    state: State, server: str, found: ServerSoftware, kept: KeptLimits | None, now: datetime
) -> None:
    """Keep the software found, and the limits read with it. A family taken from server_type
    alone is not worth keeping (nothing was found), and neither are limits without it."""
    if found.name:
        state.remember_server(
            KnownServer(
                server,
                found.name,
                found.version,
                found.family,
                found.found_by,
                now,
                kept.limits if kept else None,
                kept.read_at if kept else None,
            )
        )


def _feed_problem(name: str, error: FeedError) -> str:
    return f"{error} (feeds.{name}.url)"


def _moved(name: str, new_url: str) -> str:
    return f"the feed has moved permanently to {new_url}: update feeds.{name}.url in the config"
