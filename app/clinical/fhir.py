"""FHIR R4 for clinic systems, checked against the R4B models of `fhir.resources` (its R4B
Patient, Observation, CarePlan, Flag, PlanDefinition and Bundle have the elements of R4's:
R4B changed only medication-definition, evidence and subscription resources).

The few resources of a bundle's first page (care plans, plan definitions, flags) are built
with those models, so they are validated as they are made. The many (a page of up to 100
Observations, the Patient, the Bundle around them) are written as plain JSON in the models'
element order: validating each costs about a millisecond of CPU, which one caller's page
would take from every other request in the process. Their validity is the tests' job:
tests/api/test_clinical.py and test_bounds.py validate every resource of every bundle they
read with the same models.

Codes, looked up in their systems (never made up here):
- LOINC 72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
  (https://loinc.org/72514-3; used so by HL7 Belgium's patient-monitoring IG, ValueSet
  pain-scale).
- SNOMED CT 29836001 "Hip region structure (body structure)"; laterality qualifiers 7771000
  "Left", 24028007 "Right", 51440002 "Right and left" (the SNOMED CT laterality values, as in
  HL7 Belgium's be-vs-laterality value set).
- http://terminology.hl7.org/CodeSystem/observation-category "survey",
  .../flag-category "clinical", .../plan-definition-type "clinical-protocol" (FHIR R4's
  terminology).

HipFix's own extensions (documented in the README), for what FHIR has no element for:
- `https://hipfix.dev/fhir/StructureDefinition/pain-context` (valueCode): rest, during,
  after or next_morning — when the pain was felt relative to exercise.
- `https://hipfix.dev/fhir/StructureDefinition/pain-side` (valueCodeableConcept): the
  painful side as a SNOMED CT laterality.
- `https://hipfix.dev/fhir/StructureDefinition/red-flag` (valueCode, repeated): a warning sign
  reported with the pain (the protocol's red-flag codes).
"""

from datetime import datetime
from typing import Any

from fhir.resources.R4B.careplan import CarePlan, CarePlanActivity, CarePlanActivityDetail
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.plandefinition import PlanDefinition, PlanDefinitionAction
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from pydantic_core import to_json

from app.clinical import course
from app.clinical.record import ClinicalRecord
from app.models import Client, EngineEvent, Enrollment, PainLog

MEDIA_TYPE = "application/fhir+json"
BASE = "https://hipfix.dev/fhir"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"

PAIN_SEVERITY = Coding(
    system=LOINC,
    code="72514-3",
    display="Pain severity - 0-10 verbal numeric rating [Score] - Reported",
)
HIP_REGION = Coding(system=SNOMED, code="29836001", display="Hip region structure")
LATERALITY = {
    "left": Coding(system=SNOMED, code="7771000", display="Left"),
    "right": Coding(system=SNOMED, code="24028007", display="Right"),
    "both": Coding(system=SNOMED, code="51440002", display="Right and left"),
}
SURVEY = Coding(system=f"{TERMINOLOGY}/observation-category", code="survey", display="Survey")
CLINICAL_FLAG = Coding(system=f"{TERMINOLOGY}/flag-category", code="clinical", display="Clinical")
CLINICAL_PROTOCOL = Coding(
    system=f"{TERMINOLOGY}/plan-definition-type",
    code="clinical-protocol",
    display="Clinical Protocol",
)
EXTENSION = f"{BASE}/StructureDefinition"
CLIENT_ID_SYSTEM = f"{BASE}/client-id"


def _urn(ident: object) -> str:
    return f"urn:uuid:{ident}"


def _concept(coding: Coding, text: str | None = None) -> CodeableConcept:
    return CodeableConcept(coding=[coding], text=text)


def plan_definition_url(slug: str) -> str:
    return f"{BASE}/PlanDefinition/{slug}"


