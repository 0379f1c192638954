"""The progression engine (rules v1): a pure, deterministic function of a plan and a timeline.

`step` applies one item to the state and returns the decisions it caused; `evaluate`
replays a whole timeline. Reads use `progress` and `today`, which compute figures "as of"
a moment without changing the state. See `rules.py` for what each rule does and why.

Items at one moment (rules v1.1): pain logs first, then assessments, sessions, overrides.
Decisions that stop progress (a referral, a flare, a relapse) are taken at the item; those
that open something (a gate, `resolved`) once every item of the moment is in, so nothing
logged at that moment (a red flag, a session's own pain during exercise) can come too late
to stop them. Callers say which item closes its moment (`moments`).
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from app.progression import notes, rules
from app.progression.model import (
    AssessmentEntry,
    Decision,
    DecisionType,
    Enrolled,
    Item,
    OverrideEntry,
    PainEntry,
    Plan,
    SessionEntry,
    StageSpec,
    State,
    Status,
    Unlock,
    ZoneChange,
    position_of,
)

WINDOW = 7  # dates in a pain window
KEPT_DATES = 2 * WINDOW  # the current and previous windows
MEDIAL = "knee_medial_to_foot"
MAINTENANCE_SESSIONS_PER_WEEK = 2


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(plan: Plan, at: datetime) -> date:
    """Days are dates in the client's own time zone: the zone in force at `at`."""
    if not plan.zone_changes:
        return date_in(plan.timezone, at)
    return zoned_date(plan.timezone, plan.zone_changes, at)


@lru_cache(maxsize=256)
def _spans(
    first: str, changes: tuple[ZoneChange, ...]
) -> tuple[tuple[datetime | None, str, date | None], ...]:
    """(from, zone, floor) for each stretch of time lived in one zone. `floor`: the date in
    force when the stretch began. A move west would otherwise go back to a date already
    lived (22:00 in London is yesterday evening seen from Sydney's morning); the date stays
    at the floor until the new zone's own date catches up, so local dates never go back."""
    spans: list[tuple[datetime | None, str, date | None]] = [(None, first, None)]
    for change in changes:
        _, zone, floor = spans[-1]
        before = date_in(zone, change.at)
        spans.append((change.at, change.timezone, before if floor is None else max(floor, before)))
    return tuple(spans)


def zoned_date(first: str, changes: tuple[ZoneChange, ...], at: datetime) -> date:
    """The local date of `at` for a client who lived in `first`, then moved as `changes` say."""
    for start, zone, floor in reversed(_spans(first, changes)):
        if start is None or at >= start:
            day = date_in(zone, at)
            return day if floor is None or day >= floor else floor
    raise AssertionError("the first span has no start")  # pragma: no cover


def local_span(plan: Plan, day: date) -> tuple[datetime, datetime]:
    """The moments whose local date (`local_date`) is `day`: [start, end)."""
    if not plan.zone_changes:
        return day_span(plan.timezone, day)
    first, changes = plan.timezone, plan.zone_changes
    return zoned_day_start(first, changes, day), zoned_day_start(first, changes, day + _DAY)


_DAY = timedelta(days=1)


def zoned_day_start(first: str, changes: tuple[ZoneChange, ...], day: date) -> datetime:
    """The first moment whose local date (`zoned_date`) is `day` or later."""
    spans = _spans(first, changes)
    for index, (start, zone, floor) in enumerate(spans):
        if start is not None and floor is not None and floor >= day:
            return start
        moment = day_span(zone, day)[0]
        if start is not None:
            moment = max(moment, start)
        end = spans[index + 1][0] if index + 1 < len(spans) else None
        if end is None or moment < end:
            return moment
    raise AssertionError("the last span has no end")  # pragma: no cover


def date_in(timezone: str, at: datetime) -> date:
    return at.astimezone(_zone(timezone)).date()


