"""`POST /v1/simulations`: the same engine over a posted timeline, storing nothing.

The protocol is read in a unit of work (`protocol_for`); the engine then runs in the app's
worker process (`simulate_json`, app/core/cpu_pool.py), holding no database lane and not the
serving process's GIL. The request's size and span are
bounded (`SIMULATION_ITEMS`, `SIMULATION_DAYS`) and the router lets one caller run one
simulation at a time (app/core/costs.py)."""

import uuid
from datetime import UTC, timedelta
from typing import Any

from sqlmodel import Session

from app.catalogue.service import protocol_row
from app.core.problems import ProblemError
from app.core.responses import model_json
from app.progression import engine
from app.progression.decisions import EVENT_NAMESPACE, distinct, event_id, key_of
from app.progression.model import (
    AssessmentEntry,
    Item,
    OverrideEntry,
    PainEntry,
    SessionEntry,
    ZoneChange,
    position_of,
)
from app.progression.plans import make_plan, protocol_document
from app.progression.schemas import (
    SIMULATION_DAYS,
    Event,
    SimAssessment,
    SimOverride,
    SimPain,
    SimSession,
    SimulationRequest,
    SimulationResult,
)
from app.progression.session_rule import refusal
from app.progression.views import stages_view
from app.tracking.schemas import PainContext

SIMULATION_ID = str(uuid.uuid5(EVENT_NAMESPACE, "simulation"))


def _problem(index: int, field: str, kind: str, detail: str) -> ProblemError:
    return ProblemError(
        422,
        kind,
        detail,
        errors=[
            {
                "loc": ["body", "timeline", index, field],
                "msg": detail,
                "type": kind.replace("-", "_"),
            }
        ],
    )


def _items(request: SimulationRequest) -> list[tuple[int, Item]]:
    """Timeline entries as engine items (a session's pain scores as their own logs)."""
    items: list[tuple[int, Item]] = []
    for index, entry in enumerate(request.timeline):
        entry_id = None if isinstance(entry, SimOverride) else entry.id
        ident = str(entry_id) if entry_id else f"{index:06d}"
        if isinstance(entry, SimPain):
            at = entry.recorded_at
            items.append(
                (index, PainEntry(ident, at, entry.score, entry.context, tuple(entry.flags)))
            )
        elif isinstance(entry, SimSession):
            at = entry.performed_at
            items.append(
                (index, SessionEntry(ident, at, tuple(e.exercise for e in entry.exercises)))
            )
            for context, score in (
                (PainContext.during, entry.pain_during),
                (PainContext.after, entry.pain_after),
            ):
                if score is not None:
                    items.append(
                        (index, PainEntry(f"{ident}-{context.value}", at, score, context.value))
                    )
        elif isinstance(entry, SimAssessment):
            at = entry.performed_at
            items.append((index, AssessmentEntry(ident, at, entry.left, entry.right)))
        else:
            assert isinstance(entry, SimOverride)
            at = entry.at
            if entry.action == "unlock_stage" and entry.by == "client":
                # PRODUCT §3: only a coach's unlock_stage exists (a client's is never stored).
                raise _problem(
                    index,
                    "by",
                    "coach-only",
                    "Only a coach may unlock a stage; a client's unlock_stage does not exist.",
                )
            items.append(
                (index, OverrideEntry(ident, at, entry.action, entry.stage, entry.reason, entry.by))
            )
        field = {SimPain: "recorded_at", SimOverride: "at"}.get(type(entry), "performed_at")
        if at < request.started_at:
            raise _problem(index, field, "before-enrollment", "This is before `started_at`.")
        if at > request.started_at + timedelta(days=SIMULATION_DAYS):
            raise _problem(index, field, "beyond-span", _BEYOND)
    return items


_BEYOND = (
    f"This is more than {SIMULATION_DAYS} days after `started_at`: a simulation spans at most "
    f"{SIMULATION_DAYS} days, as a stored history does."
)


def _check_zone_changes(request: SimulationRequest) -> None:
    for index, change in enumerate(request.timezone_changes or ()):
        if change.at > request.started_at + timedelta(days=SIMULATION_DAYS):
            raise ProblemError(
                422,
                "beyond-span",
                _BEYOND,
                errors=[
                    {
                        "loc": ["body", "timezone_changes", index, "at"],
                        "msg": _BEYOND,
                        "type": "beyond_span",
                    }
                ],
            )


def protocol_for(session: Session, request: SimulationRequest) -> dict[str, Any]:
    """The protocol document the simulation names (422 if none is published)."""
    protocol = protocol_row(session, request.protocol, request.version)
    if protocol is None:
        raise ProblemError(
            422,
            "unknown-protocol",
            f"No published protocol '{request.protocol}'.",
            errors=[
                {"loc": ["body", "protocol"], "msg": "Unknown protocol", "type": "unknown_protocol"}
            ],
        )
    return protocol_document(session, protocol.slug, protocol.version)


def simulate_json(request: SimulationRequest, document: dict[str, Any]) -> bytes:
    """`simulate`, answered as JSON: what the worker process sends back (app/core/cpu_pool.py)."""
    return model_json(simulate(request, document))


def simulate(request: SimulationRequest, document: dict[str, Any]) -> SimulationResult:
    """The engine over the timeline: pure work, on a thread that holds no database lane."""
    _check_zone_changes(request)
    overrides: dict[str, Any] = (
        request.params.model_dump(exclude_none=True) if request.params is not None else {}
    )
    plan = make_plan(
        document,
        enrollment_id=SIMULATION_ID,
        overrides=overrides,
        timezone=request.timezone,
        started_at=request.started_at,
        baseline_pain=request.baseline_pain,
        zone_changes=tuple(
            sorted(
                (ZoneChange(c.at, c.timezone) for c in request.timezone_changes or ()),
                key=lambda change: change.at,
            )
        ),
    )
    state, decisions = engine.evaluate(plan, [])
    timeline = sorted(_items(request), key=lambda pair: position_of(pair[1]))
    for n, (index, item) in enumerate(timeline):
        if isinstance(item, SessionEntry):  # the session rule, as a logged session meets it
            refused = refusal(plan, state.unlocked, item.exercises)
            if refused is not None:
                raise _problem(index, "exercises", refused.kind, refused.message(plan))
        closes = n + 1 == len(timeline) or timeline[n + 1][1].at != item.at
        decisions += engine.step(plan, state, item, closes_moment=closes)
    last = state.last.at if state.last else request.started_at
    view = engine.progress(plan, state, max(last, request.started_at))
    return SimulationResult(
        status=view.status,
        current_pain=view.current_pain,
        previous_pain=view.previous_pain,
        stages=stages_view(view),
        events=[
            Event(
                id=event_id(SIMULATION_ID, key_of(d)),
                type=d.type,
                rule=d.rule,
                at=d.at.astimezone(UTC),
                local_date=d.day,
                stage=d.stage,
                message=d.message,
                data=d.data,
                clinical_note=d.note,
            )
            for d in distinct(decisions)
        ],
    )
