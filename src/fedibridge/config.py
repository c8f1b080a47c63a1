"""config.toml (+ environment overrides) → frozen ``Settings``.

Every problem becomes one line that names the key (``feeds.news.url``), says what is wrong and
how to fix it. Values are never echoed back, because a value may be a token.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from fedibridge.dates import date_format_problem
from fedibridge.digest import Digest, parse_digest
from fedibridge.errors import ConfigError
from fedibridge.filters import FILTER_FIELDS, EntryFilter, FilterField, compile_pattern
from fedibridge.languages import normalise_language
from fedibridge.models import ContentWarningRule, EventDates, Reading, Style
from fedibridge.plan import Pacing, QuietHours
from fedibridge.render import TEMPLATE_FIELDS, hashtag, template_fields

DEFAULT_CONFIG_PATH = Path("config.toml")
CONFIG_PATH_ENV = "FEDIBRIDGE_CONFIG"
DEFAULT_TEMPLATE = "{title}\n\n{summary}\n\n{link}\n\n{hashtags}"
DEFAULT_REMINDER_TEMPLATE = "Reminder: {title}\n{when}\n{location}\n\n{link}"
MIN_INTERVAL = timedelta(minutes=1)

_DURATION_PART = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """'90s', '15m', '2h', '1h30m', '1d' or a number of seconds → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = str(value).strip().lower().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        raise ValueError('write a duration such as "90s", "15m", "2h" or "1h30m"')
    return timedelta(
        seconds=sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    )


def _at_least_a_minute(value: timedelta) -> timedelta:
    if value < MIN_INTERVAL:
        raise ValueError(
            "poll at most once a minute: use 1m or more, so the website is not overloaded"
        )
    return value


Interval = Annotated[timedelta, BeforeValidator(parse_duration)]


def _time_of_day(text: str) -> time:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError('write times of day on the 24-hour clock, such as "08:00" or "17:30"')
    return time(int(match[1]), int(match[2]))


_LISTEN = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})$")


def listen_address(value: str) -> tuple[str, int]:
    """'127.0.0.1:8080', 'localhost:8080', '0.0.0.0:8080' or '[::1]:8080' → (host, port)."""
    match = _LISTEN.match(value.strip())
    port = int(match["port"]) if match else -1
    if match is None or not 0 <= port <= 65535:
        raise ValueError(
            'write an address and a port such as "127.0.0.1:8080" (this computer only) or '
            '"0.0.0.0:8080" (inside a container whose port is published)'
        )
    return match["ipv6"] or match["host"], port


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BridgeConfig(_Section):
    state_path: Path = Path("/data/fedibridge.sqlite3")
    interval: Interval = timedelta(minutes=15)
    contact: str | None = None
    # "host:port" for the status page, /healthz and /metrics; None serves nothing.
    status_listen: str | None = None
    log_format: Literal["text", "json"] = "text"
    timezone: str = "UTC"
    max_interval: Interval = timedelta(hours=6)
    # Items posted or skipped longer ago than this (and than the feed's update_max_age) are
    # pruned to a digest of their key: enough never to post them twice.
    keep_days: int = Field(default=90, ge=1)

    _interval_floor = field_validator("interval")(_at_least_a_minute)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                'write a time zone name such as "Europe/Berlin" or "America/Chicago"'
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("status_listen")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)  # raises ValueError with advice
        return value


class AccountConfig(_Section):
    server: str
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    # Which API to speak; "auto" asks the server (NodeInfo). See publish/detect.py.
    server_type: Literal["auto", "mastodon", "misskey"] = "auto"
    min_post_spacing: Interval = timedelta(0)

    @field_validator("server")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError('write the server\'s web address, such as "https://mastodon.example"')
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_token_source(self) -> AccountConfig:
        if self.access_token is not None and self.access_token_file is not None:
            raise ValueError("give either access_token or access_token_file, not both")
        return self


