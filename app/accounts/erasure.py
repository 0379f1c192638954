"""Erasure (GDPR article 17): a person's account and every row about them, in one unit of
work. A client's rows are found by its client id (its history, the feed, webhook payloads,
invitations, idempotency records whose stored response names it) and an account's by its id
and e-mail (credentials, reset tokens, throttling records, and the responses others kept for
retries that name the e-mail: a coach's invitation). `tests/api/test_person.py` scans every
table of the metadata for any trace left.

An account's empty profile, set aside when it becomes the login of a managed client, is
erased then and there (`erase_empty_profile`): nothing would find it again later.

Deleted for good, unlike a pain log: nothing is kept to retract, and the coach's feed and
webhooks simply no longer hold the person.
"""

import json
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, or_, update
from sqlmodel import Session, col, select

from app.accounts.access import Caller, ClientAccess
from app.accounts.person import PasswordCheck, _same_account, _wrong_password
from app.core.actors import Actor
from app.core.config import Settings
from app.core.db.writers import lock_for_update
from app.core.problems import ProblemError
from app.core.security import Principal
from app.models import (
    Account,
    AdherenceStanding,
    Assessment,
    Client,
    Credential,
    EngineCheckpoint,
    EngineEvent,
    Enrollment,
    ExerciseSession,
    IdempotencyRecord,
    LoginFailure,
    Override,
    PainLog,
    PasswordReset,
    ResetRequest,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.models.accounts import Invitation, InvitationGuess
from app.models.progression import FeedEntry
from app.progression import lifecycle


def _mentions(column: Any, value: str) -> ColumnElement[bool]:
    """Stored JSON or text naming the person (a response body, a webhook payload): the value
    as written, or as JSON escapes it (an e-mail address may hold non-ASCII characters). The
    value's `%` and `_` match only themselves."""
    text = cast(column, Text)
    forms = dict.fromkeys((value, json.dumps(value)[1:-1]))
    return or_(*(text.contains(form, autoescape=True) for form in forms))


def erase_client_rows(session: Session, client: Client, actor: Actor | None = None) -> None:
    """Everything about one client profile, the profile included (not its login). `actor`:
    who erased it, for the `client_left` its coach hears (None: a profile no coach knew)."""
    client_id = client.id
    enrollments = select(col(Enrollment.id)).where(col(Enrollment.client_id) == client_id)
    # Writers of its enrolments finish first (PostgreSQL; SQLite has one writer anyway).
    lock_for_update(session, enrollments)
    ident = str(client_id)
    connection = session.connection()
    for statement in (
        # Its feed, bar what a coach it left keeps (ids and the reason only: `lifecycle`).
        delete(FeedEntry)
        .where(col(FeedEntry.client_id) == client_id)
        .where(col(FeedEntry.coach_id).is_(None)),
        delete(WebhookDelivery).where(
            or_(col(WebhookDelivery.client_id) == client_id, _mentions(WebhookDelivery.body, ident))
        ),
        delete(EngineCheckpoint).where(col(EngineCheckpoint.enrollment_id).in_(enrollments)),
        delete(AdherenceStanding).where(col(AdherenceStanding.enrollment_id).in_(enrollments)),
        delete(EngineEvent).where(col(EngineEvent.client_id) == client_id),
        delete(Override).where(col(Override.client_id) == client_id),
        delete(PainLog).where(col(PainLog.client_id) == client_id),
        delete(ExerciseSession).where(col(ExerciseSession.client_id) == client_id),
        delete(Assessment).where(col(Assessment.client_id) == client_id),
        delete(Enrollment).where(col(Enrollment.client_id) == client_id),
        delete(Invitation).where(
            or_(
                col(Invitation.client_id) == client_id,
                col(Invitation.accepted_client_id) == client_id,
            )
        ),
        # A coach's create for this client (an enrolment, a log, the profile itself) kept its
        # response for retries: it names the client.
        delete(IdempotencyRecord).where(_mentions(IdempotencyRecord.body, ident)),
    ):
        connection.execute(statement)
    session.expunge_all()  # the ORM must not flush stale copies of rows deleted in SQL
    if client.coach_id is not None and actor is not None:  # its coach's tool hears of it
        lifecycle.client_left(session, client, client.coach_id, "erased", actor)
    connection.execute(delete(Client).where(col(Client.id) == client_id))


def erase_account_rows(session: Session, account_id: uuid.UUID, email: str) -> None:
    """An account with nothing left that names it elsewhere (see `_check_erasable`)."""
    endpoints = select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.account_id) == account_id)
    connection = session.connection()
    for statement in (
        delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id).in_(endpoints)),
        delete(WebhookEndpoint).where(col(WebhookEndpoint.account_id) == account_id),
        delete(Invitation).where(
            or_(col(Invitation.coach_id) == account_id, col(Invitation.email) == email)
        ),
        delete(InvitationGuess).where(col(InvitationGuess.account_id) == account_id),
        # Its own records, and others' that name its e-mail (a coach's invitation for it).
        delete(IdempotencyRecord).where(
            or_(
                col(IdempotencyRecord.account_id) == account_id,
                _mentions(IdempotencyRecord.body, email),
            )
        ),
        delete(Credential).where(col(Credential.account_id) == account_id),
        delete(PasswordReset).where(col(PasswordReset.account_id) == account_id),
        delete(LoginFailure).where(col(LoginFailure.email) == email),
        delete(ResetRequest).where(col(ResetRequest.email) == email),
    ):
        connection.execute(statement)
    session.expunge_all()
    connection.execute(delete(Account).where(col(Account.id) == account_id))


