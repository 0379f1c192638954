"""Safe retries of creates: replay the first response to a repeated `Idempotency-Key`.

Keys belong to the principal that sent them and are kept at least 24 hours. The record is
written in the same unit of work as what the create stored, so a crash leaves neither.
"""

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session, col, delete

from app.core.problems import ProblemError, describe_pattern
from app.models import IdempotencyRecord
from app.models.base import utcnow

KEEP_FOR = timedelta(hours=48)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=describe_pattern(
            r"^[\x21-\x7e]+$", "Input should be printable ASCII characters, without spaces"
        ),
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


def respond_once(
    session: Session,
    request: Request,
    account_id: uuid.UUID,
    key: str | None,
    payload: BaseModel | None,
    create: Callable[[], Created],
    *,
    scope: str | None = None,
    redact: frozenset[str] = frozenset(),
) -> JSONResponse:
    """Run `create` (which adds rows) and add its key's record beside them, or replay the
    first response to this key. Nothing is committed here: the unit of work commits both,
    and runs this once more if a concurrent request stored the same key or id first.

    `scope` names what the create acts on (a client's id), so that the same request sent
    by another path to the same target is recognised as a retry.
    """
    fingerprint = _fingerprint(request, scope, payload)
    if key is not None:
        replay = _replay(session, account_id, key, fingerprint)
        if replay is not None:
            return replay
    status, body = _create_and_record(session, account_id, key, fingerprint, create, redact)
    return JSONResponse(body, status)


def _replay(
    session: Session, account_id: uuid.UUID, key: str, fingerprint: str
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
    account_id: uuid.UUID,
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