def day_span(timezone: str, day: date) -> tuple[datetime, datetime]:
    """The moments of a local date: from its first instant to the next date's (DST aware)."""
    zone = _zone(timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


# --- figures -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Windows:
    current: Fraction | None  # mean daily pain over the 7 dates ending on the day
    previous: Fraction | None  # …over the 7 dates before those
    logged_current: int
    logged_previous: int


def _mean(values: list[int]) -> Fraction | None:
    return Fraction(sum(values), len(values)) if values else None


def windows(state: State, day: date) -> Windows:
    current = [p for d, p in state.day_pain.items() if 0 <= (day - d).days < WINDOW]
    previous = [p for d, p in state.day_pain.items() if WINDOW <= (day - d).days < 2 * WINDOW]
    return Windows(_mean(current), _mean(previous), len(current), len(previous))


def figure(value: Fraction | float | None) -> float | None:
    """A pain figure as shown: one decimal."""
    return None if value is None else round(float(value), 1)


def _say(value: Fraction | float | None) -> str:
    shown = figure(value)
    if shown is None:
        return "unknown"
    return str(int(shown)) if shown == int(shown) else str(shown)


def status_on(state: State, day: date) -> Status:
    """Precedence: refer > hold > resolved > progressing. A hold ends with its last date."""
    if state.referral is not None:
        return "refer"
    if state.hold_until is not None and day <= state.hold_until:
        return "hold"
    if state.resolved:
        return "resolved"
    return "progressing"


# --- gates -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    required: Any
    actual: Any
    met: bool
    note: str | None = None  # why it cannot be computed yet, when it cannot


@dataclass(frozen=True, slots=True)
class Gate:
    stage: StageSpec
    previous: StageSpec
    criteria: tuple[Criterion, ...]
    days: int
    sessions: int
    windows: Windows
    shortcut: bool

    @property
    def ready(self) -> bool:
        return all(c.met for c in self.criteria)


def next_locked(plan: Plan, state: State) -> tuple[StageSpec, StageSpec] | None:
    """The first locked stage (opened by the engine) and the stage before it."""
    for previous, stage in zip(plan.stages, plan.stages[1:], strict=False):
        if stage.slug not in state.unlocked:
            if previous.slug in state.unlocked and stage.unlock_by == "engine":
                return stage, previous
            return None
    return None


def gate(plan: Plan, state: State, stage: StageSpec, previous: StageSpec, at: datetime) -> Gate:
    """Gate A / gate B criteria for `stage`, as of the moment `at`."""
    p = plan.params
    day = local_date(plan, at)
    status = status_on(state, day)
    since = state.unlocked[previous.slug]
    days = (day - local_date(plan, since.at)).days
    sessions = state.sessions.get(previous.slug, 0)
    # Gate A only: a knee drifting inward in the latest squat test brings the feet sooner.
    first_engine_stage = next(s for s in plan.stages if s.unlock_by == "engine")
    shortcut = stage.slug == first_engine_stage.slug and state.knees_inward
    min_days = p.knees_inward_min_days if shortcut else p.gate_min_days
    min_sessions = p.knees_inward_min_sessions if shortcut else p.gate_min_sessions
    w = windows(state, day)
    criteria = (
        Criterion("status", "progressing or resolved", status, status not in ("refer", "hold")),
        Criterion("days_on_previous_stage", min_days, days, days >= min_days),
        Criterion("sessions_with_previous_stage", min_sessions, sessions, sessions >= min_sessions),
        _pain_persists(plan, w),
        Criterion(
            "logged_days_this_week",
            p.min_logged_days,
            w.logged_current,
            w.logged_current >= p.min_logged_days,
        ),
        Criterion(
            "logged_days_previous_week",
            p.min_logged_days,
            w.logged_previous,
            w.logged_previous >= p.min_logged_days,
        ),
        _stopped_falling(plan, w),
    )
    return Gate(stage, previous, criteria, days, sessions, w, shortcut)


def _pain_persists(plan: Plan, w: Windows) -> Criterion:
    limit = plan.params.resolved_max
    if w.current is None:
        return Criterion(
            "pain_persists",
            None,
            None,
            False,
            "Cannot be computed yet: no pain logged in the last 7 days.",
        )
    return Criterion("pain_persists", f"> {limit}", figure(w.current), w.current > limit)


def _stopped_falling(plan: Plan, w: Windows) -> Criterion:
    """Current pain above the week before's less `plateau_delta`, once both weeks have enough
    logged days; until then it says so rather than show a threshold it cannot judge."""
    p = plan.params
    if (
        w.current is None
        or w.previous is None
        or w.logged_current < p.min_logged_days
        or w.logged_previous < p.min_logged_days
    ):
        return Criterion(
            "stopped_falling",
            None,
            None,
            False,
            f"Cannot be computed yet: needs {p.min_logged_days} logged days in each of the last "
            f"two weeks (this week {w.logged_current}, the week before {w.logged_previous}).",
        )
    threshold = w.previous - Fraction(p.plateau_delta).limit_denominator(1000)
    if threshold < 0:  # no score is below 0: any pain now has stopped falling
        return Criterion(
            "stopped_falling",
            "any",
            figure(w.current),
            True,
            f"The week before averaged {_say(w.previous)}, less than {_say(p.plateau_delta)} "
            "above 0: any pain now counts as no longer falling.",
        )
    return Criterion(
        "stopped_falling", f"> {_say(threshold)}", figure(w.current), w.current > threshold
    )


# --- the rules, one item at a time ---------------------------------------------------------


class _Decisions:
    def __init__(self, item: Item, day: date) -> None:
        self.item = item
        self.day = day
        self.position = position_of(item)
        self.made: list[Decision] = []

    def add(
        self,
        type_: DecisionType,
        rule: str,
        stage: str | None,
        message: str,
        *,
        note: str,
        **data: Any,
    ) -> None:
        self.made.append(
            Decision(type_, rule, self.item.at, self.day, self.position, stage, message, data, note)
        )


def _keep_recent(dates: list[date], day: date, span: int) -> list[date]:
    return [d for d in dates if (day - d).days < span]


def _unlock(state: State, stage: StageSpec, unlock: Unlock) -> None:
    state.unlocked[stage.slug] = unlock
    state.sessions[stage.slug] = 0


def _record(plan: Plan, state: State, item: Item, day: date) -> Fraction | None:
    """Fold the item's data into the state; return current pain before it (for flares)."""
    before = windows(state, day).current
    if isinstance(item, PainEntry):
        state.day_pain[day] = max(item.score, state.day_pain.get(day, item.score))
        if item.context == "next_morning" and day not in state.morning_dates:
            state.morning_dates.append(day)
    elif isinstance(item, SessionEntry):
        done = set(item.exercises)
        for stage in plan.stages:
            if stage.slug in state.unlocked and done.intersection(stage.exercises):
                state.sessions[stage.slug] = state.sessions.get(stage.slug, 0) + 1
        if day not in state.session_dates:
            state.session_dates.append(day)
    elif isinstance(item, AssessmentEntry):
        state.knees_inward = MEDIAL in (item.left, item.right)
    state.latest_date = day
    state.day_pain = {d: p for d, p in state.day_pain.items() if (day - d).days < KEPT_DATES}
    state.session_dates = _keep_recent(state.session_dates, day, KEPT_DATES)
    state.morning_dates = _keep_recent(state.morning_dates, day, KEPT_DATES)
    return before


def _enrol(plan: Plan, state: State, item: Enrolled, out: _Decisions) -> None:
    for stage in plan.stages:
        if stage.unlock_by == "enrollment":
            _unlock(
                state,
                stage,
                Unlock(item.at, "enrollment", "Open from enrolment.", plan.baseline_pain),
            )
    state.clock_start = item.at
    state.clock_pain = plan.baseline_pain
    state.clock_from = "start"
    out.add(
        "enrolled",
        rules.ENROLLED,
        None,
        f"Enrolled in {plan.title} (version {plan.version}) with starting pain "
        f"{plan.baseline_pain}/10.",
        note=notes.enrolled(plan),
        baseline_pain=plan.baseline_pain,
        unlocked=[s.slug for s in plan.stages if s.unlock_by == "enrollment"],
    )


def _override(plan: Plan, state: State, item: OverrideEntry, day: date, out: _Decisions) -> None:
    who = "your coach" if item.by == "coach" else "you"
    if item.action == "clear_referral":
        if state.referral is None:
            out.add(
                "override",
                rules.OVERRIDE_CLEAR_REFERRAL,
                None,
                "No referral to clear.",
                note=notes.nothing_to_clear(item.by),
                applied=False,
            )
            return
        current = windows(state, day).current
        state.referral = None
        state.referral_flags = []
        state.clock_start = item.at
        if current is not None:
            state.clock_pain = float(current)
            state.clock_from = "clearance"
            measured = f"measured from pain {_say(current)}"
        else:
            state.clock_pain = plan.baseline_pain
            state.clock_from = "clearance_without_logs"
            measured = (
                "measured from your starting pain "
                f"{plan.baseline_pain} (no pain logged in the last 7 days)"
            )
        out.add(
            "referral_cleared",
            rules.OVERRIDE_CLEAR_REFERRAL,
            None,
            f"Referral cleared by {who}: {item.reason} The no-progress clock restarts now, "
            f"{measured}.",
            note=notes.referral_cleared(plan, item.by, state.clock_pain, state.clock_from),
            reason=item.reason,
            by=item.by,
            clock_pain=figure(state.clock_pain),
        )
        return
    # unlock_stage: the named stage (default the next locked one) and any locked before it.
    target = next((s for s in plan.stages if s.slug == item.stage), None)
    if target is None:
        locked = [s for s in plan.stages if s.slug not in state.unlocked]
        target = locked[0] if locked else None
    if target is None or target.slug in state.unlocked or state.referral is not None:
        why = "referred: clear the referral first" if state.referral else "already unlocked"
        out.add(
            "override",
            rules.OVERRIDE_UNLOCK_STAGE,
            item.stage,
            f"No change: {why}.",
            note=notes.unlock_refused(item.stage, referred=state.referral is not None),
            applied=False,
        )
        return
    current = windows(state, day).current
    # A hold stops the engine's unlocks, not the coach's judgment: applied, and said so.
    hold: dict[str, Any] = {}
    during_hold = ""
    if status_on(state, day) == "hold" and state.hold_until is not None:
        hold = {"during_hold": True, "hold_until": state.hold_until.isoformat()}
        during_hold = (
            " Made during a hold (pain flared; the hold lasts until the end of "
            f"{state.hold_until.isoformat()})."
        )
    for stage in plan.stages:
        if stage.order > target.order:
            break
        if stage.slug not in state.unlocked:
            _unlock(state, stage, Unlock(item.at, "coach", item.reason, figure(current)))
            out.add(
                "stage_unlocked",
                rules.OVERRIDE_UNLOCK_STAGE,
                stage.slug,
                f"Stage {stage.order}, {stage.title}, unlocked by {who}: {item.reason}"
                f"{during_hold}",
                note=notes.unlocked_by_coach(stage, state.hold_until if hold else None),
                reason=item.reason,
                by=item.by,
                **hold,
            )


def _said(flags: Iterable[str]) -> str:
    return ", ".join(f.replace("_", " ") for f in flags)


def _refer(plan: Plan, state: State, item: Item, day: date, out: _Decisions) -> None:
    if state.referral is not None:
        _new_red_flags(state, item, out)
        return
    p = plan.params
    if isinstance(item, PainEntry) and item.flags:
        state.referral = rules.REFER_RED_FLAG
        state.referral_flags = list(dict.fromkeys(item.flags))
        out.add(
            "referral",
            rules.REFER_RED_FLAG,
            None,
            f"You reported a warning sign ({_said(item.flags)}): "
            "pause the exercises and see a clinician.",
            note=notes.red_flag(item.flags, while_referred=False),
            flags=list(item.flags),
        )
        return
    if isinstance(item, PainEntry) and item.score >= p.severe_pain:
        state.referral = rules.REFER_SEVERE_PAIN
        out.add(
            "referral",
            rules.REFER_SEVERE_PAIN,
            None,
            f"Pain of {item.score}/10 is at or above {p.severe_pain}/10: pause the exercises and "
            "see a clinician.",
            note=notes.severe_pain(item.score, p.severe_pain),
            score=item.score,
            severe_pain=p.severe_pain,
        )
        return
    assert state.clock_start is not None
    assert state.clock_pain is not None
    weeks = (day - local_date(plan, state.clock_start)).days / 7
    current = windows(state, day).current
    if (
        weeks >= p.no_progress_weeks
        and current is not None
        and current > Fraction(state.clock_pain).limit_denominator(1000) - p.meaningful_drop
    ):
        state.referral = rules.REFER_NO_PROGRESS
        reference = {
            "start": f"{_say(state.clock_pain)} at the start",
            "clearance": f"{_say(state.clock_pain)} when the referral was cleared",
            "clearance_without_logs": f"your starting pain {_say(state.clock_pain)} (no pain was "
            "logged in the 7 days before the referral was cleared)",
        }[state.clock_from]
        out.add(
            "referral",
            rules.REFER_NO_PROGRESS,
            None,
            f"After {int(weeks)} weeks, pain is {_say(current)} against {reference}: less than "
            f"the {p.meaningful_drop}-point improvement expected. See a clinician to review the "
            "plan.",
            note=notes.no_progress(p, int(weeks), current, state.clock_pain, state.clock_from),
            weeks=int(weeks),
            current_pain=figure(current),
            from_pain=figure(state.clock_pain),
            meaningful_drop=p.meaningful_drop,
            **({} if state.clock_from == "start" else {"measured_from": state.clock_from}),
        )


def _new_red_flags(state: State, item: Item, out: _Decisions) -> None:
    """A red flag not yet told during this referral: the clinician should hear of it."""
    if not isinstance(item, PainEntry):
        return
    new = [f for f in dict.fromkeys(item.flags) if f not in state.referral_flags]
    if not new:
        return
    state.referral_flags = [*state.referral_flags, *new]
    out.add(
        "referral",
        rules.REFER_RED_FLAG,
        None,
        f"A new warning sign while referred ({_said(new)}): tell the clinician who sees you.",
        note=notes.red_flag(new, while_referred=True),
        flags=new,
        while_referred=True,
    )


def _flare(
    plan: Plan, state: State, item: Item, day: date, before: Fraction | None, out: _Decisions
) -> None:
    if not isinstance(item, PainEntry):
        return
    p = plan.params
    reference = before if before is not None else Fraction(plan.baseline_pain)
    extra: dict[str, Any] = {}
    if item.context == "during" and item.score > p.flare_during_max:
        rule = rules.FLARE_DURING
        why = (
            f"Pain during exercise was {item.score}/10, above the {p.flare_during_max}/10 "
            "that is acceptable"
        )
    elif item.context == "next_morning" and item.score >= reference + p.flare_rise:
        rule = rules.FLARE_NEXT_MORNING
        if before is not None:
            why = (
                f"Next-morning pain was {item.score}/10, {p.flare_rise} or more above your "
                f"recent {_say(reference)}"
            )
        else:
            why = (
                f"Next-morning pain was {item.score}/10, {p.flare_rise} or more above the "
                "reference: no pain logged in the last 7 days, so compared with your starting "
                f"pain {plan.baseline_pain}"
            )
            extra = {"compared_with": "starting_pain"}
    else:
        return
    until = day + timedelta(days=p.hold_days)
    state.hold_until = max(until, state.hold_until) if state.hold_until else until
    state.flare_dates = [*_keep_recent(state.flare_dates, day, WINDOW), day]
    repeated = len(state.flare_dates) >= 2
    advice = " Two flares within a week: consider seeing a clinician." if repeated else ""
    out.add(
        "flare",
        rule,
        None,
        f"{why}: progress holds until the end of {state.hold_until.isoformat()}, and the routine "
        f"is lighter.{advice}",
        note=notes.flare(plan, rule, item.score, before, state.hold_until, repeated=repeated),
        score=item.score,
        reference=figure(reference) if rule == rules.FLARE_NEXT_MORNING else p.flare_during_max,
        hold_until=state.hold_until.isoformat(),
        flares_this_week=len(state.flare_dates),
        see_clinician=repeated,
        **extra,
    )


def _resolve(plan: Plan, state: State, day: date, out: _Decisions) -> None:
    """Resolved: at least 3 logged days in the last 7 dates, all at or below `resolved_max`."""
    if state.resolved:
        return
    p = plan.params
    recent = [pain for d, pain in state.day_pain.items() if (day - d).days < WINDOW]
    if len(recent) >= 3 and max(recent) <= p.resolved_max:
        state.resolved = True
        out.add(
            "resolved",
            rules.RESOLVED,
            None,
            f"Pain stayed at {p.resolved_max}/10 or below on all {len(recent)} logged days of the "
            "last week: resolved. Keep a light maintenance routine.",
            note=notes.resolved(p, len(recent), max(recent)),
            logged_days=len(recent),
            highest=max(recent),
        )


def _relapse(plan: Plan, state: State, day: date, out: _Decisions) -> None:
    """Resolved ends only when pain returns: above `resolved_max` on 2 of the last 7 dates, or
    one date at `resolved_max` + `meaningful_drop` or more. A single day one point up is not
    a relapse: it would flip the status back and forth."""
    if not state.resolved:
        return
    p = plan.params
    recent = [pain for d, pain in state.day_pain.items() if (day - d).days < WINDOW]
    above = [pain for pain in recent if pain > p.resolved_max]
    highest = max(recent, default=0)
    high = p.resolved_max + p.meaningful_drop
    if len(above) >= 2:
        why = (
            f"Pain was above {p.resolved_max}/10 on {len(above)} of the last 7 days "
            f"(highest {highest}/10)"
        )
    elif highest >= high:
        why = f"Pain of {highest}/10 is {p.meaningful_drop} or more above {p.resolved_max}/10"
    else:
        return
    state.resolved = False
    out.add(
        "relapse",
        rules.RELAPSE,
        None,
        f"{why}: the protocol resumes.",
        note=notes.relapse(p, len(above), highest),
        days_above=len(above),
        highest=highest,
        resolved_max=p.resolved_max,
    )


def _open_gates(plan: Plan, state: State, item: Item, out: _Decisions) -> None:
    nxt = next_locked(plan, state)
    if nxt is None:
        return
    stage, previous = nxt
    g = gate(plan, state, stage, previous, item.at)
    if not g.ready:
        return
    start = state.unlocked[previous.slug].pain
    _unlock(state, stage, Unlock(item.at, "engine", "", figure(g.windows.current)))
    rule = stage.rule or f"gate.{stage.slug}"
    shortcut = " (sooner, as the squat test showed a knee drifting inward)" if g.shortcut else ""
    # The reference is the pain when the previous stage opened; a coach may have opened it
    # with no pain logged in the 7 dates before, and then there is nothing to compare with.
    moved = (
        f"brought pain from {_say(start)} to {_say(g.windows.current)}"
        if start is not None
        else f"left pain at {_say(g.windows.current)} (none was logged in the week before "
        f"stage {previous.order} opened)"
    )
    message = (
        f"Stage {stage.order}, {stage.title}, unlocked: {g.days} days and {g.sessions} sessions "
        f"with stage {previous.order} ({previous.title}) {moved}, and it has stopped "
        f"falling{shortcut}."
    )
    state.unlocked[stage.slug].reason = message
    out.add(
        "stage_unlocked",
        rule,
        stage.slug,
        message,
        note=notes.gate_opened(plan, g, start),
        days=g.days,
        sessions=g.sessions,
        from_pain=figure(start),
        current_pain=figure(g.windows.current),
        previous_pain=figure(g.windows.previous),
        knees_inward_shortcut=g.shortcut,
    )


def step(plan: Plan, state: State, item: Item, *, closes_moment: bool = True) -> list[Decision]:
    """Apply one item (in position order) to the state; return the decisions it caused.

    `closes_moment`: no item follows at the same moment. Only then may a gate open or
    `resolved` begin (see the module's docstring); `moments` works it out for a timeline."""
    day = local_date(plan, item.at)
    out = _Decisions(item, day)
    if isinstance(item, Enrolled):
        _enrol(plan, state, item, out)
        state.latest_date = day
    else:
        before = _record(plan, state, item, day)
        if isinstance(item, OverrideEntry):
            _override(plan, state, item, day, out)
        _refer(plan, state, item, day, out)
        _flare(plan, state, item, day, before, out)
        _relapse(plan, state, day, out)
        made = len(out.made)
        if closes_moment:
            _resolve(plan, state, day, out)
            if status_on(state, day) not in ("refer", "hold"):
                _open_gates(plan, state, item, out)
        state.opened = len(out.made) > made
    state.last = out.position
    return out.made


def moments(items: Iterable[Item]) -> Iterator[tuple[Item, bool]]:
    """The items in position order, each with whether it closes its moment."""
    ordered = sorted(items, key=position_of)
    for index, item in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        yield item, following is None or following.at != item.at


def evaluate(plan: Plan, items: Iterable[Item]) -> tuple[State, list[Decision]]:
    """Replay a whole timeline from enrolment, in position order."""
    state = State()
    decisions = step(plan, state, Enrolled(plan.enrollment_id, plan.started_at))
    decisions += replay(plan, state, items)
    return state, decisions


def replay(plan: Plan, state: State, items: Iterable[Item]) -> list[Decision]:
    """Go on from a checkpoint's state (which ends a moment) with the items after it."""
    decisions: list[Decision] = []
    for item, closes in moments(items):
        decisions += step(plan, state, item, closes_moment=closes)
    return decisions


# --- reads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageView:
    stage: StageSpec
    unlock: Unlock | None
    gate: Gate | None


@dataclass(frozen=True, slots=True)
class ProgressView:
    status: Status
    current_pain: float | None
    previous_pain: float | None
    stages: tuple[StageView, ...]
    advice: tuple[str, ...]


def _advice(plan: Plan, state: State, status: Status) -> tuple[str, ...]:
    if status == "refer":
        return (
            "Pause the exercises and see a clinician (a doctor or physiotherapist). Keep "
            "logging pain; the routine resumes when the referral is cleared.",
        )
    advice = []
    if status == "hold":
        advice.append(
            "Pain flared: do the lighter routine, and stop anything that hurts more than 5/10."
        )
    if len(state.flare_dates) >= 2:
        advice.append("Two flares within a week: consider seeing a clinician.")
    if status == "resolved":
        advice.append(
            f"Resolved: keep a maintenance routine, {MAINTENANCE_SESSIONS_PER_WEEK} sessions "
            "a week."
        )
    return tuple(advice)


def progress(plan: Plan, state: State, now: datetime) -> ProgressView:
    """The state after the latest item, with each locked stage's gate as of `now`."""
    day = local_date(plan, now)
    status = status_on(state, day)
    w = windows(state, day)
    nxt = next_locked(plan, state)
    views = []
    for stage in plan.stages:
        g = gate(plan, state, stage, nxt[1], now) if nxt and nxt[0].slug == stage.slug else None
        views.append(StageView(stage, state.unlocked.get(stage.slug), g))
    return ProgressView(
        status, figure(w.current), figure(w.previous), tuple(views), _advice(plan, state, status)
    )


@dataclass(frozen=True, slots=True)
class RoutineItem:
    stage: StageSpec
    exercise: str
    dose: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TodayView:
    day: date
    status: Status
    routine: tuple[RoutineItem, ...]
    check_ins_due: tuple[dict[str, str], ...]
    advice: tuple[str, ...]


def today(
    plan: Plan,
    state: State,
    day: date,
    doses: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> TodayView:
    """Today's routine for a local date. `doses` maps an exercise to (dose, easy dose)."""
    status = status_on(state, day)
    routine: list[RoutineItem] = []
    if status != "refer":
        for stage in plan.stages:
            unlock = state.unlocked.get(stage.slug)
            if unlock is None or local_date(plan, unlock.at) > day:
                continue
            for slug in stage.exercises:
                dose, easy = doses[slug]
                chosen = dict(easy if status == "hold" else dose)
                if status == "resolved":
                    chosen["sessions_per_week"] = min(
                        chosen.get("sessions_per_week", MAINTENANCE_SESSIONS_PER_WEEK),
                        MAINTENANCE_SESSIONS_PER_WEEK,
                    )
                routine.append(RoutineItem(stage, slug, chosen))
    checks = []
    if (day - timedelta(days=1)) in state.session_dates and day not in state.morning_dates:
        checks.append(
            {
                "context": "next_morning",
                "reason": "You exercised yesterday: log how the hip feels this morning.",
            }
        )
    if day not in state.day_pain:
        checks.append({"context": "rest", "reason": "No pain logged today yet."})
    return TodayView(day, status, tuple(routine), tuple(checks), _advice(plan, state, status))
