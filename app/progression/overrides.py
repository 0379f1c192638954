"""A coach (or a client without one) overriding the engine: who may, and what it records."""

import uuid

from sqlmodel import Session

from app.core.fingerprint import body_hash
from app.core.idempotency import Created
from app.core.problems import ProblemError
from app.core.retries import stored_retry
from app.core.security import Principal
from app.models import (
    Client,
    Override,
)
from app.models.base import utcnow
from app.progression.plans import plan_for, require_active_enrollment
from app.progression.replay import current_state, record
from app.progression.schemas import (
    OverrideCreate,
    OverridePublic,
)
from app.progression.timeline import override_entry

# --- overrides -----------------------------------------------------------------------------


def _override_public(row: Override) -> OverridePublic:
    return OverridePublic.model_validate(row, from_attributes=True)


def create_override(
    session: Session, principal: Principal, client: Client, payload: OverrideCreate
) -> Created:
    enrollment = require_active_enrollment(session, client)
    digest = body_hash(payload)
    existing = stored_retry(
        session, Override, payload.id, lambda o: o.client_id == client.id and o.body_hash == digest
    )
    if existing is not None:
        return 200, _override_public(existing)
    if payload.action == "unlock_stage" and not principal.is_coach:
        raise ProblemError(403, "coach-only", "Only the client's coach may unlock a stage.")
    if (
        payload.action == "clear_referral"
        and not principal.is_coach
        and client.coach_id is not None
    ):
        raise ProblemError(403, "coach-decides", "Your coach decides when a referral is cleared.")
    plan = plan_for(session, enrollment, client)
    state = current_state(session, enrollment)
    stage = payload.stage
    if payload.action == "clear_referral":
        if state.referral is None:
            raise ProblemError(409, "not-referred", "There is no referral to clear.")
        stage = None
    else:
        locked = [s.slug for s in plan.stages if s.slug not in state.unlocked]
        if stage is not None and stage not in {s.slug for s in plan.stages}:
            raise ProblemError(
                422,
                "unknown-stage",
                f"'{stage}' is not a stage of {plan.protocol} v{plan.version}.",
                errors=[
                    {"loc": ["body", "stage"], "msg": "Unknown stage", "type": "unknown_stage"}
                ],
            )
        if state.referral is not None:
            raise ProblemError(409, "referred", "The client is referred: clear the referral first.")
        if not locked or (stage is not None and stage not in locked):
            raise ProblemError(409, "already-unlocked", "That stage is already unlocked.")
        stage = stage or locked[0]
    row = Override(
        id=payload.id or uuid.uuid4(),
        client_id=client.id,
        enrollment_id=enrollment.id,
        action=payload.action,
        stage=stage,
        reason=payload.reason,
        by="coach" if principal.is_coach else "client",
        at=utcnow(),
        body_hash=digest,
        created_by=principal.id,
        actor_role=principal.role,
        actor_key_id=principal.actor.api_key_id,
    )
    session.add(row)
    session.flush()
    record(session, enrollment, client, [override_entry(row)], principal.actor)
    return 201, _override_public(row)
