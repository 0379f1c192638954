"""Logging: readable lines by default, JSON lines with `HIPFIX_LOG_FORMAT=json`, each with
the request id of the request it belongs to, and no secret in any log line.

Reset tokens and invitation codes travel in URL paths (`POST /v1/auth/password-reset/{token}`,
`POST /v1/invitations/{code}/accept`; the contract keeps those paths), so uvicorn's access
log and our own lines that name a path would write them down for anyone who reads the logs.
`RedactSecrets` rewrites each record before any handler formats it: the secret part of those
two paths, and anything shaped like one of our secrets (`hfr_`, `hfi_`, `hft_`, `hfk_` and
what follows), become `[redacted]`. It sits on the handlers, not on loggers, so records that
propagate from child loggers (`hipfix.mail`, `uvicorn.access`) pass through it too.

Personal fields and other secrets are redacted too: e-mail addresses, webhook signing
secrets (`whsec_…`) and anything written as `password=…` or `"password": "…"`. The formatters
redact their finished line once more, so an exception's traceback (a driver's message may quote
a row's values) is covered as well.

`hipfix serve` hands uvicorn `log_config()`: uvicorn's own configuration with the filters on
each handler, a handler for HipFix's loggers, and the JSON formatter on every handler when
asked. uvicorn's access log is off: `hipfix.access` (app/core/request_log.py) writes the one
line per request, by route template, so no path's secret can reach it. `install()` does the
same for an app started some other way (`uvicorn app.main:app`, the tests): the filters on
whatever handlers exist, and a handler for `hipfix` when nothing would print its lines.
"""

import copy
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from uvicorn.config import LOGGING_CONFIG

from app.core.request_context import REQUEST_ID

LogFormat = Literal["text", "json"]

REDACTED = "[redacted]"
# Each pattern with a substring that any text it could match contains: a line without it skips
# the pattern (a substring test costs a fraction of a regular expression's scan, and most lines
# hold none of these). `lower`: the substring is looked for in the lowered text.
_PATTERNS: tuple[tuple[str, bool, re.Pattern[str], str], ...] = (
    # The two paths' secret segments, whatever they hold (a mistyped code is still someone's).
    (
        "/password-reset/",
        False,
        re.compile(r"(/v1/auth/password-reset/)[^/?#\s\"']+"),
        rf"\g<1>{REDACTED}",
    ),
    (
        "/invitations/",
        False,
        re.compile(r"(/v1/invitations/)[^/?#\s\"']+(/accept)"),
        rf"\g<1>{REDACTED}\g<2>",
    ),
    # Any of our secrets wherever it appears: reset tokens, codes, tokens, API keys.
    ("hf", False, re.compile(r"\b(hf[rikt]_)[A-Za-z0-9_-]+"), rf"\g<1>{REDACTED}"),
    # Webhook signing secrets (base64).
    ("whsec_", False, re.compile(r"\b(whsec_)[A-Za-z0-9+/=_-]+"), rf"\g<1>{REDACTED}"),
    # Passwords written out as a field, in a query string or in JSON.
    (
        "password",
        True,
        re.compile(r"""(["']?\w*password["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,&}]+)""", re.I),
        rf"\g<1>{REDACTED}",
    ),
    # E-mail addresses: a personal field.
    ("@", False, re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), REDACTED),
)
# Loggers whose handlers get the filter in `install()`.
_LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "hipfix")


def redact(text: str) -> str:
    lowered: str | None = None
    for needle, lower, pattern, replacement in _PATTERNS:
        if lower:
            if lowered is None:
                lowered = text.lower()
            if needle not in lowered:
                continue
        elif needle not in text:
            continue
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: object) -> object:
    if isinstance(value, (bool, int, float)) or value is None:
        return value  # formatters may need numbers as numbers (uvicorn's status code)
    return redact(value if isinstance(value, str) else str(value))


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        else:
            record.msg = redact(str(record.msg))
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _redacted(value) for key, value in args.items()}
        return True


class RequestId(logging.Filter):
    """Stamps each record with the id of the request it was written for ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


_TEXT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class TextFormatter(logging.Formatter):
    """Readable lines, redacted once formatted (tracebacks included)."""

    def __init__(self, fmt: str = _TEXT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return redact(super().format(record))


# A request line's own fields (app/core/request_log.py), written as JSON keys.
_FIELDS = ("route", "method", "status", "duration_ms", "caller_kind", "caller_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    a request line's fields when present, and the exception's text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for field in _FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


def formatter(kind: LogFormat) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def log_config(level: str, kind: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's logging configuration with `RedactSecrets` and `RequestId` on every handler,
    HipFix's own loggers written beside uvicorn's, every line JSON when `kind` is json."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "redact_secrets": {"()": RedactSecrets},
        "request_id": {"()": RequestId},
    }
    config["formatters"]["hipfix"] = {"()": JsonFormatter if kind == "json" else TextFormatter}
    if kind == "json":
        config["formatters"]["default"] = {"()": JsonFormatter}
        config["formatters"]["access"] = {"()": JsonFormatter}
    config["handlers"]["hipfix"] = {
        "formatter": "hipfix",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    for name, handler in config["handlers"].items():
        # Our formatters redact the finished line themselves; uvicorn's need the filter.
        ours = name == "hipfix" or kind == "json"
        handler["filters"] = ["request_id"] if ours else ["redact_secrets", "request_id"]
    config["loggers"]["hipfix"] = {"handlers": ["hipfix"], "level": level, "propagate": False}
    return config


def _stamping(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = REQUEST_ID.get() or "-"
        return record

    make.hipfix_stamps = True  # type: ignore[attr-defined]  # marks it installed
    return make


def install(level: str = "INFO", kind: LogFormat = "text") -> None:
    """Every record stamped with its request id as it is made (whichever handler writes it);
    the filters on the handlers present now (once each); and when nothing would print
    HipFix's own lines (no handler on `hipfix` nor on the root logger), a handler for them."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "hipfix_stamps", False):
        logging.setLogRecordFactory(_stamping(factory))
    hipfix = logging.getLogger("hipfix")
    hipfix.setLevel(level)
    if not hipfix.handlers and not logging.getLogger().handlers:
        own = logging.StreamHandler(sys.stderr)
        own.setFormatter(formatter(kind))
        hipfix.addHandler(own)
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())
                handler.addFilter(RequestId())
