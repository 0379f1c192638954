"""The engine's state as JSON, for checkpoints in the database."""

from datetime import date, datetime
from typing import Any

from app.progression.model import Position, State, Unlock


def _position(value: list[Any] | None) -> Position | None:
    if value is None:
        return None
    at, rank, tie, ident = value
    return Position(datetime.fromisoformat(at), rank, tie, ident)


def dump_state(state: State) -> dict[str, Any]:
    return {
        "day_pain": {d.isoformat(): p for d, p in state.day_pain.items()},
        "latest_date": state.latest_date.isoformat() if state.latest_date else None,
        "unlocked": {
            slug: [u.at.isoformat(), u.by, u.reason, u.pain] for slug, u in state.unlocked.items()
        },
        "sessions": dict(state.sessions),  # a copy: the state goes on changing
        "knees_inward": state.knees_inward,
        "referral": state.referral,
        "hold_until": state.hold_until.isoformat() if state.hold_until else None,
        "flare_dates": [d.isoformat() for d in state.flare_dates],
        "resolved": state.resolved,
        "clock_start": state.clock_start.isoformat() if state.clock_start else None,
        "clock_pain": state.clock_pain,
        "session_dates": [d.isoformat() for d in state.session_dates],
        "morning_dates": [d.isoformat() for d in state.morning_dates],
        "last": [state.last.at.isoformat(), state.last.rank, state.last.tie, state.last.id]
        if state.last
        else None,
    }


def load_state(data: dict[str, Any]) -> State:
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    return State(
        day_pain={date.fromisoformat(d): p for d, p in data["day_pain"].items()},
        latest_date=day(data["latest_date"]),
        unlocked={
            slug: Unlock(datetime.fromisoformat(at), by, reason, pain)
            for slug, (at, by, reason, pain) in data["unlocked"].items()
        },
        sessions=dict(data["sessions"]),
        knees_inward=data["knees_inward"],
        referral=data["referral"],
        hold_until=day(data["hold_until"]),
        flare_dates=[date.fromisoformat(d) for d in data["flare_dates"]],
        resolved=data["resolved"],
        clock_start=datetime.fromisoformat(data["clock_start"]) if data["clock_start"] else None,
        clock_pain=data["clock_pain"],
        session_dates=[date.fromisoformat(d) for d in data["session_dates"]],
        morning_dates=[date.fromisoformat(d) for d in data["morning_dates"]],
        last=_position(data["last"]),
    )
