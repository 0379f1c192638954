"""Safe retries of creates: replay the first response to a repeated `Idempotency-Key`.

Keys belong to the principal that sent them and are kept at least 24 hours. The record is
written in the same transaction as what the create stored, so a crash leaves neither.
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete

from app.core.problems import ProblemError
from app.models import IdempotencyRecord
from app.models.base import utcnow

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


def _fingerprint(request: Request, payload: BaseModel | None) -> str:
    body = payload.model_dump_json() if payload is not None else ""
    return hashlib.sha256(f"{request.method} {request.url.path}\n{body}".encode()).hexdigest()


def respond_once(
    session: Session,
    request: Request,
    account_id: object,
    key: str | None,
    payload: BaseModel | None,
    create: Callable[[], Created],
    *,
    redact: frozenset[str] = frozenset(),
) -> JSONResponse:
    """Run `create` (which adds rows without committing) and commit it with its key's record.

    A conflicting concurrent insert (the same key or the same client-made id) rolls back
    and runs once more, which then finds the winner's result.
    """
    fingerprint = _fingerprint(request, payload)
    for attempt in (1, 2):
        if key is not None:
            record = session.get(IdempotencyRecord, (account_id, key))
            if record is not None:
                if record.fingerprint != fingerprint:
                    raise ProblemError(
                        422,
                        "idempotency-key-reused",
                        "This Idempotency-Key was used for a different request; use a new key.",
                    )
                return JSONResponse(
                    record.body, record.status_code, headers={"Idempotent-Replayed": "true"}
                )
        status, model = create()
        body = model.model_dump(mode="json")
        if key is not None:
            stored = {**body, **dict.fromkeys(redact)}
            session.add(
                IdempotencyRecord(
                    account_id=account_id,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=status,
                    body=stored,
                )
            )
            session.exec(
                delete(IdempotencyRecord)
                .where(col(IdempotencyRecord.account_id) == account_id)
                .where(col(IdempotencyRecord.created_at) < utcnow() - KEEP_FOR)
            )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
            continue
        return JSONResponse(body, status)
    raise AssertionError("unreachable")
