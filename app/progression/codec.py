"""The engine's state as JSON, for checkpoints in the database.

Each state says which rules made it (`rules`): `hipfix reevaluate` replays the histories
whose newest checkpoint was made by other rules. A state from before the marker (rules v1)
still loads: its position carries v1's same-moment rank, and its newer fields take their
defaults until the history is re-evaluated.
"""

from datetime import date, datetime
from typing import Any

from app.progression.model import V1_RANK_TO_RANK, Position, State, Unlock
from app.progression.rules import VERSION


def _position(value: list[Any] | None, *, v1: bool) -> Position | None:
    if value is None:
        return None
    at, rank, tie, ident = value
    return Position(datetime.fromisoformat(at), V1_RANK_TO_RANK[rank] if v1 else rank, tie, ident)


def rules_of(data: dict[str, Any]) -> str:
    """The rules a dumped state was made by."""
    return str(data.get("rules", "1"))


def dump_state(state: State) -> dict[str, Any]:
    return {
        "rules": VERSION,
        "day_pain": {d.isoformat(): p for d, p in state.day_pain.items()},
        "latest_date": state.latest_date.isoformat() if state.latest_date else None,
        "unlocked": {
            slug: [u.at.isoformat(), u.by, u.reason, u.pain] for slug, u in state.unlocked.items()
        },
        "sessions": dict(state.sessions),  # a copy: the state goes on changing
        "knees_inward": state.knees_inward,
        "referral": state.referral,
        "referral_flags": list(state.referral_flags),
        "hold_until": state.hold_until.isoformat() if state.hold_until else None,
        "flare_dates": [d.isoformat() for d in state.flare_dates],
        "resolved": state.resolved,
        "clock_start": state.clock_start.isoformat() if state.clock_start else None,
        "clock_pain": state.clock_pain,
        "clock_from": state.clock_from,
        "session_dates": [d.isoformat() for d in state.session_dates],
        "morning_dates": [d.isoformat() for d in state.morning_dates],
        "opened": state.opened,
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
        referral_flags=list(data.get("referral_flags", [])),
        hold_until=day(data["hold_until"]),
        flare_dates=[date.fromisoformat(d) for d in data["flare_dates"]],
        resolved=data["resolved"],
        clock_start=datetime.fromisoformat(data["clock_start"]) if data["clock_start"] else None,
        clock_pain=data["clock_pain"],
        clock_from=data.get("clock_from", "start"),
        session_dates=[date.fromisoformat(d) for d in data["session_dates"]],
        morning_dates=[date.fromisoformat(d) for d in data["morning_dates"]],
        last=_position(data["last"], v1=rules_of(data) == "1"),
        opened=data.get("opened", True),  # unknown (rules v1): replay rather than append
    )
