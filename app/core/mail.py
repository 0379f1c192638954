"""Outgoing mail: through SMTP when `HIPFIX_SMTP_URL` is set; otherwise each mail is written
to `HIPFIX_MAIL_DIR` as an .eml file (its path logged), so development needs no mail server.

The standard library's `smtplib` does the sending: it speaks SMTP with STARTTLS, implicit TLS
and AUTH, which is all HipFix needs, at the cost of no dependency. It blocks, so callers run
`send_mail` on a worker thread after their unit of work has committed (a background task once
the response is sent): no mail server's slowness ever holds the database's writer, and the
time a request takes says nothing about whether a mail went out.
"""

import logging
import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from app.core.config import Settings
from app.models.base import utcnow

log = logging.getLogger("hipfix.mail")

SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


def public_link(settings: Settings, path: str) -> str:
    """An absolute link for a mail: the configured public base URL and a path of ours. Never
    built from the request (`request.url_for` follows the Host header, which the caller
    writes: a reset link pointing at an attacker's host hands them the token)."""
    return settings.public_base_url + path


def app_reset_link(settings: Settings, token: str) -> str | None:
    """The reset page of the deployment's app for `token` (`HIPFIX_PASSWORD_RESET_URL`), a
    link a person clicks; None when no app page is configured."""
    template = settings.password_reset_url
    return template.replace("{token}", token) if template else None


def send_mail(settings: Settings, mail: Mail) -> None:
    """Send or write one mail. Never raises: a failure is logged (the request that asked for
    it was answered already)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="hipfix")
    # Never quoted-printable: its soft line breaks split a long link (and the token in it)
    # for whoever copies it from the file or a plain-text reader. Lines stay under SMTP's 998.
    message.set_content(mail.body, cte="7bit" if mail.body.isascii() else "8bit")
    try:
        if settings.smtp_url:
            _send_smtp(settings.smtp_url, message)
            # No recipient in a log line: an e-mail address is personal data.
            log.info("mail sent: %r", mail.subject)
        else:
            path = _write(Path(settings.mail_dir), message)
            # No mail server: the developer reads the link in the file. Not in the log: no
            # secret goes into a log line (app/core/logs.py).
            log.info("mail %r written to %s (no HIPFIX_SMTP_URL)", mail.subject, path)
    except (OSError, smtplib.SMTPException):
        log.exception("mail %r could not be sent", mail.subject)


def _send_smtp(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise smtplib.SMTPException(f"HIPFIX_SMTP_URL must be smtp:// or smtps://, not {url!r}")
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if parts.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)


def _write(folder: Path, message: EmailMessage) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    # Owner-only: the mail holds a live reset link.
    with open(path, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as file:
        file.write(message.as_string())
    return path
