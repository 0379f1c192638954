"""The clinician's report: one printable HTML page, no external assets. Jinja2 escapes
every value (names, notes, reasons: anything a person typed); the only markup passed
through is the chart, which ElementTree built and escaped."""

from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app.clinical import course
from app.clinical.chart import pain_chart
from app.clinical.record import ClinicalRecord

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
_WHO = {"enrollment": "from enrolment", "engine": "the rules", "coach": "coach", "client": "client"}


def _figure(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def report_html(record: ClinicalRecord, dates: tuple[date, date] | None = None) -> str:
    """`dates`: the window of local dates whose pain logs the record holds, to say so."""

    def when(moment: datetime) -> str:
        local = moment.astimezone(record.zone_at(moment))
        return local.strftime("%Y-%m-%d %H:%M (UTC%z)")

    documents = [record.document_of(e) for e in record.enrollments]
    referrals = course.referrals(record)
    page = _TEMPLATES.get_template("report.html").render(
        client=record.client,
        generated_at=when(record.generated_at),
        dates=f"local dates {dates[0].isoformat()} to {dates[1].isoformat()}" if dates else "",
        # The heading already says it: the protocol's text may open with the same words.
        disclaimer=(documents[-1]["disclaimer"] if documents else _FALLBACK_NOTICE)
        .removeprefix("Not medical advice.")
        .strip(),
        enrollments=[
            {
                "title": record.document_of(e)["title"],
                "version": e.version,
                "started": when(e.started_at),
                "status": e.status,
                "baseline_pain": e.baseline_pain,
            }
            for e in record.enrollments
        ],
        chart=Markup(pain_chart(record, None, None)),  # built by ElementTree: escaped
        stages=[
            {
                "when": when(s.at),
                "order": s.order,
                "title": s.title,
                "by": _WHO.get(s.by, s.by),
                "reason": s.reason,
            }
            for s in course.stages_opened(record)
        ],
        decisions=[
            {
                "when": when(e.at),
                "type": e.type.replace("_", " "),
                "rule": e.rule,
                "stage": e.stage,
                "message": e.message,
                "figures": [(k.replace("_", " "), _figure(v)) for k, v in e.data.items()],
            }
            for e in record.events
        ],
        referrals=[
            {
                "when": when(span.event.at),
                "open": span.closed_by is None,
                "cleared": when(span.closed_by.at) if span.closed_by else "",
                "message": span.event.message,
            }
            for span in referrals
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