def _regular_expression(value: str) -> str:
    try:
        compile_pattern(value)
    except re.error as error:
        where = f" at character {error.pos + 1}" if error.pos is not None else ""
        raise ValueError(
            f"this is not a pattern fedibridge can use ({error.msg}{where}). To match one of "
            "the characters ( ) [ ] { } . * + ? | ^ $ \\ as itself, put a backslash before it, "
            "and write the pattern in single quotes ('...') so the backslash stays"
        ) from None
    return value


def _one_or_many(value: object) -> object:
    # Staff write `exclude = "cancelled"` as readily as `exclude = ["cancelled"]`.
    return (value,) if isinstance(value, str) else value


Pattern = Annotated[str, AfterValidator(_regular_expression)]
Patterns = Annotated[tuple[Pattern, ...], BeforeValidator(_one_or_many)]


class ContentWarningConfig(_Section):
    """One [[feeds.NAME.content_warnings]] rule."""

    text: str
    when_category: Annotated[tuple[str, ...], BeforeValidator(_one_or_many)] = ()
    when_matches: Pattern | None = None

    @field_validator("text")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('write the warning readers see first, such as text = "Horror"')
        return value.strip()

    @model_validator(mode="after")
    def _has_a_condition(self) -> ContentWarningConfig:
        if not self.when_category and self.when_matches is None:
            raise ValueError(
                "say which items get this warning: when_category = [...], when_matches = "
                "'...', or both"
            )
        return self

    def rule(self) -> ContentWarningRule:
        pattern = compile_pattern(self.when_matches) if self.when_matches is not None else None
        return ContentWarningRule(self.text, self.when_category, pattern)