def plan_definition(document: dict[str, Any]) -> PlanDefinition:
    """A published protocol version: one action per stage, one sub-action per exercise."""
    slug, version = document["slug"], document["version"]
    return PlanDefinition(
        id=f"{slug}-v{version}",
        url=plan_definition_url(slug),
        version=str(version),
        name="".join(part.title() for part in slug.split("-")),
        title=document["title"],
        type=_concept(CLINICAL_PROTOCOL),
        status="active",
        publisher="HipFix",
        description=document["summary"],
        purpose=document["rationale"],
        usage=document["disclaimer"],
        action=[
            PlanDefinitionAction(
                prefix=f"Stage {stage['order']}",
                title=stage["title"],
                description=stage["goal"],
                textEquivalent=stage["unlock"]["description"],
                action=[
                    PlanDefinitionAction(title=e["title"], description=e["summary"])
                    for e in stage["exercises"]
                ],
            )
            for stage in document["stages"]
        ],
    )


# Plain JSON: what the models would dump (`tests/api/test_clinical.py` validates it).
Json = dict[str, Any]


def _instant(moment: datetime) -> str:
    """A stored moment (UTC) as the models write an instant or dateTime."""
    return moment.isoformat().replace("+00:00", "Z")


def _coding_json(coding: Coding) -> Json:
    return coding.model_dump(mode="json", exclude_none=True)


def _concept_json(coding: Coding, text: str | None = None) -> Json:
    concept: Json = {"coding": [_coding_json(coding)]}
    if text is not None:
        concept["text"] = text
    return concept


_LATERALITY_JSON = {side: _concept_json(coding) for side, coding in LATERALITY.items()}
_SURVEY_JSON = [_concept_json(SURVEY)]
_PAIN_SEVERITY_JSON = _concept_json(PAIN_SEVERITY, "Pain score 0-10")
_HIP_REGION_CODING = [_coding_json(HIP_REGION)]


def _patient(client: Client) -> Json:
    return {
        "resourceType": "Patient",
        "id": str(client.id),
        "meta": {"lastUpdated": _instant(client.created_at)},
        "identifier": [{"system": CLIENT_ID_SYSTEM, "value": str(client.id)}],
        "name": [{"text": client.display_name}],
    }


def _observation(log: PainLog, subject: Json) -> Json:
    extensions: list[Json] = [
        {"url": f"{EXTENSION}/pain-context", "valueCode": log.context},
        {"url": f"{EXTENSION}/pain-side", "valueCodeableConcept": _LATERALITY_JSON[log.side]},
        *({"url": f"{EXTENSION}/red-flag", "valueCode": flag} for flag in log.flags),
    ]
    where = f"{log.side} hip" + (f", {log.location}" if log.location else "")
    observation: Json = {
        "resourceType": "Observation",
        "id": str(log.id),
        "meta": {"lastUpdated": _instant(log.deleted_at or log.created_at)},
        "extension": extensions,
        # A deleted log is withdrawn: in an increment it says so rather than vanish.
        "status": "entered-in-error" if log.deleted_at is not None else "final",
        "category": _SURVEY_JSON,
        "code": _PAIN_SEVERITY_JSON,
        "subject": subject,
        "effectiveDateTime": _instant(log.recorded_at),
        "issued": _instant(log.created_at),
        "valueInteger": log.score,
    }
    if log.note:  # FHIR's element order: note before bodySite
        observation["note"] = [{"text": log.note}]
    observation["bodySite"] = {"coding": _HIP_REGION_CODING, "text": where}
    return observation


def _care_plan(
    record: ClinicalRecord,
    enrollment: Enrollment,
    subject: Reference,
    opened: dict[str, course.StageOpened],
    referred: bool,
) -> CarePlan:
    document = record.document_of(enrollment)
    active = enrollment.status == "active"

    def state(slug: str) -> str:
        if slug not in opened:
            return "not-started" if active else "cancelled"
        if not active:
            return "completed"
        return "on-hold" if referred else "in-progress"

    return CarePlan(
        id=str(enrollment.id),
        meta=Meta(lastUpdated=enrollment.created_at),
        instantiatesCanonical=[f"{plan_definition_url(enrollment.protocol)}|{enrollment.version}"],
        status="active" if active else "completed",
        intent="plan",
        title=document["title"],
        subject=subject,
        period=Period(start=enrollment.started_at),
        created=enrollment.created_at,
        activity=[
            CarePlanActivity(
                detail=CarePlanActivityDetail(
                    code=CodeableConcept(text=f"Stage {stage['order']}: {stage['title']}"),
                    status=state(stage["slug"]),
                    statusReason=CodeableConcept(text="Referred: see a clinician")
                    if referred and stage["slug"] in opened
                    else None,
                    description=stage["goal"],
                    scheduledPeriod=Period(start=opened[stage["slug"]].at)
                    if stage["slug"] in opened
                    else None,
                )
            )
            for stage in document["stages"]
        ],
    )


