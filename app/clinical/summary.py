"""What the clinician's report opens with: the shown enrolment where it stands now (the
engine's progress as of now, its gates, its adherence) and pain now against baseline, judged
against a published minimal important change. Read in the report's unit of work."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session

from app.clinical.record import ClinicalRecord
from app.models import Enrollment
from app.progression import adherence, engine
from app.progression.model import Plan
from app.progression.plans import plan_for
from app.progression.replay import current_state
from app.progression.views import weeks_of

# Salaffi F, Stancati A, Silvestri CA, Ciapetti A, Grassi W. Minimal clinically important
# changes in chronic musculoskeletal pain intensity measured on a numerical rating scale.
# Eur J Pain 2004;8(4):283-291 (doi:10.1016/j.ejpain.2003.09.004): in 825 people with
# chronic musculoskeletal pain (hip osteoarthritis among them), a fall of 1 point or 15 %
# matched "slightly better", and 2 points or 33 % "much better", the cut-off it recommends.
NPRS_MIC_POINTS = 2.0
NPRS_MIC_PERCENT = 33.0
NPRS_MIC_SOURCE = (
    "Salaffi et al., Eur J Pain 2004;8:283-291: a change of at least 2 points or 33 % "
    "(1 point or 15 % is only 'slightly better')"
)


@dataclass(frozen=True, slots=True)
class PainChange:
    now: float
    baseline: int
    points: float  # now - baseline: negative is better
    percent: float | None  # of the baseline; None when the baseline is 0
    verdict: str  # improved, worsened or unchanged, against the MIC


def pain_change(now: float, baseline: int) -> PainChange:
    """NPRS now against baseline, judged against the MIC (either criterion reaches it)."""
    points = round(now - baseline, 1)
    percent = round(100 * points / baseline) if baseline else None
    reaches = abs(points) >= NPRS_MIC_POINTS or (
        percent is not None and abs(percent) >= NPRS_MIC_PERCENT and abs(points) >= 1
    )
    verdict = "unchanged" if not reaches else ("improved" if points < 0 else "worsened")
    return PainChange(now, baseline, points, percent, verdict)


@dataclass(frozen=True, slots=True)
class Standing:
    """The shown enrolment as of now (`engine.progress`) with its adherence."""

    enrollment: Enrollment
    plan: Plan
    progress: engine.ProgressView
    weeks: dict[str, Any]  # the stored weeks (`adherence.summary`)
    figures: adherence.Figures
    today: date
    change: PainChange | None


def standing_of(session: Session, record: ClinicalRecord) -> Standing | None:
    """The newest enrolment (active, or where the last one ended); None when never enrolled."""
    if not record.enrollments:
        return None
    enrollment = record.enrollments[-1]
    plan = plan_for(session, enrollment, record.client)
    now = datetime.now(UTC)
    moment = min(now, enrollment.ended_at) if enrollment.ended_at else now
    view = engine.progress(plan, current_state(session, enrollment), moment)
    weeks = weeks_of(session, enrollment, plan, now)
    today = engine.local_date(plan, now)
    ended = engine.local_date(plan, enrollment.ended_at) if enrollment.ended_at else None
    change = (
        pain_change(view.current_pain, enrollment.baseline_pain)
        if view.current_pain is not None
        else None
    )
    return Standing(
        enrollment, plan, view, weeks, adherence.figures(weeks, today, ended), today, change
    )
