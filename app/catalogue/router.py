"""Public, cacheable reads of the catalogue: exercises and protocols."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.catalogue import service
from app.catalogue.schemas import (
    BodyRegion,
    Exercise,
    ExerciseKind,
    ExercisePage,
    Protocol,
    ProtocolPage,
)
from app.core.caching import PublishedPages, Rendered, VersionedBodies, etagged
from app.core.db import DatabaseDep, database_of
from app.core.lean_query import LeanQuery
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.core.problems import problem_responses
from app.core.responses import model_json
from app.core.strict_requests import StrictRoute
from app.core.types import SLUG_PATTERN

router = APIRouter(tags=["catalogue"], route_class=StrictRoute)

# One alias per kind, so that each path's example names something of that kind (Swagger's
# "Try it out" starts from it).
ExerciseSlug = Annotated[
    str, Path(pattern=SLUG_PATTERN, max_length=80, examples=["hip-flexor-stretch"])
]
ProtocolSlug = Annotated[
    str, Path(pattern=SLUG_PATTERN, max_length=80, examples=["hip-impingement"])
]

_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the `If-None-Match` ETag is current."}
}

# Read by the route (see app/core/lean_query.py): this is the hottest public read.
_VERSION = LeanQuery("version", int, "A published version; default the latest.", ge=1, le=10_000)


@router.get(
    "/protocols/{slug}",
    response_model=Protocol,
    summary="Get a protocol",
    responses={**_NOT_MODIFIED, **problem_responses(404, 422)},
    openapi_extra={"parameters": [_VERSION.parameter]},
)
async def get_protocol(request: Request, slug: ProtocolSlug) -> Response:
    """A protocol version: stages in order with their exercises, the self-test and red flags."""
    version = _VERSION.read(request)
    bodies = _bodies(request, "protocols")
    rendered = bodies.get(slug, version)
    if rendered is None:
        rendered = await database_of(request).read(service.render_protocol, bodies, slug, version)
    return etagged(request, rendered)


@router.get(
    "/exercises",
    response_model=ExercisePage,
    summary="List exercises",
    responses={**_NOT_MODIFIED, **problem_responses(400, 422)},
)
async def list_exercises(
    request: Request,
    db: DatabaseDep,
    stage: Annotated[
        str | None,
        Query(
            pattern=SLUG_PATTERN,
            max_length=80,
            description="Only this stage's exercises (its slug).",
        ),
    ] = None,
    kind: Annotated[ExerciseKind | None, Query(description="Only exercises of this kind.")] = None,
    region: Annotated[BodyRegion | None, Query(description="Only this body region.")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """The catalogue's exercises at their latest version, in catalogue order."""
    pages = _pages(request, "exercises")
    query = (stage, kind, region, limit, cursor)
    rendered = pages.get(query)
    if rendered is None:
        page = await db.read(
            service.list_exercises,
            stage=stage,
            kind=kind,
            region=region,
            limit=limit,
            cursor=cursor,
        )
        rendered = pages.keep(query, Rendered.of(model_json(page)))
    return etagged(request, rendered)


@router.get(
    "/exercises/{slug}",
    response_model=Exercise,
    summary="Get an exercise",
    responses={**_NOT_MODIFIED, **problem_responses(404, 422)},
)
async def get_exercise(request: Request, slug: ExerciseSlug) -> Response:
    """One exercise at its latest version: instructions, cues, mistakes, cautions and dose."""
    bodies = _bodies(request, "exercises")
    rendered = bodies.get(slug, None)
    if rendered is None:
        rendered = await database_of(request).read(service.render_exercise, bodies, slug)
    return etagged(request, rendered)


@router.get(
    "/protocols",
    response_model=ProtocolPage,
    summary="List protocols",
    responses={**_NOT_MODIFIED, **problem_responses(400, 422)},
)
async def list_protocols(
    request: Request,
    db: DatabaseDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    """Every protocol with its latest and all published versions."""
    pages = _pages(request, "protocols")
    rendered = pages.get((limit, cursor))
    if rendered is None:
        page = await db.read(service.list_protocols, limit=limit, cursor=cursor)
        rendered = pages.keep((limit, cursor), Rendered.of(model_json(page)))
    return etagged(request, rendered)


# Documents are rendered once per process and version (see VersionedBodies), so the hot
# reads answer from the app's caches: no unit of work, no thread, unless one is missing.


def _pages(request: Request, kind: str) -> PublishedPages:
    return PublishedPages(
        request.app.state.caches, kind, request.app.state.settings.content_recheck_seconds
    )


def _bodies(request: Request, kind: str) -> VersionedBodies:
    return VersionedBodies(
        request.app.state.caches, kind, request.app.state.settings.content_recheck_seconds
    )
