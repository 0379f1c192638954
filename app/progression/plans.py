"""An enrolment as the engine sees it: its protocol document (kept in the app's caches:
published versions never change), its parameters, its plan, and the active enrolment."""

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.core.caches import CacheSpec
from app.core.db import caches_of
from app.core.db.writers import for_writing, held, hold
from app.core.problems import ProblemError
from app.models import Client, Enrollment, ProtocolRow
from app.models.tracking import ENROLLMENT_IS_ACTIVE, held_active_enrollment, held_enrollment
from app.progression.model import Plan, StageSpec, ZoneChange
from app.progression.params import ProgressionParams

DOCUMENTS = CacheSpec("protocol documents", size=32)

_ACTIVE_ENROLLMENT = (
    select(Enrollment)
    .where(col(Enrollment.client_id) == bindparam("client_id"))
    .where(ENROLLMENT_IS_ACTIVE)
)
_ACTIVE_ENROLLMENT_HELD = for_writing(_ACTIVE_ENROLLMENT)


def protocol_document(session: Session, slug: str, version: int) -> dict[str, Any]:
    cache = caches_of(session)[DOCUMENTS]
    document: dict[str, Any] | None = cache.get((slug, version))
    if document is None:
        row = session.get(ProtocolRow, (slug, version))
        if row is None:
            raise LookupError(f"protocol {slug} v{version} is not published")
        document = cache.put((slug, version), row.document)
    return document


def effective_params(document: dict[str, Any], overrides: dict[str, Any]) -> ProgressionParams:
    """The protocol's parameters with an enrolment's own values over them."""
    return ProgressionParams.model_validate({**document["params"], **overrides})


def stage_specs(document: dict[str, Any]) -> tuple[StageSpec, ...]:
    return tuple(
        StageSpec(
            order=stage["order"],
            slug=stage["slug"],
            title=stage["title"],
            unlock_by=stage["unlock"]["by"],
            rule=stage["unlock"].get("rule"),
            exercises=tuple(e["slug"] for e in stage["exercises"]),
        )
        for stage in document["stages"]
    )


def exercise_catalogue(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["slug"]: e for stage in document["stages"] for e in stage["exercises"]}


_MOMENT = TypeAdapter(datetime)


def zones(timezone: str, changes: list[dict[str, Any]]) -> tuple[str, tuple[ZoneChange, ...]]:
    """A client's first zone and its changes, from its columns (`Client.timezone_changes`,
    each `{at, timezone, previous}`; `timezone`: the zone now)."""
    if not changes:
        return timezone, ()
    moves = tuple(ZoneChange(_MOMENT.validate_python(c["at"]), c["timezone"]) for c in changes)
    return changes[0]["previous"], moves


def make_plan(
    document: dict[str, Any],
    *,
    enrollment_id: str,
    overrides: dict[str, Any],
    timezone: str,
    started_at: datetime,
    baseline_pain: int,
    zone_changes: tuple[ZoneChange, ...] = (),
) -> Plan:
    """`timezone`: the zone at first; `zone_changes`: those that followed."""
    return Plan(
        enrollment_id=enrollment_id,
        protocol=document["slug"],
        version=document["version"],
        title=document["title"],
        stages=stage_specs(document),
        params=effective_params(document, overrides),
        timezone=timezone,
        started_at=started_at,
        baseline_pain=baseline_pain,
        zone_changes=zone_changes,
    )


def plan_for(
    session: Session, enrollment: Enrollment, client: Client, params: dict[str, Any] | None = None
) -> Plan:
    """The enrolment's plan; `params`: under these parameters rather than its own."""
    document = protocol_document(session, enrollment.protocol, enrollment.version)
    first, changes = zones(client.timezone, client.timezone_changes)
    return make_plan(
        document,
        enrollment_id=str(enrollment.id),
        overrides=enrollment.params if params is None else params,
        timezone=first,
        started_at=enrollment.started_at,
        baseline_pain=enrollment.baseline_pain,
        zone_changes=changes,
    )


def active_enrollment(session: Session, client: Client) -> Enrollment | None:
    return session.exec(_ACTIVE_ENROLLMENT, params={"client_id": client.id}).first()


def require_active_enrollment(
    session: Session, client: Client, *, for_write: bool = False
) -> Enrollment:
    """The client's active enrolment, or the 409 problem: logs and progress need one.
    `for_write`: held until the unit commits (writers of it take turns; `replay.reevaluate`
    then sends no lock of its own), unless this unit already holds it (`hold_active`)."""
    enrollment: Enrollment | None
    if for_write:
        enrollment = held(session, held_active_enrollment(client.id))
        if enrollment is None:
            params = {"client_id": client.id}
            enrollment = session.exec(_ACTIVE_ENROLLMENT_HELD, params=params).first()
            if enrollment is not None:
                hold_active(session, enrollment)
    else:
        enrollment = active_enrollment(session, client)
    if enrollment is None:
        raise ProblemError(
            409,
            "no-active-enrollment",
            "The client has no active enrolment: enrol them in a protocol first.",
        )
    return enrollment


def hold_active(session: Session, enrollment: Enrollment) -> None:
    """Note the client's active enrolment as selected `for_writing` in this unit."""
    hold(session, held_enrollment(enrollment.id))
    hold(session, held_active_enrollment(enrollment.client_id), enrollment)


_NEWEST_ENROLLMENT = (
    select(Enrollment)
    .where(col(Enrollment.client_id) == bindparam("client_id"))
    .order_by(col(Enrollment.started_at).desc(), col(Enrollment.created_at).desc())
    .limit(1)
)


def shown_enrollment(session: Session, client: Client) -> Enrollment:
    """The enrolment whose progress a client sees: the active one, else the one that ended
    last (a finished programme still shows where it ended), else the 409 problem."""
    enrollment = active_enrollment(session, client)
    if enrollment is None:
        enrollment = session.exec(_NEWEST_ENROLLMENT, params={"client_id": client.id}).first()
    return enrollment if enrollment is not None else require_active_enrollment(session, client)
