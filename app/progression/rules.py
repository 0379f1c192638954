"""The rules (v1 with the v1.1 precisions): stable ids, and what each does, for the engine,
the API and its docs.

Readings chosen where PRODUCT.md §3 leaves room (a physiotherapist's reading):
- "Days since" count local dates: unlocked on the 1st, day 14 is the 15th.
- Sessions count towards a gate when they include an exercise of the stage just before it.
- Items at one moment are evaluated pain logs first, then assessments, sessions, overrides.
  Stopping decisions (referral, flare, relapse) are taken at the item; opening ones (a gate,
  resolved) once the moment's last item is in, so nothing logged at that moment can come too
  late to stop them.
- A next-morning flare compares with current pain before that log; with no logs in the last
  7 dates, with the baseline pain, and says so.
- A flare while referred still records the flare and its hold; the referral decides the status.
- Resolved is judged after every item (at a moment's last). It ends only when pain returns:
  above `resolved_max` on 2 of the last 7 dates, or one date at `resolved_max` +
  `meaningful_drop` or more.
- A red flag not yet told during a referral is a referral event of its own.
- A coach's `unlock_stage` also opens any locked stage before it (stages open in order), does
  nothing while the client is referred, and is applied during a hold (saying so).
"""

from dataclasses import dataclass

# Which reading of the rules the engine implements: stored states carry it, and histories
# evaluated by another are replayed once (`hipfix reevaluate`, also run by `hipfix migrate`).
VERSION = "1.1"

ENROLLED = "enrolled"
GATE_ANKLE_AND_FOOT = "gate.ankle-and-foot"
GATE_HAMSTRINGS = "gate.hamstrings-last-resort"
FLARE_DURING = "flare.during"
FLARE_NEXT_MORNING = "flare.next-morning"
REFER_RED_FLAG = "refer.red-flag"
REFER_SEVERE_PAIN = "refer.severe-pain"
REFER_NO_PROGRESS = "refer.no-progress"
RESOLVED = "resolved"
RELAPSE = "relapse"
OVERRIDE_UNLOCK_STAGE = "override.unlock-stage"
OVERRIDE_CLEAR_REFERRAL = "override.clear-referral"


@dataclass(frozen=True)
class RuleDoc:
    id: str
    does: str
    params: tuple[str, ...]
    basis: str


RULES = (
    RuleDoc(
        ENROLLED, "Opens stages 1 and 2 at `started_at`; starts the no-progress clock.", (), ""
    ),
    RuleDoc(
        GATE_ANKLE_AND_FOOT,
        "Opens stage 3 at the first moment after whose last item: the status is neither refer "
        "nor hold; "
        "`gate_min_days` local dates have passed since stage 2 opened and `gate_min_sessions` "
        "sessions included stage-2 work; current pain is above `resolved_max`; and it has stopped "
        "falling (both 7-date windows have `min_logged_days` logged days and current > previous "
        "− `plateau_delta`; until both windows have enough logged days the criterion says it "
        "cannot be computed yet). If the latest squat test shows a knee drifting inward, days "
        "and sessions use `knees_inward_min_days` and `knees_inward_min_sessions`.",
        (
            "gate_min_days",
            "gate_min_sessions",
            "resolved_max",
            "min_logged_days",
            "plateau_delta",
            "knees_inward_min_days",
            "knees_inward_min_sessions",
        ),
        "Engineering choices: the day and session counts and the plateau test. The inward-knee "
        "shortcut follows the source article's reading that an inward-turning leg is the root.",
    ),
    RuleDoc(
        GATE_HAMSTRINGS,
        "Opens stage 4 like gate A, counting from when stage 3 opened and sessions with stage-3 "
        "work (no squat-test shortcut).",
        ("gate_min_days", "gate_min_sessions", "resolved_max", "min_logged_days", "plateau_delta"),
        "Engineering choices, as for gate A.",
    ),
    RuleDoc(
        FLARE_DURING,
        "A `during` score above `flare_during_max` holds progress for the rest of that date "
        "and the next `hold_days` dates: no unlocks, a lighter routine. Two flares within 7 "
        "dates add the advice to see a clinician.",
        ("flare_during_max", "hold_days"),
        "Pain-monitoring model (Silbernagel 2007): up to 5/10 during exercise is acceptable. "
        "`hold_days` is an engineering choice.",
    ),
    RuleDoc(
        FLARE_NEXT_MORNING,
        "A `next_morning` score at least `flare_rise` above current pain (before that log; "
        "with no pain logged in the last 7 dates, the starting pain, and the message says so) "
        "holds progress as a `during` flare does.",
        ("flare_rise", "hold_days"),
        "Pain-monitoring model: pain must settle by the next morning. NPRS minimal important "
        "change is 1–2 points (Salaffi 2004); `flare_rise` = 2 is an engineering choice.",
    ),
    RuleDoc(
        REFER_RED_FLAG,
        "A pain log carrying any red flag refers the client on: the routine stops, logs are "
        "still accepted, until a `clear_referral` override. A red flag not yet told during "
        "the referral is recorded as a referral event of its own (`while_referred`).",
        (),
        "Red flags from NHS musculoskeletal triage guidance.",
    ),
    RuleDoc(
        REFER_SEVERE_PAIN,
        "Any score at or above `severe_pain` refers the client on.",
        ("severe_pain",),
        "`severe_pain` = 8 is an engineering choice, not a clinical finding.",
    ),
    RuleDoc(
        REFER_NO_PROGRESS,
        "`no_progress_weeks` weeks after the clock started (enrolment, or the last clearance) "
        "with current pain above the pain then − `meaningful_drop`, refers the client on; the "
        "message names that reference (the start, or the clearance).",
        ("no_progress_weeks", "meaningful_drop"),
        "≥ 3 months of exercise before judging conservative care (Zurich FAIS consensus, "
        "Kemp 2020); a 2-point drop is the NPRS minimal important change (Salaffi 2004).",
    ),
    RuleDoc(
        RESOLVED,
        "At least 3 logged days in the last 7 dates, all at or below `resolved_max`: resolved, "
        "with a maintenance routine. Judged after every moment's last item.",
        ("resolved_max",),
        "Engineering choice.",
    ),
    RuleDoc(
        RELAPSE,
        "While resolved, pain above `resolved_max` on 2 of the last 7 dates, or one date at "
        "`resolved_max` + `meaningful_drop` or more, resumes the protocol. A single day one "
        "point up does not.",
        ("resolved_max", "meaningful_drop"),
        "Engineering choice: a change under the NPRS minimal important change (Salaffi 2004) "
        "on one day is noise.",
    ),
    RuleDoc(
        OVERRIDE_UNLOCK_STAGE,
        "The client's coach opens a stage (and any locked before it), with a reason. Refused "
        "while referred; applied during a hold, and its event says so (`during_hold`).",
        (),
        "",
    ),
    RuleDoc(
        OVERRIDE_CLEAR_REFERRAL,
        "Lifts a referral (the coach, or a client with no coach confirming a clinician has seen "
        "it). The no-progress clock restarts, measured from the pain at that moment.",
        (),
        "",
    ),
)


def describe() -> str:
    """The rules as Markdown, for the OpenAPI description."""
    lines = ["| rule | what it does | parameters | basis |", "|---|---|---|---|"]
    for rule in RULES:
        params = ", ".join(f"`{p}`" for p in rule.params) or "—"
        lines.append(f"| `{rule.id}` | {rule.does} | {params} | {rule.basis or '—'} |")
    return "\n".join(lines)