class FeedConfig(_Section):
    url: str
    account: str | None = None  # may be left out when there is exactly one account
    title: str | None = None  # the {feed} field; defaults to the feed's own title
    template: str = DEFAULT_TEMPLATE
    hashtags: tuple[str, ...] = ()
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    language: str | None = None
    spoiler_text: str = ""
    sensitive: bool = False
    content_warnings: tuple[ContentWarningConfig, ...] = ()
    include: Patterns = ()
    exclude: Patterns = ()
    filter_fields: Annotated[tuple[FilterField, ...], BeforeValidator(_one_or_many)] = FILTER_FIELDS
    keep_feed_hashtags: bool = False
    date_format: str = "long"
    interval: Interval | None = None
    backfill: int = Field(default=0, ge=0, le=40)
    flood_guard_items: int = Field(default=10, ge=1)
    flood_guard_ratio: float = Field(default=0.9, gt=0, le=1)
    paused: bool = False
    allow_private_network: bool = False
    media: Literal["auto", "none"] = "auto"
    image_description: str = "{title}"
    image_from_page: bool = False
    on_update: Literal["edit", "ignore"] = "edit"
    update_max_age: Interval = timedelta(days=7)
    max_posts_per_cycle: int = Field(default=0, ge=0)
    quiet_hours: str | None = None
    # Events: how far ahead a calendar (.ics) is read, and where RSS items keep event dates.
    horizon: Interval = timedelta(days=60)
    dates: EventDates = "auto"
    # Events: post each event when it appears, and remind of it (a reply to that post).
    announce: bool = True
    remind: Annotated[tuple[str, ...], BeforeValidator(_one_or_many)] = ()
    remind_before: Annotated[tuple[Interval, ...], BeforeValidator(_one_or_many)] = ()
    reminder_template: str = DEFAULT_REMINDER_TEMPLATE
    # Busy feeds: collect new items and post them together at this time.
    digest: str | None = None
    digest_thread: bool = False
    digest_heading: str = "{count} new {period}:"

    @field_validator("digest")
    @classmethod
    def _digest_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_digest(value)
        return value

    @field_validator("digest_heading")
    @classmethod
    def _digest_fields(cls, value: str) -> str:
        try:
            value.format(count=12, period="this week")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                'use the fields {count} and {period}, such as "{count} new titles {period}:"'
            ) from None
        return value

    def digest_schedule(self) -> Digest | None:
        return parse_digest(self.digest) if self.digest is not None else None

    @field_validator("remind")
    @classmethod
    def _times_of_day(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _time_of_day(text)
        return value

    @field_validator("remind_before")
    @classmethod
    def _positive(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        if any(interval < timedelta(minutes=1) for interval in value):
            raise ValueError('write how long before the event, such as "1d", "2h" or "30m"')
        return value

    def reminder_at(self) -> tuple[time, ...]:
        return tuple(_time_of_day(text) for text in self.remind)

    @property
    def reminds(self) -> bool:
        return bool(self.remind or self.remind_before)

    @field_validator("horizon")
    @classmethod
    def _sensible_horizon(cls, value: timedelta) -> timedelta:
        if not timedelta(hours=1) <= value <= timedelta(days=400):
            raise ValueError('write how far ahead to read the calendar, such as "60d" or "14d"')
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            QuietHours.parse(value)
        return value

    _interval_floor = field_validator("interval")(
        lambda value: None if value is None else _at_least_a_minute(value)
    )

    @field_validator("template", "image_description", "reminder_template")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        unknown = template_fields(value) - TEMPLATE_FIELDS
        if unknown:
            names = ", ".join("{" + name + "}" for name in sorted(unknown))
            known = ", ".join("{" + name + "}" for name in sorted(TEMPLATE_FIELDS))
            raise ValueError(f"unknown field {names}; the fields you can use are {known}")
        return value

    @field_validator("hashtags")
    @classmethod
    def _valid_hashtags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [tag for tag in value if hashtag(tag) is None]
        if bad:
            raise ValueError(
                f"{bad!r} cannot be a hashtag: use letters, and digits only beside letters"
            )
        return value

    @field_validator("language")
    @classmethod
    def _iso_639_1(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = normalise_language(value)  # "en-GB" → "en", "deu" → "de"
        if code is None:
            raise ValueError('write a two-letter language code such as "en", "de" or "fr"')
        return code

    @field_validator("filter_fields")
    @classmethod
    def _something_to_search(cls, value: tuple[FilterField, ...]) -> tuple[FilterField, ...]:
        if not value:
            raise ValueError(
                'list where include and exclude look: "title", "summary", "categories"'
            )
        return value

    @field_validator("date_format")
    @classmethod
    def _readable_date(cls, value: str) -> str:
        problem = date_format_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def entry_filter(self, name: str) -> EntryFilter:
        """The include/exclude rules of the feed called ``name`` in the config."""
        return EntryFilter(
            key=f"feeds.{name}",
            include=tuple(compile_pattern(p) for p in self.include),
            exclude=tuple(compile_pattern(p) for p in self.exclude),
            fields=self.filter_fields,
        )

    def reading(self, now: datetime, zone: tzinfo) -> Reading:
        """How this feed's content is read at ``now`` (see ``parse.parse_feed``)."""
        return Reading(now=now, zone=zone, horizon=self.horizon, dates=self.dates)

    def style(self, feed_title: str, zone: tzinfo = UTC) -> Style:
        return Style(
            template=self.template,
            hashtags=self.hashtags,
            visibility=self.visibility,
            language=self.language,
            spoiler_text=self.spoiler_text,
            feed_title=self.title or feed_title,
            media=self.media == "auto",
            image_description=self.image_description,
            sensitive=self.sensitive,
            content_warnings=tuple(warning.rule() for warning in self.content_warnings),
            keep_feed_hashtags=self.keep_feed_hashtags,
            date_format=self.date_format,
            timezone=zone,
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FEDIBRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    bridge: BridgeConfig = BridgeConfig()
    accounts: dict[str, AccountConfig]
    feeds: dict[str, FeedConfig]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; a single environment variable overrides a key.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _feeds_name_accounts(self) -> Settings:
        problems = []
        for name, feed in self.feeds.items():
            if feed.account is None and len(self.accounts) != 1:
                problems.append(f"feeds.{name}.account: say which account posts this feed")
            elif feed.account is not None and feed.account not in self.accounts:
                problems.append(
                    f"feeds.{name}.account: there is no [accounts.{feed.account}] section"
                )
        if problems:
            raise ConfigError(problems)
        return self

    def pacing_for(self, feed_name: str) -> Pacing:
        feed = self.feeds[feed_name]
        return Pacing(
            max_posts_per_cycle=feed.max_posts_per_cycle,
            min_spacing=self.accounts[self.account_for(feed_name)].min_post_spacing,
            quiet_hours=QuietHours.parse(feed.quiet_hours) if feed.quiet_hours else None,
            zone=self.bridge.zone,
        )

    def account_for(self, feed_name: str) -> str:
        """The account name that posts ``feed_name`` (validated to exist)."""
        return self.feeds[feed_name].account or next(iter(self.accounts))

    def interval_for(self, feed_name: str) -> timedelta:
        return self.feeds[feed_name].interval or self.bridge.interval


def config_path(cli_value: str | None) -> Path:
    """--config, else $FEDIBRIDGE_CONFIG, else ./config.toml."""
    return Path(cli_value or os.environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH)


def load_settings(path: Path) -> Settings:
    """Read and check the config. Raises ConfigError with one staff-readable line per problem."""
    data = _read_toml(path)
    try:
        settings = Settings(**data)
    except ValidationError as error:
        raise ConfigError([_describe(e) for e in error.errors(include_input=False)]) from None
    # Absolute, so that file URIs (read-only state) and later chdirs cannot misplace them.
    return _relative_to(settings, path.parent.absolute())


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Relative paths count from the config file's folder, not from wherever the command ran."""

    def place(value: Path) -> Path:
        return value if value.is_absolute() else base / value

    bridge = settings.bridge.model_copy(update={"state_path": place(settings.bridge.state_path)})
    accounts = {
        name: account.model_copy(update={"access_token_file": place(account.access_token_file)})
        if account.access_token_file is not None
        else account
        for name, account in settings.accounts.items()
    }
    feeds = {
        name: feed.model_copy(update={"url": str(place(Path(feed.url)))})
        if "://" not in feed.url
        else feed
        for name, feed in settings.feeds.items()
    }
    return settings.model_copy(update={"bridge": bridge, "accounts": accounts, "feeds": feeds})


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            [
                f"{path}: no configuration file here. Copy config.example.toml to {path} and edit "
                f"it, or give its place with --config PATH or the {CONFIG_PATH_ENV} variable."
            ]
        )
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        # The decoder's message names line and column, and quotes no value.
        raise ConfigError([f"{path}: this is not valid TOML ({error})."]) from None


_HINTS = {
    "missing": "this key is required; add it",
    "extra_forbidden": "unknown key; check its spelling against config.example.toml, or remove it",
}


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "config"
    hint = _HINTS.get(error["type"])
    message = hint or str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"


def _env_name(key: str) -> str:
    return key.replace(".", "__").upper()


def read_token(settings: Settings, account: str) -> str:
    """The account's token from config, environment or file. Never logged."""
    config = settings.accounts[account]
    key = f"accounts.{account}"
    if config.access_token is not None:
        return config.access_token.get_secret_value().strip()
    if config.access_token_file is None:
        raise ConfigError(
            [
                f"{key}: no access token. Put it in a file and set {key}.access_token_file, or "
                f"set the environment variable FEDIBRIDGE_{_env_name(key)}__ACCESS_TOKEN."
            ]
        )
    try:
        token = config.access_token_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            [
                f"{key}.access_token_file: cannot read {config.access_token_file} "
                f"({error.strerror}). Check the path and that fedibridge may read the file."
            ]
        ) from None
    if not token:
        raise ConfigError([f"{key}.access_token_file: {config.access_token_file} is empty."])
    return token
