"""FHIR for clinic systems, the pain chart and the clinician's report (PRODUCT.md §6)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.accounts.access import ClientAccessDep
from app.clinical import service
from app.clinical.fhir import MEDIA_TYPE as FHIR_JSON
from app.clinical.report import MEDIA_TYPE as HTML
from app.core.caching import VersionedBodies, etagged
from app.core.costs import one_at_a_time
from app.core.db import DatabaseDep
from app.core.problems import problem_responses
from app.core.strict_requests import StrictRoute
from app.core.types import QueryMoment
from app.core.windows import FromQuery, ToQuery

router = APIRouter(tags=["clinical"], route_class=StrictRoute)

SVG = "image/svg+xml"
OCTET_STREAM = "application/octet-stream"
# Client data: a cache may keep it for this caller only, and asks again each time (304).
PRIVATE_REVALIDATE = "private, no-cache"

_NOT_MODIFIED = {"description": "Not Modified: the `If-None-Match` ETag is current."}
_CLIENT_ERRORS = problem_responses(400, 401, 404, 422, 429)
# Observations per FHIR page: each is built and validated with the FHIR models (most of a
# page's cost, about a millisecond each: bench/bounds.py), in one unit of work.
FHIR_PAGE_DEFAULT = 50
FHIR_PAGE_MAX = 100


def _only(
    media_type: str, description: str, schema: dict[str, Any], example: Any
) -> dict[int | str, dict[str, Any]]:
    """A 200 answered in one non-JSON media type, as OpenAPI should show it."""
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": schema, "example": example}},
        }
    }


_BUNDLE_EXAMPLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "timestamp": "2026-11-26T08:00:00Z",
    "entry": [
        {
            "fullUrl": "urn:uuid:5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
            "resource": {
                "resourceType": "Patient",
                "id": "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60",
                "name": [{"text": "Sam"}],
            },
        },
        {
            "fullUrl": "urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "resource": {
                "resourceType": "Observation",
                "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "status": "final",
                "code": {
                    "coding": [
                        {
                            "system": "http://loinc.org",
                            "code": "72514-3",
                            "display": "Pain severity - 0-10 verbal numeric rating [Score] - "
                            "Reported",
                        }
                    ]
                },
                "subject": {"reference": "urn:uuid:5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60"},
                "effectiveDateTime": "2026-11-26T06:30:00Z",
                "valueInteger": 4,
            },
        },
    ],
}
_RESOURCE = {"type": "object", "required": ["resourceType"]}


@router.get(
    "/clients/{client_id}/fhir",
    summary="The client's record as FHIR R4",
    response_class=Response,
    responses={
        **_only(
            FHIR_JSON,
            "A `collection` Bundle, paged: Patient, Observations, CarePlans, PlanDefinitions, "
            "Flag; a `next` link while more follow.",
            _RESOURCE,
            _BUNDLE_EXAMPLE,
        ),
        **_CLIENT_ERRORS,
    },
)
async def get_client_fhir(
    request: Request,
    access: ClientAccessDep,
    db: DatabaseDep,
    since: Annotated[
        QueryMoment | None,
        Query(
            alias="_since",
            description="An increment: only what was stored, withdrawn or decided at or after "
            "this moment (the Patient always).",
        ),
    ] = None,
    count: Annotated[
        int,
        Query(
            alias="_count",
            ge=1,
            le=FHIR_PAGE_MAX,
            description=f"Observations per page, at most {FHIR_PAGE_MAX}: a history grows "
            "without bound, one answer may not.",
        ),
    ] = FHIR_PAGE_DEFAULT,
    cursor: Annotated[
        str | None,
        Query(
            alias="_cursor",
            max_length=512,
            description="From the previous page's `next` link; omit it for the first page.",
        ),
    ] = None,
) -> Response:
    """A `collection` Bundle, paged: the Patient (display name and HipFix id), one
    Observation per pain log (LOINC 72514-3, with side and context) oldest first, up to
    `_count` a page; on the first page also a CarePlan per enrolment with one activity per
    stage and its state, the PlanDefinition of each protocol version, and a Flag for an open
    referral. While more follow, `Bundle.link` holds a `next` link (relative to this server)
    to the next page, `_since` kept. A withdrawn pain log comes as `entered-in-error` in an
    increment. One at a time per caller (a second waits, or gets 429)."""
    async with one_at_a_time(request):
        body = await db.read(service.client_fhir, access, since, count, cursor, request.url.path)
    return Response(body, media_type=FHIR_JSON)


@router.get(
    "/clients/{client_id}/charts/pain.svg",
    summary="The pain chart",
    response_class=Response,
    responses={
        200: {
            "description": "An SVG with a <title> and a <desc>; the same bytes as a file to "
            "save with `Accept: application/octet-stream`.",
            "content": {
                SVG: {
                    "schema": {"type": "string"},
                    "example": '<svg xmlns="http://www.w3.org/2000/svg" role="img">…</svg>',
                },
                # A second representation that generated clients (which know no image/*
                # type) read as a file.
                OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        304: _NOT_MODIFIED,
        **_CLIENT_ERRORS,
    },
)
async def get_pain_chart(
    request: Request,
    access: ClientAccessDep,
    db: DatabaseDep,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    """Each day's highest pain as points, the 7-day mean as a line, stage openings as
    labelled triangles, flare holds shaded, referrals as labelled diamonds with hatching
    until cleared. Readable without colour; strong ETag, `If-None-Match` answers 304.
    Over a window of dates (`from`, `to`); one at a time per caller (a second waits, or gets
    429)."""
    async with one_at_a_time(request):
        rendered = await db.read(service.chart_svg, access, start, end)
    accept = request.headers.get("accept", "")
    as_file = OCTET_STREAM in accept and SVG not in accept
    response = etagged(
        request, rendered, PRIVATE_REVALIDATE, media_type=OCTET_STREAM if as_file else SVG
    )
    response.headers["Vary"] = "Accept"
    if as_file:
        response.headers["Content-Disposition"] = 'attachment; filename="pain.svg"'
    return response


@router.get(
    "/clients/{client_id}/report",
    summary="The clinician's report",
    response_class=Response,
    responses={
        **_only(
            HTML.split(";")[0],
            "One printable HTML page with no external assets.",
            {"type": "string"},
            '<!doctype html><html lang="en">…</html>',
        ),
        **_CLIENT_ERRORS,
    },
)
async def get_report(
    request: Request,
    access: ClientAccessDep,
    db: DatabaseDep,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    """The chart, the stage timeline, every decision with its reason and figures, red flags
    and referrals, overrides and who made them, and the not-medical-advice notice. Pain
    logs over a window of dates (`from`, `to`), decisions whenever made; one at a time per
    caller (a second waits, or gets 429)."""
    async with one_at_a_time(request):
        body = await db.read(service.report, access, start, end)
    return Response(body, media_type=HTML)


_VERSION = Annotated[
    int | None, Query(ge=1, le=10_000, description="A published version; default the latest.")
]
_SLUG = Annotated[
    str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80, examples=["hip-impingement"])
]


@router.get(
    "/protocols/{slug}/fhir",
    summary="A protocol version as a FHIR PlanDefinition",
    response_class=Response,
    responses={
        **_only(
            FHIR_JSON,
            "A PlanDefinition: one action per stage, one sub-action per exercise.",
            _RESOURCE,
            {"resourceType": "PlanDefinition", "id": "hip-impingement-v1", "version": "1"},
        ),
        304: _NOT_MODIFIED,
        **problem_responses(404, 422),
    },
)
async def get_protocol_fhir(
    request: Request, db: DatabaseDep, slug: _SLUG, version: _VERSION = None
) -> Response:
    """Public, like the catalogue, with the same caching and ETags."""
    bodies = VersionedBodies(
        request.app.state.caches,
        "plan definitions",
        request.app.state.settings.content_recheck_seconds,
    )
    rendered = bodies.get(slug, version)
    if rendered is None:
        rendered = await db.read(service.render_plan_definition, bodies, slug, version)
    return etagged(request, rendered, media_type=FHIR_JSON)
