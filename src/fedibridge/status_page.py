"""The status page as HTML: a pure function of a ``StatusSnapshot``.

One self-contained document: no script, no external file, no cookie. Every value from the
state or the config goes through ``_text`` (HTML-escaped), and only http(s) addresses become
links. States are said in words and shown in colour; the chart has a text summary and a table.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from fedibridge.advice import describe_interval
from fedibridge.snapshot import (
    AccountStatus,
    FeedStatus,
    Level,
    Problem,
    StatusSnapshot,
    WaitingItem,
)
from fedibridge.state import ItemRow

# Foreground and background of each state. Every pair keeps a WCAG contrast of at least 4.5:1
# (tests/test_status_page.py checks it), and the word is always there beside the colour.
PALETTE: dict[Level, tuple[str, str]] = {
    "ok": ("#1a6b32", "#dcf5e3"),
    "waiting": ("#0a4f9e", "#e0efff"),
    "attention": ("#7a4a00", "#fff3c4"),
    "failing": ("#a8201a", "#fde8e6"),
    "paused": ("#4d5560", "#eef1f4"),
    "new": ("#4d5560", "#eef1f4"),
}
WORDS: dict[Level, tuple[str, str]] = {  # (symbol, word); the symbol is decoration only
    "ok": ("✓", "Working"),
    "waiting": ("…", "Waiting"),
    "attention": ("!", "Needs attention"),
    "failing": ("✕", "Failing"),
    "paused": ("‖", "Paused"),
    "new": ("○", "Not polled yet"),
}
INK, MUTED, LINE, LINK, BAR = "#1f2328", "#525a64", "#d5dbe1", "#0a4f9e", "#5b84b1"

_STATE_CSS = "".join(
    f".{level}{{color:{ink};background:{paper}}}" for level, (ink, paper) in PALETTE.items()
)
STYLE = (
    f":root{{color-scheme:light}}"
    f"body{{margin:0;color:{INK};background:#fff;"
    "font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif}"
    "header,main,footer{max-width:66rem;margin:0 auto;padding:0 1.25rem}"
    "header{padding-top:1.75rem}"
    "h1{font-size:1.6rem;margin:0 0 .75rem;font-weight:650}"
    f"h2{{font-size:1.2rem;margin:2.25rem 0 .75rem;padding-bottom:.3rem;"
    f"border-bottom:1px solid {LINE}}}"
    "h3{font-size:1rem;margin:0 0 .25rem}"
    "p{margin:.4rem 0}"
    f"a{{color:{LINK}}}"
    ".summary{font-size:1.1rem;font-weight:600;padding:.75rem 1rem;border-radius:6px;"
    "border-left:6px solid;margin:0}"
    f".meta,.sub,footer{{color:{MUTED}}}"
    ".meta{font-size:.9rem}"
    ".sub{display:block;font-size:.85rem;font-weight:400;overflow-wrap:anywhere}"
    ".wrap{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;font-size:.95rem}"
    f"th,td{{text-align:left;vertical-align:top;padding:.55rem .6rem;"
    f"border-bottom:1px solid {LINE}}}"
    f"thead th{{font-size:.85rem;color:{MUTED};font-weight:600;border-bottom:2px solid {LINE}}}"
    "tbody th{font-weight:600}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}"
    ".badge{display:inline-block;padding:.1rem .6rem;border-radius:999px;font-weight:600;"
    "font-size:.85rem;white-space:nowrap}"
    ".problem{border-left:4px solid;border-radius:4px;padding:.6rem 1rem;margin:.75rem 0}"
    ".problem p{color:" + INK + "}"
    "ol.posts{padding-left:1.25rem}ol.posts li{margin:.35rem 0}"
    "figure{margin:0}svg{width:100%;height:auto;max-width:44rem;display:block}"
    f".bar{{fill:{BAR}}}.axis{{stroke:{LINE}}}svg text{{fill:{MUTED};font-size:11px}}"
    "details{margin:.5rem 0}summary{cursor:pointer}"
    "footer{margin-top:3rem;padding-bottom:2rem;font-size:.85rem}"
    "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}"
    f"{_STATE_CSS}"
)
# The page's Content-Security-Policy allows this one style block and nothing else.
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def render_page(snapshot: StatusSnapshot) -> str:
    now = snapshot.taken_at
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>fedibridge status: {_text(_title(snapshot))}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        _header(snapshot),
        "<main>",
        _feeds(snapshot.feeds, now),
        _accounts(snapshot.accounts, now),
        _waiting(snapshot.waiting, snapshot.waiting_total, now),
        _reminders(snapshot),
        _latest(snapshot.latest_posts, now),
        _chart(snapshot.posts_per_day),
        "</main>",
        _footer(),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --- sections --------------------------------------------------------------------


def _title(snapshot: StatusSnapshot) -> str:
    if snapshot.failing:
        return f"{snapshot.failing} failing"
    if snapshot.attention:
        return "needs attention"
    return "everything is working"


def _header(snapshot: StatusSnapshot) -> str:
    level, sentence = _summary(snapshot)
    symbol = WORDS[level][0]
    return (
        "<header>\n<h1>fedibridge status</h1>\n"
        f'<p class="summary {level}"><span aria-hidden="true">{symbol}</span> '
        f"{_text(sentence)}</p>\n"
        f'<p class="meta">As of {_time(snapshot.taken_at)}. Reload the page to update it. '
        f"Times are in UTC.</p>\n</header>"
    )


def _summary(snapshot: StatusSnapshot) -> tuple[Level, str]:
    failing = snapshot.named("failing")
    attention = snapshot.named("attention")
    if failing:
        return "failing", f"Failing: {', '.join(failing)}. What to do is explained below."
    if attention:
        return "attention", f"Working, but {', '.join(attention)} needs attention (see below)."
    if snapshot.feeds and all(f.level in ("new", "paused") for f in snapshot.feeds):
        return "new", "Starting: no feed has been polled yet."
    return "ok", "Everything is working."


def _feeds(feeds: Iterable[FeedStatus], now: datetime) -> str:
    rows = []
    problems = []
    for feed in feeds:
        rows.append(
            "<tr>"
            f'<th scope="row">{_text(feed.name)}<span class="sub">{_text(feed.url)}</span></th>'
            f"<td>{_badge(feed.level)}</td>"
            f"<td>{_last_poll(feed, now)}</td>"
            f"<td>{_next_poll(feed, now)}</td>"
            f'<td class="num">{feed.counts.posted}</td>'
            f'<td class="num">{feed.counts.pending}</td>'
            f'<td class="num">{feed.counts.failed}</td>'
            "</tr>"
        )
        if feed.problem is not None:
            problems.append(_problem(f"Feed “{feed.name}”", feed.level, feed.problem))
    head = _head("Feed", "State", "Last poll", "Next poll", "Posted", "Waiting", "Refused")
    return (
        '<section aria-labelledby="feeds">\n<h2 id="feeds">Feeds</h2>\n'
        f'<div class="wrap"><table>\n{head}\n<tbody>\n' + "\n".join(rows) + "\n</tbody></table>"
        "</div>\n" + "\n".join(problems) + "\n</section>"
    )


def _last_poll(feed: FeedStatus, now: datetime) -> str:
    if feed.last_poll is None:
        return "never"
    result = "failed" if feed.last_result == "error" else (feed.last_result or "")
    return f'{_ago(feed.last_poll, now)}<span class="sub">{_text(result)}</span>'


def _next_poll(feed: FeedStatus, now: datetime) -> str:
    if feed.level == "paused":
        return "paused in the config"
    every = f'<span class="sub">every {describe_interval(feed.interval)}</span>'
    if feed.next_poll is None:
        return "not planned" + every
    if feed.next_poll <= now:
        return f'<time datetime="{feed.next_poll.isoformat()}">due now</time>' + every
    return _ago(feed.next_poll, now) + every


def _accounts(accounts: Iterable[AccountStatus], now: datetime) -> str:
    rows = []
    problems = []
    for account in accounts:
        feeds = ", ".join(account.feeds) or "none"
        rows.append(
            "<tr>"
            f'<th scope="row">{_text(account.name)}</th>'
            f"<td>{_badge(account.level)}</td>"
            f"<td>{_link(account.server, account.server)}</td>"
            f"<td>{_text(feeds)}</td>"
            "</tr>"
        )
        if account.problem is not None:
            problems.append(_problem(f"Account “{account.name}”", account.level, account.problem))
    head = _head("Account", "State", "Server", "Feeds it posts")
    return (
        '<section aria-labelledby="accounts">\n<h2 id="accounts">Accounts</h2>\n'
        f'<div class="wrap"><table>\n{head}\n<tbody>\n' + "\n".join(rows) + "\n</tbody></table>"
        "</div>\n" + "\n".join(problems) + "\n</section>"
    )


def _waiting(items: Iterable[WaitingItem], total: int, now: datetime) -> str:
    rows = [
        "<tr>"
        f'<td>{_item_title(w.item)}<span class="sub">feed {_text(w.item.feed)}'
        f"{_since(w.item, now)}</span></td>"
        f"<td>{_item_badge(w.item)}</td>"
        f"<td>{_prose(w.item.reason or 'Waiting for its turn.')}"
        f'<span class="sub"><strong>What to do:</strong> {_prose(w.todo)}</span></td>'
        "</tr>"
        for w in items
    ]
    heading = '<section aria-labelledby="waiting">\n<h2 id="waiting">Waiting and refused items</h2>'
    if not rows:
        return f"{heading}\n<p>Nothing is waiting: every new item has been posted.</p>\n</section>"
    more = "" if total <= len(rows) else f"<p>The first {len(rows)} of {total} are shown.</p>\n"
    head = _head("Item", "State", "Why, and what to do")
    return (
        f'{heading}\n{more}<div class="wrap"><table>\n{head}\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table></div>\n</section>"
    )


def _reminders(snapshot: StatusSnapshot) -> str:
    """The next reminders of events, when any feed has them."""
    if not snapshot.reminders:
        return ""
    zone = ZoneInfo(snapshot.timezone)
    items = [
        f"<li>{_text(r.title or r.key)}"
        f'<span class="sub">feed {_text(r.feed)}, reminder {_text(r.label)}: '
        f'<time datetime="{r.due_at.isoformat()}">'
        f"{r.due_at.astimezone(zone):%a %d %b %H:%M} ({_text(snapshot.timezone)})</time>"
        f", {_ago(r.due_at, snapshot.taken_at)}</span></li>"
        for r in snapshot.reminders
    ]
    return (
        '<section aria-labelledby="reminders">\n<h2 id="reminders">Next reminders</h2>\n'
        '<ol class="posts">\n' + "\n".join(items) + "\n</ol>\n</section>"
    )


def _latest(posts: Iterable[ItemRow], now: datetime) -> str:
    items = [
        f"<li>{_link(p.status_url, p.title or p.link or p.key)}"
        f'<span class="sub">feed {_text(p.feed)}'
        f"{', ' + _ago(p.posted_at, now) if p.posted_at else ''}</span></li>"
        for p in posts
    ]
    heading = '<section aria-labelledby="latest">\n<h2 id="latest">Latest posts</h2>'
    if not items:
        return f"{heading}\n<p>Nothing posted yet.</p>\n</section>"
    return f'{heading}\n<ol class="posts">\n' + "\n".join(items) + "\n</ol>\n</section>"


def _chart(days: tuple[tuple[date, int], ...]) -> str:
    total = sum(count for _, count in days)
    busiest = max(days, key=lambda d: d[1], default=None)
    summary = f"{total} post{'s' if total != 1 else ''} in the last {len(days)} days"
    if busiest is not None and busiest[1] > 0:
        summary += f"; the busiest day was {_day(busiest[0])} with {busiest[1]}"
    heading = (
        '<section aria-labelledby="per-day">\n'
        f'<h2 id="per-day">Posts per day, last {len(days)} days</h2>\n'
    )
    if total == 0:
        return f"{heading}<p>No posts in the last {len(days)} days.</p>\n</section>"
    rows = "\n".join(
        f'<tr><th scope="row">{_day(day)}</th><td class="num">{count}</td></tr>'
        for day, count in reversed(days)
    )
    return heading + (
        f'<figure>\n{_bars(days, summary)}\n<figcaption id="per-day-summary">{_text(summary)}.'
        "</figcaption>\n</figure>\n"
        "<details><summary>The same numbers as a table</summary>\n"
        f"<table>\n{_head('Day', 'Posts')}\n<tbody>\n{rows}\n</tbody></table>\n</details>\n"
        "</section>"
    )


def _bars(days: tuple[tuple[date, int], ...], summary: str) -> str:
    width, height, top, left, slot = 640, 150, 14, 28, 20
    base = height - 24
    peak = max((count for _, count in days), default=0)
    scale = (base - top) / peak if peak else 0.0
    bars = []
    for n, (day, count) in enumerate(days):
        bar_height = max(count * scale, 0)
        x = left + n * slot + 3
        bars.append(
            f'<rect class="bar" x="{x}" y="{base - bar_height:.1f}" width="{slot - 6}" '
            f'height="{bar_height:.1f}"><title>{_day(day)}: {count}</title></rect>'
        )
    first, last = days[0][0] if days else None, days[-1][0] if days else None
    right = left + len(days) * slot
    labels = [
        f'<text x="{left}" y="{height - 6}">{_day(first)}</text>' if first else "",
        f'<text x="{right}" y="{height - 6}" text-anchor="end">{_day(last)}</text>' if last else "",
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>' if peak else "",
        f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>',
    ]
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="per-day-title">'
        f'<title id="per-day-title">Bar chart: {_text(summary)}</title>'
        f'<line class="axis" x1="{left}" y1="{base}" x2="{right}" y2="{base}"/>'
        + (f'<line class="axis" x1="{left}" y1="{top}" x2="{right}" y2="{top}"/>' if peak else "")
        + "".join(bars)
        + "".join(labels)
        + "</svg>"
    )


def _footer() -> str:
    return (
        "<footer>\n<p>fedibridge posts the library's feeds to its fediverse account. This page "
        "uses no scripts, no cookies and no tracking. For monitoring tools: "
        '<a href="/healthz">/healthz</a> and <a href="/metrics">/metrics</a>.</p>\n</footer>'
    )


# --- pieces ----------------------------------------------------------------------


def _head(*names: str) -> str:
    cells = "".join(f'<th scope="col">{_text(name)}</th>' for name in names)
    return f"<thead><tr>{cells}</tr></thead>"


def _badge(level: Level) -> str:
    symbol, word = WORDS[level]
    return f'<span class="badge {level}"><span aria-hidden="true">{symbol}</span> {word}</span>'


def _item_badge(item: ItemRow) -> str:
    if item.state == "failed":
        return '<span class="badge failing"><span aria-hidden="true">✕</span> Refused</span>'
    return _badge("waiting")


def _problem(subject: str, level: Level, problem: Problem) -> str:
    todo = f"<p><strong>What to do:</strong> {_prose(problem.todo)}</p>" if problem.todo else ""
    return (
        f'<div class="problem {level}">\n<h3>{_text(subject)}: {WORDS[level][1].lower()}</h3>\n'
        f"<p>{_prose(problem.what)}</p>{todo}\n</div>"
    )


def _item_title(item: ItemRow) -> str:
    return _link(item.link, item.title or item.link or item.key)


def _since(item: ItemRow, now: datetime) -> str:
    if item.discovered_at is None:
        return ""
    tries = f", {item.attempts} tries" if item.attempts > 1 else ""
    return f", found {_ago(item.discovered_at, now)}{tries}"


def _link(url: str | None, label: str) -> str:
    """A link only for http(s) addresses: a feed or a server could send ``javascript:``."""
    if url and url.lower().startswith(("https://", "http://")):
        return f'<a href="{_text(url)}" rel="noreferrer">{_text(label)}</a>'
    return _text(label)


def _text(value: str) -> str:
    return escape(value, quote=True)


_COMMAND = re.compile(r"`([^`]+)`")


def _prose(value: str) -> str:
    """Escaped text in which `a command` is shown as code, as the messages write it."""
    return _COMMAND.sub(r"<code>\1</code>", _text(value))


def _time(moment: datetime) -> str:
    return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M} UTC</time>'


def _ago(moment: datetime, now: datetime) -> str:
    """'12 minutes ago' or 'in 3 hours', with the exact time for machines and tooltips."""
    delta = now - moment
    words = _duration(abs(delta))
    text = f"in {words}" if delta < timedelta(0) else f"{words} ago"
    return (
        f'<time datetime="{moment.isoformat()}" title="{moment:%Y-%m-%d %H:%M} UTC">{text}</time>'
    )


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 60:
        return "less than a minute"
    if seconds < 3600:
        return _count(int(seconds // 60), "minute")
    if seconds < 2 * 86400:
        return _count(int(seconds // 3600), "hour")
    return _count(int(seconds // 86400), "day")


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}{'s' if number != 1 else ''}"


def _day(day: date) -> str:
    return f"{day:%d %b}".lstrip("0")
