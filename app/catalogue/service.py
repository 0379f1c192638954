"""Queries over published content. Exercises are served at their latest version."""

from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from app.catalogue.schemas import (
    BodyRegion,
    Exercise,
    ExerciseKind,
    ExercisePage,
    Protocol,
    ProtocolPage,
    ProtocolSummary,
)
from app.core.caching import Rendered, VersionedBodies
from app.core.pagination import decode_cursor, encode_cursor
from app.core.problems import NotFoundError
from app.models import ExerciseRow, ProtocolRow


def _latest_exercise_versions() -> Any:
    return (
        select(ExerciseRow.slug, func.max(ExerciseRow.version).label("version"))
        .group_by(col(ExerciseRow.slug))
        .subquery()
    )


def list_exercises(
    session: Session,
    *,
    stage: str | None,
    kind: ExerciseKind | None,
    region: BodyRegion | None,
    limit: int,
    cursor: str | None,
) -> ExercisePage:
    latest = _latest_exercise_versions()
    query = select(ExerciseRow).join(
        latest, and_(ExerciseRow.slug == latest.c.slug, ExerciseRow.version == latest.c.version)
    )
    if stage is not None:
        query = query.where(ExerciseRow.stage == stage)
    if kind is not None:
        query = query.where(ExerciseRow.kind == kind)
    if region is not None:
        query = query.where(ExerciseRow.region == region)
    if cursor is not None:
        after = decode_cursor(cursor, {"position": int, "slug": str})
        query = query.where(
            or_(
                col(ExerciseRow.position) > after["position"],
                and_(
                    ExerciseRow.position == after["position"], col(ExerciseRow.slug) > after["slug"]
                ),
            )
        )
    rows = session.exec(
        query.order_by(col(ExerciseRow.position), col(ExerciseRow.slug)).limit(limit + 1)
    ).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor({"position": rows[-1].position, "slug": rows[-1].slug})
    return ExercisePage(
        items=[Exercise.model_validate(row.document) for row in rows], next_cursor=next_cursor
    )


def get_exercise(session: Session, slug: str) -> Exercise:
    row = session.exec(
        select(ExerciseRow)
        .where(ExerciseRow.slug == slug)
        .order_by(col(ExerciseRow.version).desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFoundError(f"No exercise has the slug '{slug}'.")
    return Exercise.model_validate(row.document)


def list_protocols(session: Session, *, limit: int, cursor: str | None) -> ProtocolPage:
    query = select(ProtocolRow.slug, ProtocolRow.version, ProtocolRow.title, ProtocolRow.document)
    if cursor is not None:
        after = decode_cursor(cursor, {"slug": str})
        query = query.where(col(ProtocolRow.slug) > after["slug"])
    rows = session.exec(query.order_by(col(ProtocolRow.slug), col(ProtocolRow.version))).all()
    summaries: dict[str, ProtocolSummary] = {}
    for slug, version, title, document in rows:
        # Rows come oldest first, so the last one seen is the latest version.
        versions = summaries[slug].versions if slug in summaries else []
        summaries[slug] = ProtocolSummary(
            slug=slug,
            version=version,
            versions=[*versions, version],
            title=title,
            summary=document["summary"],
        )
    items = list(summaries.values())
    next_cursor = encode_cursor({"slug": items[limit - 1].slug}) if len(items) > limit else None
    return ProtocolPage(items=items[:limit], next_cursor=next_cursor)


def protocol_row(session: Session, slug: str, version: int | None) -> ProtocolRow | None:
    """A published protocol: `version`, or the latest one when None."""
    query = select(ProtocolRow).where(col(ProtocolRow.slug) == slug)
    if version is not None:
        query = query.where(col(ProtocolRow.version) == version)
    return session.exec(query.order_by(col(ProtocolRow.version).desc()).limit(1)).first()


def get_protocol(session: Session, slug: str, version: int | None = None) -> Protocol:
    row = protocol_row(session, slug, version)
    if row is None:
        which = f"version {version} of " if version is not None else ""
        raise NotFoundError(f"No published {which}protocol '{slug}'.")
    return Protocol.model_validate(row.document)


# Rendered once per process and version, kept in the app's caches (VersionedBodies).


def render_protocol(
    session: Session, bodies: VersionedBodies, slug: str, version: int | None
) -> Rendered:
    protocol = get_protocol(session, slug, version)
    rendered = Rendered.of(protocol.model_dump_json().encode())
    return bodies.keep(slug, protocol.version, rendered, latest=version is None)


def render_exercise(session: Session, bodies: VersionedBodies, slug: str) -> Rendered:
    exercise = get_exercise(session, slug)
    rendered = Rendered.of(exercise.model_dump_json().encode())
    return bodies.keep(slug, exercise.version, rendered, latest=True)
