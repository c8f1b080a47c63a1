"""Log lines of ``fedibridge run`` on stdout: readable text, or one JSON object per line.

Every line the bridge writes carries a stable event name, so that a log collector can match on
``feed.polled`` while the wording of the message may change:

- ``daemon.started``, ``daemon.stopping``, ``daemon.stopped``: the daemon's life.
- ``status_page.started``: where the status page is served.
- ``feed.polled``: one line per feed per poll, with what happened and how many were posted;
  a warning when something went wrong.
- ``feed.crashed``: an unexpected error in one poll (a bug); the next poll tries again.
- ``status_page.error``: an unexpected error while answering a request (a bug).

Lines from libraries carry their logger's name as the event. Messages never contain a token or
the body of a post request; tests/test_logs.py runs the daemon with a token and checks both
formats.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

# Libraries that would log every request at INFO: the bridge's own lines say what matters.
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "apscheduler")


def event(logger: logging.Logger, level: int, name: str, message: str, **fields: object) -> None:
    """Log ``message`` as event ``name``; ``fields`` become JSON keys (text shows the message)."""
    logger.log(level, message, extra={"event": name, "fields": fields})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _utc(record).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        name = getattr(record, "event", record.name)
        line = (
            f"{_utc(record):%Y-%m-%d %H:%M:%S} UTC {record.levelname:<7} {name}: "
            f"{record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(stream: TextIO, log_format: LogFormat = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(max(level, logging.WARNING))


def _utc(record: logging.LogRecord) -> datetime:
    return datetime.fromtimestamp(record.created, UTC)
