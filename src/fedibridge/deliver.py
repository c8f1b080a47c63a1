"""Deliver one feed's outbox to its account: render → (reconcile) → publish → state.

Each item is marked as attempted before its request goes out, so that after a crash the next
run knows the request may have reached the server. Such an item is first looked for among the
account's own recent posts (servers that ignore Idempotency-Key would otherwise post it twice);
the request itself always carries the same Idempotency-Key for the same item.

A refused post is parked as ``failed`` and the others go on; a server that is down or a token
that is refused stops the round, leaving every remaining item ``pending``.

An item's pictures are downloaded before the account's lock is taken: a website that sends a
picture slowly holds up that item only (for at most the picture deadline), never the other
feeds of the account. A picture not had in time is left out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from fedibridge.errors import (
    AccountUnusable,
    EditUnsupported,
    FedibridgeError,
    PostRejected,
    ServerUnavailable,
)
from fedibridge.media import ImageUnavailable, Picture, download, page_picture
from fedibridge.models import Entry, Image, OwnPost, Post, ServerLimits, Style
from fedibridge.plan import (
    MEDIA_BUDGET,
    STATUS_BUDGET,
    Pacing,
    after_post_failure,
    budget_wait,
    empty_reason,
    find_posted,
    idempotency_key,
    quiet_until,
)
from fedibridge.publish import Published, Publisher
from fedibridge.render import render
from fedibridge.report import FeedReport, PostOutcome
from fedibridge.state import DueReminder, EditItem, OutboxItem, State
from fedibridge.transfer import Deadline, Timing, Websites

Clock = Callable[[], datetime]

Download = tuple[Image, Picture | ImageUnavailable]

# A server that asks for a pause this short is waited out within the cycle, at most
# SHORT_WAITS times per item; anything longer pauses the account until the time it gave.
SHORT_WAIT = timedelta(seconds=30)
SHORT_WAITS = 3


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An item's post and its pictures, had before the account's lock is taken."""

    post: Post
    downloads: list[Download]
    holds_room: bool = False  # one of the process's places for items' pictures in memory


