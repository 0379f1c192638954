"""The API's own words in OpenAPI: its description and its tags."""

from app.progression import rules

DESCRIPTION = """\
HipFix walks a person with hip impingement (femoroacetabular impingement, FAI) through a
self-help protocol, one stage at a time: release the hip flexors with a ball, stretch them,
then, if pain persists, work the feet and ankles, with the hamstrings as a last resort. A
progression engine opens the later stages from the pain the client logs, holds progress on
flares, refers on red flags, and explains every decision. Coaches follow their clients
through the same API.

Every error is an RFC 9457 `application/problem+json` document.

**Not medical advice.** HipFix offers educational self-help exercises. It does not diagnose
or treat any condition and does not replace a clinician. Stop and seek care on any red flag.
"""

TAGS = [
    {"name": "catalogue", "description": "Exercises and protocols: public and cacheable."},
    {"name": "accounts", "description": "Sign up, sign in (OAuth2 password flow), sign out."},
    {"name": "api keys", "description": "Coaches' keys for server-to-server use."},
    {
        "name": "clients",
        "description": "Client profiles: a client's own, or those a coach manages.",
    },
    {"name": "enrolments", "description": "A client's enrolment in a protocol version."},
    {"name": "pain logs", "description": "0–10 pain scores with their context."},
    {"name": "sessions", "description": "Exercise sessions, with pain during and after."},
    {"name": "assessments", "description": "The squat knee-tracking self-test."},
    {
        "name": "progression",
        "description": "The engine's view: progress, today's routine, decisions, overrides, "
        "simulations. The rules (v1 with the v1.1 precisions), their parameters (defaults in "
        "each protocol version, overridable per enrolment by a coach) and their basis:\n\n"
        + rules.describe()
        + "\n\n**Same moment.** Items recorded at the same moment are evaluated pain logs "
        "first, then assessments, then sessions, then overrides; referrals, flares and relapses "
        "are decided at the item, while a gate opens (and `resolved` begins) only once every "
        "item of that moment is in, so a red flag or a flare logged with a session, its own "
        "pain during exercise included, stops an unlock at that moment.\n\n"
        "**Relapse.** `resolved` is judged after every item and ends only when pain returns: "
        "daily pain above `resolved_max` on 2 of the last 7 dates, or one date at "
        "`resolved_max` + `meaningful_drop` or more; a single day one point up leaves it "
        "resolved.\n\n"
        "**Dates.** Every event carries `local_date`, the client's local date of `at`; a "
        "flare's `hold_until` is the last local date of the hold.",
    },
    {
        "name": "clinical",
        "description": "For clinic systems and people who would rather look: the record as "
        "FHIR R4 (`application/fhir+json`), the pain chart (SVG) and a printable report (HTML). "
        "Pain logs, sessions and events also come as CSV with `Accept: text/csv`.",
    },
    {"name": "operations", "description": "Liveness and readiness probes."},
]
