"""The clinician's report: one printable HTML page, no external assets. Jinja2 escapes
every value (names, notes, reasons: anything a person typed); the only markup passed
through is the chart, which ElementTree built and escaped."""

from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app.clinical import course, summary
from app.clinical.chart import pain_chart
from app.clinical.record import ClinicalRecord
from app.clinical.summary import Standing
from app.models import EngineEvent
from app.progression import adherence, engine

MEDIA_TYPE = "text/html; charset=utf-8"

_TEMPLATES = Environment(
    loader=PackageLoader("app.clinical", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_FALLBACK_NOTICE = (
    "HipFix offers educational self-help exercises only; it does not diagnose and does not "
    "replace a qualified clinician's assessment."
)


_STATUS = {
    "progressing": "Progressing",
    "hold": "Flare hold",
    "resolved": "Resolved",
    "refer": "Referred to a clinician",
}
_CRITERIA = {
    "status": "neither referred nor on a flare hold",
    "days_on_previous_stage": "days on stage {previous}",
    "sessions_with_previous_stage": "sessions including stage {previous} work",
    "pain_persists": "7-day mean NPRS above the resolved level",
    "logged_days_this_week": "days with pain logged, last 7",
    "logged_days_previous_week": "days with pain logged, the 7 before",
    "stopped_falling": "pain no longer falling (plateau)",
}
_KNEE = {"knee_over_foot": "knee over the foot", "knee_medial_to_foot": "knee medial to the foot"}


def _percent(value: float | None) -> str:
    return "no complete week counted" if value is None else f"{round(value * 100)} %"


def _nprs(value: float | int) -> str:
    return f"{value:g}/10"


def _pain_line(standing: Standing) -> str:
    baseline = standing.enrollment.baseline_pain
    change = standing.change
    if change is None:
        return f"No pain logged in the last 7 days (baseline {_nprs(baseline)})."
    percent = f", {change.percent:+d} %" if change.percent is not None else ""
    judged = {
        "improved": "an improvement that reaches the minimal important change",
        "worsened": "a worsening that reaches the minimal important change",
        "unchanged": "within the minimal important change",
    }[change.verdict]
    return (
        f"7-day mean {_nprs(change.now)} against {_nprs(baseline)} at baseline: "
        f"{change.points:+g} points{percent}, {judged} ({summary.NPRS_MIC_SOURCE})."
    )


def _adherence_line(standing: Standing) -> str:
    found = standing.figures
    return (
        f"Last 2 complete weeks {_percent(found.last_2_weeks)}; whole enrolment "
        f"{_percent(found.overall)} (sessions logged against those planned, capped per week; "
        "weeks with a referral left out)."
    )


def _status_line(record: ClinicalRecord, standing: Standing) -> str:
    status = standing.progress.status
    words = _STATUS[status]
    if standing.enrollment.status == "ended":
        outcome = standing.enrollment.outcome or "ended"
        return f"Enrolment ended ({outcome}); last status {words.lower()}."
    if status == "refer":
        opened = course.open_referral(record)
        if opened is not None:
            return f"{words} since {opened.local_date.isoformat()}: {opened.clinical_note}"
    if status == "hold":
        until = next(
            (e.data.get("hold_until") for e in reversed(record.events) if e.type == "flare"), None
        )
        return f"{words} to {until}: easier dose, no stage opens." if until else words
    return words


def _stage_reached(standing: Standing) -> str:
    opened = [s for s in standing.progress.stages if s.unlock is not None]
    if not opened:
        return "None open."
    top = opened[-1]
    assert top.unlock is not None
    count = len(standing.progress.stages)
    return (
        f"Stage {top.stage.order} of {count}: {top.stage.title} (open since "
        f"{engine.local_date(standing.plan, top.unlock.at).isoformat()})."
    )


def _criterion(c: Any, previous: int) -> str:
    label = _CRITERIA.get(c.name, c.name.replace("_", " ")).format(previous=previous)
    if c.note:
        return f"{label}: {c.note}"
    if c.name == "status":
        return f"{label}: now {_STATUS.get(c.actual, c.actual).lower()}"
    return f"{label}: {c.actual} (needs {c.required})"


def _stage_rows(record: ClinicalRecord, standing: Standing) -> list[dict[str, Any]]:
    who = {"enrollment": "From enrolment.", "engine": "By the rules:", "coach": "By the coach:"}
    opened = {
        e.stage: e.clinical_note or e.message
        for e in record.events
        if e.type == "stage_unlocked" and e.enrollment_id == standing.enrollment.id
    }
    rows = []
    for view in standing.progress.stages:
        stage = view.stage
        if view.unlock is not None:
            day = engine.local_date(standing.plan, view.unlock.at).isoformat()
            how = [who.get(view.unlock.by, view.unlock.by)]
            if stage.slug in opened:
                how.append(opened[stage.slug])
            rows.append(
                {
                    "order": stage.order,
                    "title": stage.title,
                    "state": f"Open since {day}",
                    "detail": how,
                }
            )
        elif view.gate is not None:
            missing = [
                _criterion(c, view.gate.previous.order) for c in view.gate.criteria if not c.met
            ]
            rows.append(
                {
                    "order": stage.order,
                    "title": stage.title,
                    "state": "Locked",
                    "detail": [f"Gate criteria not met ({len(missing)}):", *missing]
                    if missing
                    else ["All gate criteria met: opens with the next logged item."],
                }
            )
        else:
            rows.append(
                {
                    "order": stage.order,
                    "title": stage.title,
                    "state": "Locked",
                    "detail": [f"Follows stage {stage.order - 1}."],
                }
            )
    return rows


def _week_rows(standing: Standing) -> list[dict[str, Any]]:
    weeks = standing.weeks
    ended = standing.enrollment.ended_at
    last = engine.local_date(standing.plan, ended) if ended else standing.today
    current = adherence.index_of(weeks, min(last, standing.today))
    rows = []
    for index in range(max(0, current) + 1):
        week = adherence.week_at(weeks, index)
        rows.append(
            {
                "start": week.start.isoformat(),
                "planned": week.planned if week.planned is not None else "left out (referral)",
                "logged": week.logged,
                "ratio": _percent(week.ratio) if week.ratio is not None else "",
                "current": index == current,
            }
        )
    return rows


def _during_referral(event: EngineEvent, referrals: list[course.Span]) -> bool:
    return any(
        span.start <= event.local_date and (span.end is None or event.local_date < span.end)
        for span in referrals
    )


def _decision_note(event: EngineEvent, referrals: list[course.Span]) -> str:
    note = event.clinical_note or event.message
    if event.type == "resolved" and _during_referral(event, referrals):
        note += (
            " The pain criteria for resolved were met while the referral was open; the "
            "referral takes precedence until it is cleared."
        )
    return note


def _summary_rows(record: ClinicalRecord, standing: Standing | None) -> list[tuple[str, str]]:
    """The report's opening lines: (label, text). Another measure adds its own lines here."""
    rows = [
        ("Client", f"{record.client.display_name} (HipFix {record.client.id})"),
        ("Time zone", record.client.timezone),
    ]
    if standing is None:
        return [*rows, ("Enrolment", "Not enrolled.")]
    enrollment = standing.enrollment
    plan = standing.plan
    started = engine.local_date(plan, enrollment.started_at).isoformat()
    ended = (
        f", ended {engine.local_date(plan, enrollment.ended_at).isoformat()}"
        if enrollment.ended_at
        else f", active (today {standing.today.isoformat()})"
    )
    referrals = course.referrals(record)
    flags = [log for log in record.pain_logs if log.flags]
    if course.open_referral(record) is not None:
        referral = "Open: see the status above and the red flags below."
    elif referrals:
        referral = f"None open; {len(referrals)} earlier, cleared."
    else:
        referral = "None."
    return [
        *rows,
        ("Enrolment", f"{plan.title} (version {plan.version}), started {started}{ended}"),
        ("Status now", _status_line(record, standing)),
        ("Stage reached", _stage_reached(standing)),
        ("Pain (NPRS)", _pain_line(standing)),
        ("Adherence", _adherence_line(standing)),
        ("Referral", referral),
        (
            "Red flags",
            "; ".join(
                f"{', '.join(f.replace('_', ' ') for f in log.flags)} on "
                f"{record.local_date(log.recorded_at).isoformat()}"
                for log in flags
            )
            if flags
            else "None reported in these dates.",
        ),
    ]


def report_html(
    record: ClinicalRecord, dates: tuple[date, date] | None, standing: Standing | None
) -> str:
    """`dates`: the window of local dates whose pain logs the record holds, to say so.
    `standing`: the shown enrolment as of now (`summary.standing_of`)."""

    def when(moment: datetime) -> str:
        local = moment.astimezone(record.zone_at(moment))
        return local.strftime("%Y-%m-%d %H:%M")

    documents = [record.document_of(e) for e in record.enrollments]
    referrals = course.referrals(record)
    page = _TEMPLATES.get_template("report.html").render(
        client=record.client,
        generated_at=when(record.generated_at),
        dates=f"{dates[0].isoformat()} to {dates[1].isoformat()}" if dates else "",
        disclaimer=(documents[-1]["disclaimer"] if documents else _FALLBACK_NOTICE)
        .removeprefix("Not medical advice.")
        .strip(),
        summary=_summary_rows(record, standing),
        chart=Markup(pain_chart(record, None, None)),  # built by ElementTree: escaped
        stages=_stage_rows(record, standing) if standing else [],
        squat_tests=[
            {
                "when": when(a.performed_at),
                "left": _KNEE.get(a.left, a.left),
                "right": _KNEE.get(a.right, a.right),
                "inward": "knee_medial_to_foot" in (a.left, a.right),
                "note": a.note,
            }
            for a in record.assessments
        ],
        weeks=_week_rows(standing) if standing else [],
        decisions=[
            {
                "when": when(e.at),
                "type": e.type.replace("_", " "),
                "rule": e.rule,
                "note": _decision_note(e, referrals),
            }
            for e in record.events
        ],
        red_flags=[
            {
                "when": when(log.recorded_at),
                "flags": ", ".join(flag.replace("_", " ") for flag in log.flags),
                "score": log.score,
                "note": log.note,
            }
            for log in record.pain_logs
            if log.flags
        ],
        overrides=[
            {
                "when": when(made.override.at),
                "action": made.override.action.replace("_", " "),
                "stage": made.override.stage,
                "name": made.by_name,
                "role": made.override.by,
                "reason": made.override.reason,
            }
            for made in record.overrides
        ],
    )
    return page