def _flag(event: EngineEvent, subject: Reference, closed_by: EngineEvent | None) -> Flag:
    return Flag(
        id=str(event.id),
        meta=Meta(lastUpdated=closed_by.recorded_at if closed_by else event.recorded_at),
        status="inactive" if closed_by else "active",
        category=[_concept(CLINICAL_FLAG)],
        code=CodeableConcept(text=f"Referred to a clinician: {event.message}"),
        subject=subject,
        period=Period(start=event.at, end=closed_by.at if closed_by else None),
    )


def _changed_since(moment: datetime, since: datetime | None) -> bool:
    return since is None or moment >= since


def client_bundle(
    record: ClinicalRecord,
    since: datetime | None,
    *,
    first_page: bool = True,
    next_url: str | None = None,
) -> bytes:
    """The client's record as a `collection` Bundle, as JSON. `since`: an increment — pain
    logs stored or withdrawn since then, care plans whose enrolment or decisions are new since
    then, and referrals opened or cleared since then; the Patient always, as their subject.

    Paged: the record's pain logs are one page of them, and `next_url` (a `next` link) leads
    to the rest. The first page also holds the care plans, plan definitions and flags; the
    others hold the Patient and their Observations."""
    client = record.client
    subject_json: Json = {"reference": _urn(client.id), "display": client.display_name}
    resources: list[tuple[str, Json]] = [(_urn(client.id), _patient(client))]
    resources += [(_urn(log.id), _observation(log, subject_json)) for log in record.pain_logs]
    links = [{"relation": "next", "url": next_url}] if next_url is not None else None
    if not first_page:
        return _bundle(record, resources, links)

    subject = Reference(reference=_urn(client.id), display=client.display_name)
    models: list[tuple[str, Resource]] = []
    opened = course.stages_opened(record)
    referral = course.open_referral(record)
    definitions: dict[tuple[str, int], PlanDefinition] = {}
    for enrollment in record.enrollments:
        decided = [e.recorded_at for e in record.events if e.enrollment_id == enrollment.id]
        if not _changed_since(max([enrollment.created_at, *decided]), since):
            continue
        stages = {s.slug: s for s in opened if s.enrollment.id == enrollment.id}
        referred = referral is not None and referral.enrollment_id == enrollment.id
        models.append(
            (_urn(enrollment.id), _care_plan(record, enrollment, subject, stages, referred))
        )
        key = (enrollment.protocol, enrollment.version)
        definitions.setdefault(key, plan_definition(record.document_of(enrollment)))

    for span in course.referrals(record):
        closed = span.closed_by
        if closed is None and span.event is not referral:
            continue  # a referral left open on an ended enrolment is not a standing flag
        changed = closed.recorded_at if closed else span.event.recorded_at
        if since is None and closed is not None:
            continue  # the full record flags what stands now
        if _changed_since(changed, since):
            models.append((_urn(span.event.id), _flag(span.event, subject, closed)))

    for (slug, version), definition in definitions.items():
        models.append((f"{BASE}/PlanDefinition/{slug}-v{version}", definition))
    resources += [(url, model.model_dump(mode="json")) for url, model in models]
    return _bundle(record, resources, links)


def _bundle(
    record: ClinicalRecord, resources: list[tuple[str, Json]], links: list[Json] | None
) -> bytes:
    bundle: Json = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(record.generated_at),
    }
    if links is not None:
        bundle["link"] = links
    bundle["entry"] = [{"fullUrl": url, "resource": resource} for url, resource in resources]
    return to_json(bundle)


def render(resource: Resource) -> bytes:
    return resource.model_dump_json().encode()
