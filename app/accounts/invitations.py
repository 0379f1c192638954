"""Invitations: a coach's one-time code that links a client account to it, or gives one of
its managed clients a login.

How an account and a managed client merge: the managed client (its history, its coach) is
kept, and the accepting account becomes its login. The account's own client profile, made
when it signed up, must hold no data yet (no enrolment: logs need one), else 409
`account-has-data`; it is erased (`erasure.erase_empty_profile`: left behind, its name and
zone would outlive the account's erasure). The account then sees the managed client as `me`.

Codes are 256 random bits stored as their SHA-256 (like tokens and API keys). Every code
that cannot be used (unknown, used, revoked, expired) answers the same 404, and such answers
are counted per address and per account: past the limit, 429 with Retry-After, even for a
good code, so guessing stays slow.
"""

import math
import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, func, select

from app.accounts.access import Caller, ClientAccess
from app.accounts.erasure import erase_empty_profile
from app.accounts.links import change_coach
from app.accounts.schemas import (
    ClientPublic,
    InvitationCreate,
    InvitationCreated,
    InvitationPage,
    InvitationPublic,
    InvitationStatus,
)
from app.accounts.service import client_public
from app.accounts.throttle import take_turn
from app.core.config import Settings
from app.core.db.writers import lock_for_update
from app.core.fingerprint import body_hash
from app.core.idempotency import Created
from app.core.pagination import keyset_page
from app.core.problems import NotFoundError, ProblemError
from app.core.retries import stored_retry
from app.core.security import Principal, new_secret, secret_hash
from app.models import Client, Enrollment
from app.models.accounts import Invitation, InvitationGuess
from app.models.base import utcnow

INVITATION_PREFIX = "hfi_"
DEFAULT_TTL = timedelta(days=7)


def _status(invitation: Invitation, now: datetime) -> InvitationStatus:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.expires_at <= now else "pending"


def invitation_public(invitation: Invitation, now: datetime | None = None) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id,
        prefix=invitation.prefix,
        email=invitation.email,
        display_name=invitation.display_name,
        client_id=invitation.client_id,
        status=_status(invitation, now or utcnow()),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        accepted_client_id=invitation.accepted_client_id,
        revoked_at=invitation.revoked_at,
    )


def _field_problem(status: int, kind: str, detail: str, field: str) -> ProblemError:
    return ProblemError(
        status,
        kind,
        detail,
        errors=[{"loc": ["body", field], "msg": detail, "type": kind.replace("-", "_")}],
    )


def create_invitation(session: Session, coach: Principal, payload: InvitationCreate) -> Created:
    digest = body_hash(payload)
    existing = stored_retry(
        session,
        Invitation,
        payload.id,
        lambda i: i.coach_id == coach.id and i.body_hash == digest,
    )
    if existing is not None:
        return 200, InvitationCreated(**invitation_public(existing).model_dump(), code=None)
    if payload.client_id is not None:
        managed = session.exec(
            select(Client)
            .where(col(Client.id) == payload.client_id)
            .where(col(Client.coach_id) == coach.id)
        ).first()
        if managed is None:
            raise _field_problem(
                422, "unknown-client", "You have no client with this id.", "client_id"
            )
        if managed.account_id is not None:
            raise _field_problem(
                409,
                "client-has-login",
                "This client already signs in with an account of its own.",
                "client_id",
            )
    code = new_secret(INVITATION_PREFIX)
    now = utcnow()
    invitation = Invitation(
        id=payload.id or uuid.uuid4(),
        coach_id=coach.id,
        code_hash=secret_hash(code),
        prefix=code[:8],
        email=payload.email.lower() if payload.email is not None else None,
        display_name=payload.display_name,
        client_id=payload.client_id,
        body_hash=digest,
        created_at=now,
        expires_at=payload.expires_at or now + DEFAULT_TTL,
    )
    session.add(invitation)
    session.flush()
    return 201, InvitationCreated(**invitation_public(invitation, now).model_dump(), code=code)


