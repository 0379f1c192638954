"""Safe retries of creates: replay the first response to a repeated `Idempotency-Key`.

Keys belong to the principal that sent them and are kept at least 24 hours. The record is
written in the same transaction as what the create stored, so a crash leaves neither.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete

from app.core.problems import ProblemError
from app.models import IdempotencyRecord
from app.models.base import utcnow

log = logging.getLogger("hipfix.idempotency")

KEEP_FOR = timedelta(hours=48)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is ideal). A retry with the same key gets the "
        "first response again, and nothing is stored twice.",
    ),
]

Created = tuple[int, BaseModel]


def _fingerprint(request: Request, scope: str | None, payload: BaseModel | None) -> str:
    """What the request does, not how its path was spelled: `me` and the client's own id
    are one target. Without a scope, the path as sent stands in for it."""
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    target = scope if scope is not None else request.url.path
    body = payload.model_dump_json() if payload is not None else ""
    text = f"{request.method} {template}\n{target}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def _collided() -> ProblemError:
    return ProblemError(
        409,
        "conflict",
        "This request collided with a concurrent one that stored the same item or used "
        "the same Idempotency-Key; retry it.",
    )


def respond_once(
    session: Session,
    request: Request,
    account_id: object,
    key: str | None,
    payload: BaseModel | None,
    create: Callable[[], Created],
    *,
    scope: str | None = None,
    redact: frozenset[str] = frozenset(),
) -> JSONResponse:
    """Run `create` (which adds rows without committing) and commit it with its key's record.

    `scope` names what the create acts on (a client's id), so that the same request sent
    by another path to the same target is recognised as a retry.

    A conflicting concurrent insert (the same key or the same client-made id) rolls back
    and runs once more, which then finds the winner's result; a second collision is a 409.
    """
    fingerprint = _fingerprint(request, scope, payload)
    for _attempt in (1, 2):
        if key is not None:
            replay = _replay(session, account_id, key, fingerprint)
            if replay is not None:
                return replay
        try:
            # create() flushes, so it can collide too, not only the commit.
            status, body = _create_and_record(session, account_id, key, fingerprint, create, redact)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            log.warning("create collided, attempt %d: %s", _attempt, exc.orig)
            continue
        return JSONResponse(body, status)
    raise _collided()


def _replay(
    session: Session, account_id: object, key: str, fingerprint: str
) -> JSONResponse | None:
    """The first response to this key, if there was one; a different request is a 422."""
    record = session.get(IdempotencyRecord, (account_id, key))
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        )
    return JSONResponse(record.body, record.status_code, headers={"Idempotent-Replayed": "true"})


def _create_and_record(
    session: Session,
    account_id: object,
    key: str | None,
    fingerprint: str,
    create: Callable[[], Created],
    redact: frozenset[str],
) -> tuple[int, dict[str, Any]]:
    status, model = create()
    body = model.model_dump(mode="json")
    if key is not None:
        session.add(
            IdempotencyRecord(
                account_id=account_id,
                key=key,
                fingerprint=fingerprint,
                status_code=status,
                body={**body, **dict.fromkeys(redact)},
            )
        )
        session.exec(
            delete(IdempotencyRecord)
            .where(col(IdempotencyRecord.account_id) == account_id)
            .where(col(IdempotencyRecord.created_at) < utcnow() - KEEP_FOR)
        )
    return status, body
