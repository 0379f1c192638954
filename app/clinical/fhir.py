"""FHIR R4 for clinic systems, built with the R4B models of `fhir.resources` (its R4B
Patient, Observation, CarePlan, Flag, PlanDefinition and Bundle have the elements of R4's:
R4B changed only medication-definition, evidence and subscription resources), so every
resource is validated as it is made.

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

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleLink
from fhir.resources.R4B.careplan import CarePlan, CarePlanActivity, CarePlanActivityDetail
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.plandefinition import PlanDefinition, PlanDefinitionAction
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

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


def _patient(client: Client) -> Patient:
    return Patient(
        id=str(client.id),
        meta=Meta(lastUpdated=client.created_at),
        identifier=[Identifier(system=CLIENT_ID_SYSTEM, value=str(client.id))],
        name=[HumanName(text=client.display_name)],
    )


def _observation(log: PainLog, subject: Reference) -> Observation:
    extensions = [
        Extension(url=f"{EXTENSION}/pain-context", valueCode=log.context),
        Extension(
            url=f"{EXTENSION}/pain-side", valueCodeableConcept=_concept(LATERALITY[log.side])
        ),
        *(Extension(url=f"{EXTENSION}/red-flag", valueCode=flag) for flag in log.flags),
    ]
    where = f"{log.side} hip" + (f", {log.location}" if log.location else "")
    return Observation(
        id=str(log.id),
        meta=Meta(lastUpdated=log.deleted_at or log.created_at),
        extension=extensions,
        # A deleted log is withdrawn: in an increment it says so rather than vanish.
        status="entered-in-error" if log.deleted_at is not None else "final",
        category=[_concept(SURVEY)],
        code=_concept(PAIN_SEVERITY, "Pain score 0-10"),
        subject=subject,
        effectiveDateTime=log.recorded_at,
        issued=log.created_at,
        valueInteger=log.score,
        bodySite=_concept(HIP_REGION, where),
        note=[Annotation(text=log.note)] if log.note else None,
    )


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
) -> Bundle:
    """The client's record as a `collection` Bundle. `since`: an increment — pain logs stored
    or withdrawn since then, care plans whose enrolment or decisions are new since then, and
    referrals opened or cleared since then; the Patient always, as their subject.

    Paged: the record's pain logs are one page of them, and `next_url` (a `next` link) leads
    to the rest. The first page also holds the care plans, plan definitions and flags; the
    others hold the Patient and their Observations."""
    client = record.client
    subject = Reference(reference=_urn(client.id), display=client.display_name)
    resources: list[tuple[str, Resource]] = [(_urn(client.id), _patient(client))]
    resources += [(_urn(log.id), _observation(log, subject)) for log in record.pain_logs]
    links = [BundleLink(relation="next", url=next_url)] if next_url is not None else None
    if not first_page:
        return _bundle(record, resources, links)

    opened = course.stages_opened(record)
    referral = course.open_referral(record)
    definitions: dict[tuple[str, int], PlanDefinition] = {}
    for enrollment in record.enrollments:
        decided = [e.recorded_at for e in record.events if e.enrollment_id == enrollment.id]
        if not _changed_since(max([enrollment.created_at, *decided]), since):
            continue
        stages = {s.slug: s for s in opened if s.enrollment.id == enrollment.id}
        referred = referral is not None and referral.enrollment_id == enrollment.id
        resources.append(
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
            resources.append((_urn(span.event.id), _flag(span.event, subject, closed)))

    for (slug, version), definition in definitions.items():
        resources.append((f"{BASE}/PlanDefinition/{slug}-v{version}", definition))
    return _bundle(record, resources, links)


def _bundle(
    record: ClinicalRecord, resources: list[tuple[str, Resource]], links: list[BundleLink] | None
) -> Bundle:
    return Bundle(
        type="collection",
        timestamp=record.generated_at,
        link=links,
        entry=[BundleEntry(fullUrl=url, resource=resource) for url, resource in resources],
    )


def render(resource: Resource) -> bytes:
    return resource.model_dump_json().encode()