@dataclass
class Delivery:
    state: State
    publisher: Publisher
    account: str
    style: Style
    limits: ServerLimits
    report: FeedReport
    clock: Clock
    rand: Callable[[], float]
    http: httpx.Client
    allow_private_network: bool = False
    pacing: Pacing = field(default_factory=Pacing)
    image_from_page: bool = False
    trusted_host: str | None = None  # the configured feed's host: its own pages are trusted
    # A digest's thread: each post answers the one before (digest_thread = true).
    thread_under: str | None = None
    # One delivery at a time per account (posting order, rate budget); held per item.
    lock: threading.Lock = field(default_factory=threading.Lock)
    websites: Websites | None = None  # at most a few transfers at a time per website
    # Items whose pictures may be in memory at once, for the whole process (peak memory).
    picture_room: threading.BoundedSemaphore | None = None
    timing: Timing = field(default_factory=Timing)
    _recent: list[OwnPost] | None = field(default=None, init=False)
    _healthy: bool = field(default=False, init=False)
    _posted_count: int = field(default=0, init=False)

    def run(self, items: list[OutboxItem], stop: threading.Event) -> bool:
        """Post the items in order. False when the account can take no more for now."""
        with self.lock:
            self.state.forget_actions_before(self.clock() - STATUS_BUDGET.window)
        for number, item in enumerate(items):
            if stop.is_set():
                self.report.say("stopping: the remaining items stay pending for the next start")
                return False
            if not self._may_post_now(len(items) - number):
                return False
            prepared = self._prepare(item, stop)
            try:
                if not self._post_prepared(item, prepared, len(items) - number, stop):
                    return False
            finally:
                if prepared.holds_room and self.picture_room is not None:
                    self.picture_room.release()
        return True

    def _post_prepared(
        self, item: OutboxItem, prepared: _Prepared, waiting: int, stop: threading.Event
    ) -> bool:
        if stop.is_set():  # its pictures may have been cut short: the item waits whole
            self.report.say("stopping: the remaining items stay pending for the next start")
            return False
        with self.lock:
            if self._paused(waiting) or not self._keep_spacing(stop):
                return False
            return self._room_in_budget() and self._deliver(item, prepared, stop)

    def correct(self, edits: list[EditItem], stop: threading.Event) -> None:
        """Edit posts whose item the website corrected. Never changes visibility."""
        with self.lock:
            self._correct(edits, stop)

    def _correct(self, edits: list[EditItem], stop: threading.Event) -> None:
        for edit in edits:
            if stop.is_set() or self._quiet(len(edits)) or not self._room_in_budget():
                return
            post = render(edit.entry, self.style, self.limits)
            try:
                self.publisher.edit(edit.status_id, post)
            except EditUnsupported as error:
                self.report.say(f"{_describe(edit.entry)} changed, but {error}")
            except PostRejected as error:
                self.report.problem(
                    f"{_describe(edit.entry)} changed, but the server refused the corrected "
                    f"post: {error.reason}"
                )
            except ServerUnavailable as error:
                self.report.problem(f"correcting posts waits: {error}")
                return
            except AccountUnusable as error:
                self._account_refused(error)
                return
            else:
                self.state.record_action(self.account, "edit", now=self.clock())
                self.report.say(f"{_describe(edit.entry)} changed on the website; post corrected")
            self.state.mark_edited(edit.feed, edit.key)

    def remind(self, due: list[DueReminder], stop: threading.Event) -> bool:
        """Post the reminders whose time has come (``style`` is the reminder's), each as a
        reply to its event's announcement when there is one. A reminder whose event has
        started or was cancelled meanwhile is dropped, never posted late. False when the
        account can take no more for now. Of several reminders of one event that are due at
        once (fedibridge was stopped), only the latest is posted."""
        latest = {reminder.key: reminder for reminder in due}  # due is ordered by time
        for reminder in due:
            if latest[reminder.key] is not reminder:
                self.state.drop_reminder(
                    reminder.feed,
                    reminder.key,
                    reminder.label,
                    reason=f"not posted: the reminder {latest[reminder.key].label} came instead",
                )
        due = [reminder for reminder in due if latest[reminder.key] is reminder]
        for number, reminder in enumerate(due):
            if stop.is_set():
                return False
            event, now = reminder.entry.event, self.clock()
            if event is None or event.cancelled or event.starts <= now:
                why = "the event was cancelled" if event and event.cancelled else "it had started"
                self.state.drop_reminder(
                    reminder.feed, reminder.key, reminder.label, reason=f"not posted: {why}"
                )
                self.report.say(
                    f"reminder ({reminder.label}) of {_describe(reminder.entry)} left out: {why}"
                )
                continue
            if self._quiet(len(due) - number) or not self._keep_spacing(stop):
                return False
            if not self._room_in_budget() or not self._send_reminder(reminder):
                return False
        return True

    def post_digest(
        self, items: list[OutboxItem], post: Post, name: str, stop: threading.Event
    ) -> Published | None:
        """Post a digest (or the first post of a digest's thread) for ``items``, which are
        marked posted with it when ``post`` lists them. ``name`` identifies this digest across
        restarts (its Idempotency-Key). None when it cannot be posted now."""
        if stop.is_set() or self._quiet(len(items)) or not self._keep_spacing(stop):
            return None
        if not self._room_in_budget():
            return None
        feed = items[0].feed
        try:
            found = None
            if any(item.attempts for item in items):
                self._recent = self._recent or self.publisher.recent_posts()
                found = find_posted(dataclasses.replace(post, link=None), "", self._recent)
            for item in items:
                self.state.mark_attempt(item.feed, item.key, now=self.clock())
            key = idempotency_key(self.publisher.server, self.account, feed, name)
            published = (
                Published(found.status_id, found.url) if found else self.publisher.post(post, key)
            )
        except PostRejected as error:
            self.report.problem(f"the digest was not posted: {error.reason}")
            return None
        except ServerUnavailable as error:
            self._pause_account(error)
            return None
        except AccountUnusable as error:
            self._account_refused(error)
            return None
        now = self.clock()
        self.state.record_action(self.account, "status", now=now)
        self.report.posts.append(PostOutcome(feed, name, post, published.url))
        return published

    def _send_reminder(self, reminder: DueReminder) -> bool:
        post = dataclasses.replace(
            render(reminder.entry, self.style, self.limits),
            media=(),
            in_reply_to=reminder.announcement_id,
        )
        name = f"{reminder.key}#reminder {reminder.label}"
        try:
            if reminder.attempts:  # the earlier attempt may have reached the server
                if self._recent is None:
                    self._recent = self.publisher.recent_posts()
                # By its text: it shares its link and title with the announcement.
                unlinked = dataclasses.replace(post, link=None)
                found = find_posted(unlinked, reminder.entry.title, self._recent)
                if found is not None:
                    self._reminded(reminder, post, Published(found.status_id, found.url))
                    return True
            self.state.mark_reminder_attempt(
                reminder.feed, reminder.key, reminder.label, now=self.clock()
            )
            key = idempotency_key(self.publisher.server, self.account, reminder.feed, name)
            published = self.publisher.post(post, key)
        except PostRejected as error:
            reason = f"the server refused this reminder: {error.reason}"
            self.state.drop_reminder(reminder.feed, reminder.key, reminder.label, reason=reason)
            self.report.problem(f"reminder of {_describe(reminder.entry)} not posted: {reason}")
            return True
        except ServerUnavailable as error:
            self._pause_account(error)
            return False
        except AccountUnusable as error:
            self._account_refused(error)
            return False
        self._reminded(reminder, post, published)
        return True

    def _reminded(self, reminder: DueReminder, post: Post, published: Published) -> None:
        now = self.clock()
        self.state.mark_reminder_posted(
            reminder.feed,
            reminder.key,
            reminder.label,
            status_id=published.status_id,
            status_url=published.url,
            now=now,
        )
        self.state.record_action(self.account, "status", now=now)
        self.report.posts.append(PostOutcome(reminder.feed, reminder.key, post, published.url))

    def _prepare(self, item: OutboxItem, stop: threading.Event) -> _Prepared:
        """The item's post, with its pictures downloaded (outside the account's lock), all
        within one picture deadline."""
        post = render(self._with_page_picture(item.entry, stop), self.style, self.limits)
        if not post.media or not self._room_for_pictures(stop):
            return _Prepared(post, [])
        deadline = Deadline(self.timing.picture, stop)
        downloads = [(image, self._download(image, deadline)) for image in post.media]
        return _Prepared(post, downloads, holds_room=self.picture_room is not None)

    def _room_for_pictures(self, stop: threading.Event) -> bool:
        """Wait for a place for this item's pictures in memory; False if stopped first. A
        place is held at most a picture deadline plus the item's posting."""
        if self.picture_room is None:
            return True
        while not self.picture_room.acquire(timeout=1):
            if stop.is_set():
                return False
        return True

    def _download(self, image: Image, deadline: Deadline) -> Picture | ImageUnavailable:
        try:
            with self._slot(image.url, max(deadline.left(), 0.0)):
                return download(
                    self.http,
                    image.url,
                    self.limits,
                    trusted_host=self.trusted_host,
                    allow_private_network=self.allow_private_network,
                    deadline=deadline,
                )
        except ImageUnavailable as error:
            return error
        except FedibridgeError as error:  # the website's slots stayed taken
            return ImageUnavailable(str(error))

    def _slot(self, url: str, wait: float) -> AbstractContextManager[None]:
        return self.websites.slot(url, wait) if self.websites else contextlib.nullcontext()

    def _paused(self, waiting: int) -> bool:
        """Another feed of the account may have paused it while this one downloaded."""
        row = self.state.account(self.account)
        if row.retry_at is None or row.retry_at <= self.clock():
            return False
        self.report.problem(f"{waiting} items wait: {row.problem}")
        return True

    def _deliver(self, item: OutboxItem, prepared: _Prepared, stop: threading.Event) -> bool:
        """Post one item. False when the account can take no more posts for now.

        A server that asks for a short pause (Misskey allows one note a second) is waited
        out here, in `once` as in `run`, so the rest of the cycle still gets posted; a stop
        (SIGTERM) ends the wait at once and the item stays pending."""
        for waits_left in range(SHORT_WAITS, -1, -1):
            try:
                return self._post_item(item, prepared)
            except ServerUnavailable as error:
                if waits_left and self._waited_out(error, stop):
                    continue
                self._pause(item, error)
                return False
        return False  # not reached: the last round either returns or pauses

    def _waited_out(self, error: ServerUnavailable, stop: threading.Event) -> bool:
        if error.retry_at is None:
            return False
        seconds = (error.retry_at - self.clock()).total_seconds()
        if seconds > SHORT_WAIT.total_seconds():
            return False
        self.report.say(f"{error}; waiting {max(seconds, 0):.0f} s as the server asks")
        return not stop.wait(max(seconds, 0.0) + 0.05)

    def _post_item(self, item: OutboxItem, prepared: _Prepared) -> bool:
        """One attempt at one item; a ``ServerUnavailable`` is left to the caller."""
        post = prepared.post
        # Planned before this check existed, or a template that leaves nothing of it.
        reason = empty_reason(item.entry) or (
            None
            if post.text.strip() or post.media
            else f"nothing to post: feeds.{item.feed}.template leaves this item empty"
        )
        if reason:
            self.state.mark_skipped(item.feed, item.key, reason=reason)
            self.report.say(f"{_describe(item.entry)} left out: {reason}")
            return True
        if post.media and not self._room_for_media(len(post.media)):
            return False
        try:
            found = self._already_posted(item, post) if item.attempts else None
            if found is not None:
                self._posted(item, post, Published(found.status_id, found.url))
                self.report.say(
                    f"{_describe(item.entry)} was already on the account (an earlier attempt was "
                    "interrupted); not posted again"
                )
                return True
            self.state.mark_attempt(item.feed, item.key, now=self.clock())
            post, media_ids = self._attach_pictures(item, post, prepared.downloads)
            published, post = self._send(item, post, media_ids)
        except PostRejected as error:
            reason = f"the server refused this post: {error.reason}"
            self.state.mark_failed(item.feed, item.key, reason=reason)
            self.report.posts.append(PostOutcome(item.feed, item.key, post, error=reason))
            self.report.problem(
                f"{_describe(item.entry)} not posted: {reason}. Fix the feed item or the template, "
                f"then run `fedibridge retry {item.feed}`."
            )
            return True
        except AccountUnusable as error:
            message = self._account_refused(error)
            self.state.note_waiting(item.feed, item.key, reason=message)
            return False
        self._posted(item, post, published)
        return True

    def _send(self, item: OutboxItem, post: Post, media_ids: list[str]) -> tuple[Published, Post]:
        key = idempotency_key(self.publisher.server, self.account, item.feed, item.key)
        post = dataclasses.replace(post, in_reply_to=self.thread_under)
        try:
            return self.publisher.post(post, key, media_ids), post
        except PostRejected as error:
            if not (error.too_long and self.limits.characters_per_url is not None):
                raise
        # Some servers count every character of a link although they advertise a fixed
        # weight per URL: render again counting that way, and try once more. Mastodon stores
        # an Idempotency-Key only with a status, so reusing it here is safe.
        post = dataclasses.replace(
            render(item.entry, self.style, self.limits.counting_raw()),
            media=post.media,
            in_reply_to=self.thread_under,
        )
        return self.publisher.post(post, key, media_ids), post

    def _with_page_picture(self, entry: Entry, stop: threading.Event) -> Entry:
        """With ``image_from_page``, an item without a picture borrows its page's og:image."""
        if not self.image_from_page or entry.images or not entry.link or not self.style.media:
            return entry
        wait = self.timing.page
        try:
            with self._slot(entry.link, wait):
                found = page_picture(
                    self.http,
                    entry.link,
                    trusted_host=self.trusted_host,
                    allow_private_network=self.allow_private_network,
                    deadline=Deadline(wait, stop),
                )
        except FedibridgeError:  # the website's slots stayed taken: no page picture this time
            return entry
        return dataclasses.replace(entry, images=(found,)) if found else entry

    def _attach_pictures(
        self, item: OutboxItem, post: Post, downloads: list[Download]
    ) -> tuple[Post, list[str]]:
        """Upload the post's pictures with their descriptions. A picture that cannot be had is
        left out (and said so); the item is never held back for it."""
        attached: list[Image] = []
        media_ids: list[str] = []
        for image, picture in downloads:
            try:
                if isinstance(picture, ImageUnavailable):
                    raise picture  # reported below, like a refused upload
                media_ids.append(
                    self.publisher.upload(
                        picture.data, picture.mime_type, image.alt, sensitive=post.sensitive
                    )
                )
            except (ImageUnavailable, PostRejected) as error:
                self.report.say(
                    f"{_describe(item.entry)}: the picture {image.url} is left out: {error}"
                )
                continue
            self.state.record_action(self.account, "media", now=self.clock())
            attached.append(image)
        return dataclasses.replace(post, media=tuple(attached)), media_ids

    def _may_post_now(self, waiting: int) -> bool:
        if self._quiet(waiting):
            return False
        limit = self.pacing.max_posts_per_cycle
        if limit and self._posted_count >= limit:
            self.report.say(
                f"{waiting} items wait for the next poll (max_posts_per_cycle = {limit})"
            )
            return False
        return True

    def _quiet(self, waiting: int) -> bool:
        until = quiet_until(self.clock(), self.pacing)
        if until is None:
            return False
        local = until.astimezone(self.pacing.zone)
        self.report.say(f"quiet hours until {local:%H:%M}: {waiting} items wait")
        return True

    def _keep_spacing(self, stop: threading.Event) -> bool:
        """Wait until the account's last post is min_post_spacing old. False if stopped."""
        spacing = self.pacing.min_spacing
        if not spacing:
            return True
        now = self.clock()
        recent = self.state.actions_since(self.account, ("status",), now - spacing)
        if not recent:
            return True
        return not stop.wait((recent[-1] + spacing - now).total_seconds())

    def _posted(self, item: OutboxItem, post: Post, published: Published) -> None:
        self._posted_count += 1
        if self.thread_under is not None:
            self.thread_under = published.status_id
        now = self.clock()
        self.state.mark_posted(
            item.feed, item.key, status_id=published.status_id, status_url=published.url, now=now
        )
        self.state.record_action(self.account, "status", now=now)
        if not self._healthy:
            self.state.account_ok(self.account)
            self._healthy = True
        self.report.posts.append(PostOutcome(item.feed, item.key, post, published.url))

    def _already_posted(self, item: OutboxItem, post: Post) -> OwnPost | None:
        if self._recent is None:
            self._recent = self.publisher.recent_posts()
        return find_posted(post, item.entry.title, self._recent)

    def _room_in_budget(self) -> bool:
        now = self.clock()
        recent = self.state.actions_since(
            self.account, STATUS_BUDGET.kinds, now - STATUS_BUDGET.window
        )
        until = budget_wait(STATUS_BUDGET, recent, now)
        if until is None:
            return True
        reason = (
            f"account {self.account} has posted {len(recent)} times in the last 3 hours; to stay "
            f"within the server's limit the next post waits until {until:%H:%M} UTC"
        )
        self.state.account_waits(self.account, until=until, reason=reason)
        self.report.say(reason)
        return False

    def _room_for_media(self, count: int) -> bool:
        now = self.clock()
        recent = self.state.actions_since(
            self.account, MEDIA_BUDGET.kinds, now - MEDIA_BUDGET.window
        )
        # Room for this post's pictures: pretend they are already counted.
        until = budget_wait(MEDIA_BUDGET, recent + [now] * (count - 1), now)
        if until is None:
            return True
        reason = (
            f"account {self.account} has uploaded {len(recent)} pictures in the last 30 "
            f"minutes; to stay within the server's limit the next post waits until "
            f"{until:%H:%M} UTC"
        )
        self.state.account_waits(self.account, until=until, reason=reason)
        self.report.say(reason)
        return False

    def _account_refused(self, error: AccountUnusable) -> str:
        """Record and report a refused token: in full the first time, briefly while it lasts,
        so that a daemon polling every few minutes does not repeat the same long message."""
        message = account_problem(self.account, str(error))
        known = self.state.account(self.account).problem == message
        self.state.account_failed(self.account, retry_at=None, problem=message)
        if known:
            self.report.problem(
                f"account {self.account}: the server still refuses the token; nothing is "
                "posted until it is fixed (`fedibridge status` has the details)"
            )
        else:
            self.report.problem(message)
        return message

    def _pause(self, item: OutboxItem, error: ServerUnavailable) -> None:
        reason = self._pause_account(error)
        self.state.note_waiting(item.feed, item.key, reason=reason)

    def _pause_account(self, error: ServerUnavailable) -> str:
        now = self.clock()
        row = self.state.account(self.account)
        retry_at = after_post_failure(
            failures=row.failures, retry_at=error.retry_at, now=now, rand=self.rand()
        )
        reason = f"{error}; posting resumes after {retry_at:%H:%M} UTC"
        self.state.account_failed(self.account, retry_at=retry_at, problem=reason)
        self.report.problem(f"posting paused: {reason}")
        return reason


def account_problem(account: str, message: str) -> str:
    return (
        f"account {account}: {message.rstrip('.')}. Items stay pending and are posted once this "
        "is fixed "
        f"(see accounts.{account} in the config; `fedibridge check` tests the token)."
    )


def _describe(entry: Entry) -> str:
    return f'"{entry.title}"' if entry.title else (entry.link or entry.key)