def erase_empty_profile(session: Session, profile: Client, successor: Client) -> None:
    """An account's own profile, empty (no enrolment, so no history), gives way to
    `successor`, the managed client the account becomes the login of. It is erased rather
    than left behind detached, where no later erasure of the account would find its name and
    zone. Invitations it accepted now name the successor, the same person; what else names it
    (its link's webhook deliveries, responses kept for retries) goes."""
    profile_id = profile.id
    ident = str(profile_id)
    connection = session.connection()
    for statement in (
        update(Invitation)
        .where(col(Invitation.accepted_client_id) == profile_id)
        .values(accepted_client_id=successor.id),
        update(Invitation)
        .where(col(Invitation.client_id) == profile_id)
        .values(client_id=successor.id),
        delete(WebhookDelivery).where(
            or_(
                col(WebhookDelivery.client_id) == profile_id, _mentions(WebhookDelivery.body, ident)
            )
        ),
        delete(IdempotencyRecord).where(_mentions(IdempotencyRecord.body, ident)),
    ):
        connection.execute(statement)
    session.delete(profile)
    session.flush()


# What a coach's own account may be named by in other people's histories: who acted.
_ACTED_IN = (
    Enrollment.created_by,
    PainLog.created_by,
    ExerciseSession.created_by,
    Assessment.created_by,
    Override.created_by,
    EngineEvent.actor_account_id,
    FeedEntry.actor_account_id,
)


def _check_erasable(session: Session, principal: Principal) -> None:
    """A coach is erased once it has no clients and no other person's history names it as
    who acted (that history is theirs to keep, and who acted is part of it)."""
    if not principal.is_coach:
        return
    if session.exec(select(col(Client.id)).where(col(Client.coach_id) == principal.id)).first():
        raise ProblemError(
            409,
            "has-clients",
            "You still have clients: release those who sign in themselves (DELETE "
            "/v1/clients/{id}/coach) and erase or release your managed clients first.",
        )
    for column in _ACTED_IN:
        if session.exec(select(col(column)).where(col(column) == principal.id).limit(1)).first():
            raise ProblemError(
                409,
                "named-in-histories",
                "Your former clients' histories record you as who logged or decided some of "
                "their items; those histories are theirs. Ask them (or HipFix's operator) to "
                "erase them, or keep this account.",
            )


def erase_me(
    session: Session, settings: Settings, caller: Caller, check: PasswordCheck, *, verified: bool
) -> ProblemError | None:
    """The caller's account, its client profile and every row about either, once the
    password is right (a wrong one counts as a failed sign-in, committed and returned)."""
    principal = _same_account(session, caller, check)
    if not verified:
        return _wrong_password(session, settings, check, "password")
    own = session.exec(select(Client).where(col(Client.account_id) == principal.id)).first()
    _check_erasable(session, principal)
    account = principal.account
    account_id, email = account.id, account.email
    if own is not None:
        erase_client_rows(session, own, principal.actor)
    erase_account_rows(session, account_id, email)
    return None


def erase_managed_client(session: Session, access: ClientAccess) -> None:
    """A coach erases a client it manages (one with no login of its own)."""
    principal, client = access.resolve(session)
    if not principal.is_coach:
        raise ProblemError(
            403,
            "coach-only",
            "Only a coach erases a client it manages; erase your own account with POST "
            "/v1/me/erasure.",
        )
    if client.account_id is not None:
        raise ProblemError(
            409,
            "client-has-login",
            "This client signs in itself: only they can erase their data (POST "
            "/v1/me/erasure). You may release them (DELETE /v1/clients/{id}/coach).",
        )
    erase_client_rows(session, client, principal.actor)