def list_invitations(
    session: Session, caller: Caller, limit: int, cursor: str | None
) -> InvitationPage:
    coach = caller.coach(session)
    now = utcnow()
    rows, next_cursor = keyset_page(
        session,
        select(Invitation).where(col(Invitation.coach_id) == coach.id),
        moment=col(Invitation.created_at),
        ident=col(Invitation.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return InvitationPage(items=[invitation_public(r, now) for r in rows], next_cursor=next_cursor)


def revoke_invitation(session: Session, caller: Caller, invitation_id: uuid.UUID) -> None:
    coach = caller.coach(session)
    invitation = session.exec(
        select(Invitation)
        .where(col(Invitation.id) == invitation_id)
        .where(col(Invitation.coach_id) == coach.id)
    ).first()
    if invitation is None:
        raise NotFoundError(f"No invitation {invitation_id}.")
    if invitation.accepted_at is not None:
        raise ProblemError(409, "invitation-accepted", "This invitation was already accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        session.add(invitation)


# --- accepting ------------------------------------------------------------------------------


def _unusable() -> ProblemError:
    return NotFoundError(
        "No invitation with this code can be accepted: it is unknown, used, "
        "revoked or expired. Ask your coach for a new one."
    )


def _check_throttle(
    session: Session, settings: Settings, account_id: uuid.UUID, ip: str, now: datetime
) -> None:
    """A 429 once this account, or this address, has tried too many codes that did not work
    within the window (the sign-in limits). Counted in one turn with the code's check and
    its record (app/accounts/throttle.py), so codes sent at once are counted too."""
    take_turn(session, f"invitation-account:{account_id}", f"invitation-ip:{ip}")
    window = timedelta(seconds=settings.login_failure_window_seconds)
    recent = col(InvitationGuess.at) > now - window
    by_account, by_ip = (
        session.exec(
            select(func.count(), func.min(InvitationGuess.at)).where(condition).where(recent)
        ).one()
        for condition in (
            col(InvitationGuess.account_id) == account_id,
            col(InvitationGuess.ip) == ip,
        )
    )
    for count, oldest in (by_account, by_ip):
        if count >= settings.login_max_failures and oldest is not None:
            wait = max(1, math.ceil((oldest + window - now).total_seconds()))
            raise ProblemError(
                429,
                "too-many-requests",
                f"Too many invitation codes that did not work; try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )


def _record_guess(
    session: Session, settings: Settings, account_id: uuid.UUID, ip: str, now: datetime
) -> ProblemError:
    window = timedelta(seconds=settings.login_failure_window_seconds)
    session.add(InvitationGuess(ip=ip, account_id=account_id, at=now))
    session.exec(delete(InvitationGuess).where(col(InvitationGuess.at) < now - window))
    return _unusable()


def accept_invitation(
    session: Session, caller: Caller, settings: Settings, code: str, ip: str
) -> ClientPublic | ProblemError:
    """The client now linked to the invitation's coach. A code that cannot be used is
    returned as its 404 problem, not raised, so that the unit of work commits the count of
    codes tried (the route raises it after)."""
    principal = caller.principal(session)
    if principal.is_coach:
        raise ProblemError(403, "client-only", "A client account accepts invitations.")
    now = utcnow()
    _check_throttle(session, settings, principal.id, ip, now)
    by_code = select(col(Invitation.id)).where(col(Invitation.code_hash) == secret_hash(code))
    # Two accepts of one code take turns here; the second finds it used.
    lock_for_update(session, by_code)
    invitation = session.exec(
        select(Invitation).where(col(Invitation.code_hash) == secret_hash(code))
    ).first()
    if invitation is None or _status(invitation, now) != "pending":
        return _record_guess(session, settings, principal.id, ip, now)
    if invitation.email is not None and invitation.email != principal.account.email:
        raise ProblemError(
            403,
            "invitation-for-another-email",
            "This invitation is for another e-mail address: sign in with that account.",
        )
    own_query = select(Client).where(col(Client.account_id) == principal.id)
    lock_for_update(session, select(col(Client.id)).where(col(Client.account_id) == principal.id))
    own = session.exec(own_query).first()
    if own is None:  # every client account has its profile from sign-up (or a merge)
        raise NotFoundError("This account has no client profile.")
    if own.coach_id is not None and own.coach_id != invitation.coach_id:
        raise ProblemError(
            409,
            "has-coach",
            "You already have a coach; leave them first (DELETE /v1/me/coach). A client has "
            "at most one coach.",
        )
    if invitation.client_id is None:
        client = own
        if own.coach_id is None:
            change_coach(session, own, invitation.coach_id, principal.actor, "invitation")
    else:
        client = _merge(session, principal, own, invitation)
    invitation.accepted_at = now
    invitation.accepted_client_id = client.id
    session.add(invitation)
    session.flush()
    return client_public(client)


def _merge(session: Session, principal: Principal, own: Client, invitation: Invitation) -> Client:
    """The managed client gets this account as its login (see the module's docstring)."""
    lock_for_update(session, select(col(Client.id)).where(col(Client.id) == invitation.client_id))
    managed = session.get(Client, invitation.client_id)
    if managed is None or managed.coach_id != invitation.coach_id or managed.account_id is not None:
        # Released, or given a login meanwhile: this code can no longer do what it said.
        raise _unusable()
    has_data = session.exec(
        select(col(Enrollment.id)).where(col(Enrollment.client_id) == own.id).limit(1)
    ).first()
    if has_data is not None:
        raise ProblemError(
            409,
            "account-has-data",
            "This account already has its own enrolment and logs; an invitation for a managed "
            "client needs an account without any. Sign up with another e-mail to accept it, "
            "or ask your coach for an ordinary invitation.",
        )
    # The account's empty profile goes before the managed client takes the login: an account
    # has one client profile.
    erase_empty_profile(session, own, managed)
    managed.account_id = principal.id
    session.add(managed)
    change_coach(
        session, managed, invitation.coach_id, principal.actor, "invitation_for_managed_client"
    )
    return managed


# --- leaving --------------------------------------------------------------------------------


def leave_coach(session: Session, caller: Caller) -> None:
    """A client account ends the link with its coach; its history stays its own."""
    principal = caller.principal(session)
    if principal.is_coach:
        raise ProblemError(403, "client-only", "Only a client leaves its coach.")
    lock_for_update(session, select(col(Client.id)).where(col(Client.account_id) == principal.id))
    own = session.exec(select(Client).where(col(Client.account_id) == principal.id)).first()
    if own is None or own.coach_id is None:
        raise NotFoundError("You have no coach.")
    change_coach(session, own, None, principal.actor, "client_left")


def release_client(session: Session, access: ClientAccess) -> None:
    """A coach ends the link with one of its clients that signs in itself."""
    principal, client = access.resolve(session)
    if not principal.is_coach:
        raise ProblemError(403, "coach-only", "Only a coach may do this.")
    if client.account_id is None:
        raise ProblemError(
            409,
            "managed-client",
            "A managed client has no login of its own: released, nobody could see it. Invite "
            "it (with its client_id) to give it a login first.",
        )
    change_coach(session, client, None, principal.actor, "released")
