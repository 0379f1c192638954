"""A person's own account: profile and timezone, password change, signing out everywhere,
and the forgotten-password flow.

Argon2 runs between units of work (see `service.start_sign_in`); mail goes out after the
unit that stored its token has committed (see `app/core/mail.py`)."""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, delete, func, select

from app.accounts.access import Caller
from app.accounts.person_schemas import AccountUpdate
from app.accounts.schemas import AccountPublic
from app.accounts.service import account_public, reserve_attempt
from app.accounts.throttle import take_turn
from app.core.config import Settings
from app.core.mail import Mail
from app.core.problems import ProblemError
from app.core.security import Principal
from app.models import Account, Client, Credential, LoginFailure, PasswordReset, ResetRequest
from app.models.base import utcnow
from app.progression import plans, replay
from app.progression.model import Position

# --- profile ---------------------------------------------------------------------------------


def update_me(session: Session, caller: Caller, payload: AccountUpdate) -> AccountPublic:
    """Display name and timezone, on the account and its client profile. The same values
    again change nothing. A new zone applies from now: it is appended to the client's zone
    history (earlier moments keep the zone they were lived in), and the active enrolment is
    re-evaluated from now, which re-dates only what was logged ahead of the clock."""
    principal = caller.principal(session)
    account = principal.account
    client = session.exec(select(Client).where(Client.account_id == account.id)).first()
    if payload.display_name is not None:
        account.display_name = payload.display_name
        if client is not None:
            client.display_name = payload.display_name
    if payload.timezone is not None and payload.timezone != account.timezone:
        account.timezone = payload.timezone
    if client is not None and payload.timezone is not None and payload.timezone != client.timezone:
        _move(session, principal, client, payload.timezone)
    session.add(account)
    if client is not None:
        session.add(client)
    session.flush()
    return account_public(session, account, client.id if client is not None else None)


def _move(session: Session, principal: Principal, client: Client, timezone: str) -> None:
    now = utcnow()
    change = {"at": now.isoformat(), "timezone": timezone, "previous": client.timezone}
    # A new list: the JSON column notices a new value, not an edit in place.
    client.timezone_changes = [*client.timezone_changes, change]
    client.timezone = timezone
    session.add(client)
    session.flush()
    enrollment = plans.active_enrollment(session, client)
    if enrollment is not None:
        # The first position at this moment: whatever was logged from now on (a clock a few
        # minutes ahead) is dated again in the new zone; the standing's hold end too.
        replay.reevaluate(
            session, enrollment, client, Position(now, 0, "", ""), actor=principal.actor
        )


# --- password --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """What the password is checked against, between two units of work."""

    account_id: uuid.UUID
    email: str
    password_hash: str
    ip: str
    at: datetime
    attempt: int  # the failure counted before the check, taken back if the password matches


def start_password_check(
    session: Session, settings: Settings, caller: Caller, ip: str
) -> PasswordCheck:
    """First half (a small write): the caller, and the attempt counted as a failed sign-in
    for its e-mail from here before the password is checked (429 past the limit), so a
    stolen token cannot be used to guess the password faster than signing in could, even
    with many guesses at once."""
    principal = caller.principal(session)
    account = principal.account
    now = utcnow()
    attempt = reserve_attempt(session, settings, account.email, ip, now)
    return PasswordCheck(account.id, account.email, account.password_hash, ip, now, attempt)


def _take_back(session: Session, check: PasswordCheck) -> None:
    """The password matched: its attempt does not count."""
    session.exec(delete(LoginFailure).where(col(LoginFailure.id) == check.attempt))


def _wrong_password(
    session: Session, settings: Settings, check: PasswordCheck, field: str
) -> ProblemError:
    """Counted as a failed sign-in already (`start_password_check`): only the answer."""
    return ProblemError(
        403,
        "wrong-password",
        "The password is wrong.",
        errors=[{"loc": ["body", field], "msg": "Wrong password", "type": "wrong_password"}],
    )


def _same_account(session: Session, caller: Caller, check: PasswordCheck) -> Principal:
    principal = caller.principal(session)
    if principal.account.password_hash != check.password_hash:
        # Changed between the two units of work (another device, a reset): check again.
        raise ProblemError(
            409, "password-changed", "The password changed meanwhile; send the request again."
        )
    return principal


