"""Logging: no secret in any log line.

Reset tokens and invitation codes travel in URL paths (`POST /v1/auth/password-reset/{token}`,
`POST /v1/invitations/{code}/accept`; the contract keeps those paths), so uvicorn's access
log and our own lines that name a path would write them down for anyone who reads the logs.
`RedactSecrets` rewrites each record before any handler formats it: the secret part of those
two paths, and anything shaped like one of our secrets (`hfr_`, `hfi_`, `hft_`, `hfk_` and
what follows), become `[redacted]`. It sits on the handlers, not on loggers, so records that
propagate from child loggers (`hipfix.mail`, `uvicorn.access`) pass through it too.

`hipfix serve` hands uvicorn `log_config()` (uvicorn's own, with the filter on each handler
and a handler for HipFix's loggers); `install()` also puts it on whatever handlers exist when
the app is built, for a server started some other way (`uvicorn app.main:app`).
"""

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any

from uvicorn.config import LOGGING_CONFIG

REDACTED = "[redacted]"
_PATTERNS = (
    # The two paths' secret segments, whatever they hold (a mistyped code is still someone's).
    (re.compile(r"(/v1/auth/password-reset/)[^/?#\s\"']+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/v1/invitations/)[^/?#\s\"']+(/accept)"), rf"\g<1>{REDACTED}\g<2>"),
    # Any of our secrets wherever it appears: reset tokens, codes, tokens, API keys.
    (re.compile(r"\b(hf[rikt]_)[A-Za-z0-9_-]+"), rf"\g<1>{REDACTED}"),
)
# Loggers whose handlers get the filter in `install()`.
_LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "hipfix")


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
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


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration with `RedactSecrets` on every handler, and HipFix's
    own loggers written beside uvicorn's."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": RedactSecrets}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    config["loggers"]["hipfix"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


def install() -> None:
    """`RedactSecrets` on the handlers present now (once each)."""
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())
