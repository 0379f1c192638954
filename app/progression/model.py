"""The engine's plain data: what goes in (plan, timeline items) and what comes out.

Nothing here knows about HTTP or the database. Items are ordered by their `Position`:
the moment, then a fixed rank per kind (rules v1.1: pain logs, assessments, sessions,
overrides, so the pain logged with a session is judged before the session can open a
gate), then the content and the id, which makes any posting order of the same history
evaluate alike.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from app.progression.params import ProgressionParams

Status = Literal["progressing", "hold", "refer", "resolved"]
UnlockedBy = Literal["enrollment", "engine", "coach"]
# The no-progress clock's reference: the starting pain, the pain when a referral was cleared,
# or the starting pain at a clearance that had no pain logged in the 7 dates before it.
ClockFrom = Literal["start", "clearance", "clearance_without_logs"]
DecisionType = Literal[
    "enrolled",
    "stage_unlocked",
    "flare",
    "referral",
    "referral_cleared",
    "resolved",
    "relapse",
    "override",
]

RANK_ENROLLED = 0
RANK_PAIN = 1
RANK_ASSESSMENT = 2
RANK_SESSION = 3
RANK_OVERRIDE = 4
# Rules v1 ordered a moment's items session, assessment, pain, override. Event ids are derived
# from the position written with those ranks, so a decision the new order leaves unchanged
# keeps its id (and a re-evaluation retracts only what really changed).
_V1_RANK = {RANK_ENROLLED: 0, RANK_SESSION: 1, RANK_ASSESSMENT: 2, RANK_PAIN: 3, RANK_OVERRIDE: 4}
V1_RANK_TO_RANK = {v1: rank for rank, v1 in _V1_RANK.items()}


@dataclass(frozen=True, slots=True, order=True)
class Position:
    at: datetime
    rank: int
    tie: str  # a digest of the item's content: same-moment items order by what they say
    id: str

    def key(self) -> str:
        """A string that sorts like the position (UTC, fixed width), for the database."""
        return self._key(self.rank)

    def identity(self) -> str:
        """The key as rules v1 wrote it: what event ids derive from (see `_V1_RANK`)."""
        return self._key(_V1_RANK[self.rank])

    def _key(self, rank: int) -> str:
        moment = self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        return f"{moment}|{rank}|{self.tie}|{self.id}"


@dataclass(frozen=True, slots=True)
class StageSpec:
    order: int
    slug: str
    title: str
    unlock_by: Literal["enrollment", "engine"]
    rule: str | None
    exercises: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZoneChange:
    """From `at` on, the client lives in `timezone`."""

    at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class Plan:
    """One enrolment as the engine sees it. `timezone` is the client's zone at first;
    `zone_changes` (oldest first) each apply from their moment on, so days already lived
    keep their dates (`engine.local_date`)."""

    enrollment_id: str
    protocol: str
    version: int
    title: str
    stages: tuple[StageSpec, ...]
    params: ProgressionParams
    timezone: str
    started_at: datetime
    baseline_pain: int
    zone_changes: tuple[ZoneChange, ...] = ()


@dataclass(frozen=True, slots=True)
class Enrolled:
    id: str
    at: datetime
    rank: int = RANK_ENROLLED


@dataclass(frozen=True, slots=True)
class PainEntry:
    id: str
    at: datetime
    score: int
    context: str
    flags: tuple[str, ...] = ()
    rank: int = RANK_PAIN


@dataclass(frozen=True, slots=True)
class SessionEntry:
    id: str
    at: datetime
    exercises: tuple[str, ...]
    rank: int = RANK_SESSION


@dataclass(frozen=True, slots=True)
class AssessmentEntry:
    id: str
    at: datetime
    left: str
    right: str
    rank: int = RANK_ASSESSMENT


@dataclass(frozen=True, slots=True)
class OverrideEntry:
    id: str
    at: datetime
    action: Literal["unlock_stage", "clear_referral"]
    stage: str | None
    reason: str
    by: Literal["coach", "client"]
    rank: int = RANK_OVERRIDE


Item = Enrolled | PainEntry | SessionEntry | AssessmentEntry | OverrideEntry


def _tie(item: Item) -> str:
    # Ids differ between a stored history and the same history simulated, so two items at
    # the same moment are ordered by their content first, and by id only when identical.
    # JSON, not repr: an enum member and its string value must give the same digest.
    names = [name for name in item.__slots__ if name not in ("id", "at")]
    content = json.dumps([getattr(item, name) for name in names], default=str)
    return hashlib.sha1(content.encode()).hexdigest()[:16]


def position_of(item: Item) -> Position:
    return Position(item.at, item.rank, _tie(item), item.id)


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision event: its rule, the figures it used and a sentence a person reads."""

    type: DecisionType
    rule: str
    at: datetime
    day: date  # the client's local date of `at`
    position: Position
    stage: str | None
    message: str
    data: dict[str, Any]
    # The same decision for a clinician: third person, clinical terms, figure, threshold and
    # source. Not part of the event's identity (`replay.event_id`): wording may be improved.
    note: str = ""


@dataclass(slots=True)
class Unlock:
    at: datetime
    by: UnlockedBy
    reason: str
    pain: float | None  # current pain when it unlocked: "brought pain from … to …"


@dataclass(slots=True)
class State:
    """Everything the rules need to go on from here; bounded whatever the history's length."""

    day_pain: dict[date, int] = field(default_factory=dict)  # the last 14 local dates
    latest_date: date | None = None
    unlocked: dict[str, Unlock] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)  # since each stage unlocked
    knees_inward: bool = False
    referral: str | None = None  # the rule that referred, while referred
    referral_flags: list[str] = field(default_factory=list)  # red flags told while referred
    hold_until: date | None = None
    flare_dates: list[date] = field(default_factory=list)  # the last 7 local dates
    resolved: bool = False
    clock_start: datetime | None = None  # the no-progress clock
    clock_pain: float | None = None  # …and the pain it measures from
    clock_from: ClockFrom = "start"  # …and what that pain was, for the messages
    session_dates: list[date] = field(default_factory=list)  # the last 14 local dates
    morning_dates: list[date] = field(default_factory=list)  # next-morning logs, 14 dates
    last: Position | None = None
    # Closing the last item's moment opened something (a gate, resolved): an item added at
    # that moment must replay it, as the opening may not stand (see replay._start).
    opened: bool = False