def revoke_everything(session: Session, account_id: uuid.UUID, keep: uuid.UUID | None) -> None:
    """Every sign-in token and API key of the account stops working (but `keep`, the
    credential asking), and so does every reset link not used yet. Run by whatever says the
    account's credentials may be in other hands (a password change, signing out everywhere,
    a completed reset): a key minted with a stolen token, or a link mailed before, must not
    outlive the event meant to shut the thief out (docs/security.md)."""
    now = utcnow()
    statement = (
        update(Credential)
        .where(col(Credential.account_id) == account_id)
        .where(col(Credential.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    if keep is not None:
        statement = statement.where(col(Credential.id) != keep)
    session.connection().execute(statement)
    session.connection().execute(
        update(PasswordReset)
        .where(col(PasswordReset.account_id) == account_id)
        .where(col(PasswordReset.used_at).is_(None))
        .values(used_at=now)
    )


def finish_password_change(
    session: Session,
    settings: Settings,
    caller: Caller,
    check: PasswordCheck,
    *,
    verified: bool,
    already: bool,
    new_hash: str | None,
) -> ProblemError | None:
    """Second half (writes). `already`: the current password is the new one (a retry of a
    change that went through): answered the same, changing nothing more."""
    principal = _same_account(session, caller, check)
    if not verified and not already:
        return _wrong_password(session, settings, check, "current_password")
    _take_back(session, check)
    if verified and new_hash is not None:
        principal.account.password_hash = new_hash
        session.add(principal.account)
    revoke_everything(session, principal.id, keep=principal.credential_id)
    return None


def sign_out_everywhere(session: Session, caller: Caller) -> None:
    """Every sign-in token and API key of the caller's account, this one included, stops
    working, and so does every reset link not used yet."""
    principal = caller.principal(session)
    revoke_everything(session, principal.id, keep=None)


# --- forgotten password ----------------------------------------------------------------------


def _throttle_resets(
    session: Session, settings: Settings, email: str, ip: str, now: datetime
) -> None:
    """429 past the allowance per e-mail, or ten times it per address. Counted alike for
    e-mails registered or not, so the answer says nothing about which an e-mail is. Counted
    and stored in one turn (app/accounts/throttle.py), so requests sent at once count too."""
    take_turn(session, f"reset-email:{email}", f"reset-ip:{ip}")
    window = timedelta(seconds=settings.login_failure_window_seconds)
    limit = settings.password_reset_max_requests
    for column, value, allowed in (
        (ResetRequest.email, email, limit),
        (ResetRequest.ip, ip, 10 * limit),
    ):
        count, oldest = session.exec(
            select(func.count(), func.min(ResetRequest.at))
            .where(col(column) == value)
            .where(col(ResetRequest.at) > now - window)
        ).one()
        if count >= allowed and oldest is not None:
            wait = max(1, math.ceil((oldest + window - now).total_seconds()))
            raise ProblemError(
                429,
                "too-many-requests",
                f"Too many password resets asked for; try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )


@dataclass(frozen=True, slots=True)
class ResetLinks:
    """What a reset mail gives: the token, the API address it is POSTed to, and the app's
    page for it (`HIPFIX_PASSWORD_RESET_URL`), if one is configured."""

    token: str
    api: str
    page: str | None


def _reset_body(links: ResetLinks, ttl: int) -> str:
    # Plain ASCII: sent 7bit, so no line is folded and the token copies whole.
    if links.page is not None:
        how = f"Open this link within {ttl} minutes to choose a new one:\n\n    {links.page}\n\n"
    else:
        how = (
            f"To choose a new one within {ttl} minutes, send it to this address (your app "
            "does this for you):\n\n"
            f"    POST {links.api}\n"
            '    {"new_password": "..."}\n\n'
            "or from a terminal:\n\n"
            f"    curl -sS -X POST {links.api} \\\n"
            "      -H 'content-type: application/json' -d '{\"new_password\": \"...\"}'\n\n"
            f"The reset token alone, to paste where an app asks for it:\n\n    {links.token}\n\n"
        )
    return (
        "Someone (we hope you) asked to reset the password of your HipFix account.\n\n"
        + how
        + "It works once. If you did not ask, ignore this mail: your password is unchanged.\n"
    )


def request_reset(
    session: Session, settings: Settings, email: str, ip: str, token_hash: str, links: ResetLinks
) -> Mail | None:
    """Store a one-time reset token (its hash) for a registered e-mail, and the request
    either way (the throttle counts it). The mail to send once this commits, or None."""
    email = email.strip().lower()
    now = utcnow()
    _throttle_resets(session, settings, email, ip, now)
    window = timedelta(seconds=settings.login_failure_window_seconds)
    session.add(ResetRequest(email=email, ip=ip, at=now))
    session.exec(delete(ResetRequest).where(col(ResetRequest.at) < now - window))
    account_id = session.exec(select(Account.id).where(Account.email == email)).first()
    if account_id is None:
        return None
    ttl = settings.password_reset_ttl_minutes
    session.add(
        PasswordReset(
            account_id=account_id, token_hash=token_hash, expires_at=now + timedelta(minutes=ttl)
        )
    )
    return Mail(to=email, subject="Reset your HipFix password", body=_reset_body(links, ttl))


def _live_reset(session: Session, token_hash: str) -> tuple[PasswordReset, Account]:
    reset = session.exec(
        select(PasswordReset)
        .where(PasswordReset.token_hash == token_hash)
        .where(col(PasswordReset.used_at).is_(None))
        .where(col(PasswordReset.expires_at) > utcnow())
    ).first()
    account = session.get(Account, reset.account_id) if reset is not None else None
    if reset is None or account is None:
        raise ProblemError(
            404,
            "reset-link-invalid",
            "This reset link is unknown, used or expired; ask for a new one.",
        )
    return reset, account


def check_reset(session: Session, token_hash: str) -> None:
    """Before the new password is hashed (a read): a made-up or dead link is answered 404
    without costing the server an Argon2 hash."""
    _live_reset(session, token_hash)


def reset_password(session: Session, token_hash: str, new_hash: str) -> None:
    """Set the password with a live reset token, once. The token and every other one of the
    account stop working, and so does every sign-in token and API key (whoever had the old
    password, or a token, is shut out). Unknown, used and expired tokens are one 404."""
    _, account = _live_reset(session, token_hash)
    account.password_hash = new_hash
    session.add(account)
    revoke_everything(session, account.id, keep=None)
    session.exec(delete(LoginFailure).where(col(LoginFailure.email) == account.email))
