"""Publishes the content files into the database, idempotently.

A (slug, version) already in the database must match its file exactly: published content
never changes, so an edit needs a new version. Everything loads in one transaction.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app.catalogue.schemas import Exercise, ExerciseKind
from app.content.files import (
    DATA_DIR,
    ContentError,
    ExerciseFile,
    ProtocolFile,
    read_exercises,
    read_protocols,
)
from app.models import ExerciseRow, ProtocolRow


@dataclass
class LoadReport:
    published: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def checksum(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _exercise_document(exercise: ExerciseFile) -> dict[str, Any]:
    return Exercise.model_validate(exercise.model_dump(exclude={"position"})).model_dump(
        mode="json"
    )


def _latest_exercises(exercises: list[ExerciseFile]) -> dict[str, ExerciseFile]:
    seen: set[tuple[str, int]] = set()
    latest: dict[str, ExerciseFile] = {}
    for exercise in exercises:
        key = (exercise.slug, exercise.version)
        if key in seen:
            raise ContentError(
                f"exercise {exercise.slug} version {exercise.version} is defined twice"
            )
        seen.add(key)
        if exercise.slug not in latest or latest[exercise.slug].version < exercise.version:
            latest[exercise.slug] = exercise
    return latest


def _protocol_document(
    protocol: ProtocolFile, exercises: dict[str, ExerciseFile]
) -> dict[str, Any]:
    """The public protocol document with its exercises embedded (all but `published_at`)."""
    name = f"protocol {protocol.slug} version {protocol.version}"
    orders = [stage.order for stage in protocol.stages]
    if orders != list(range(1, len(orders) + 1)):
        raise ContentError(f"{name}: stage orders must be 1, 2, 3… in file order, not {orders}")
    if len({stage.slug for stage in protocol.stages}) != len(protocol.stages):
        raise ContentError(f"{name}: stage slugs must be unique")

    def resolve(slug: str, stage: str | None) -> dict[str, Any]:
        exercise = exercises.get(slug)
        if exercise is None:
            raise ContentError(f"{name}: unknown exercise {slug!r}")
        if exercise.stage != stage:
            raise ContentError(
                f"{name}: exercise {slug!r} belongs to stage {exercise.stage!r}, not {stage!r}"
            )
        return _exercise_document(exercise)

    stages = [
        {
            **stage.model_dump(mode="json", exclude={"exercises"}),
            "exercises": [resolve(slug, stage.slug) for slug in stage.exercises],
        }
        for stage in protocol.stages
    ]
    assessments = [resolve(slug, None) for slug in protocol.assessments]
    if any(a["kind"] != ExerciseKind.assessment for a in assessments):
        raise ContentError(f"{name}: only exercises of kind 'assessment' may be assessments")
    return {
        **protocol.model_dump(mode="json", exclude={"stages", "assessments"}),
        "stages": stages,
        "assessments": assessments,
    }


def _refuse_change(what: str) -> ContentError:
    return ContentError(
        f"{what} is already published with different content. Published versions never change: "
        "restore the file, and publish the edit under a new version number."
    )


def load_content(session: Session, data_dir: Path = DATA_DIR) -> LoadReport:
    """Publish every exercise and protocol version not yet in the database; commit once."""
    exercise_files = read_exercises(data_dir)
    latest = _latest_exercises(exercise_files)
    protocol_documents = [(p, _protocol_document(p, latest)) for p in read_protocols(data_dir)]
    now = datetime.now(UTC)
    report = LoadReport()

    for exercise in exercise_files:
        name = f"exercise {exercise.slug} version {exercise.version}"
        document = _exercise_document(exercise)
        digest = checksum({**document, "position": exercise.position})
        row = session.get(ExerciseRow, (exercise.slug, exercise.version))
        if row is None:
            session.add(
                ExerciseRow(
                    slug=exercise.slug,
                    version=exercise.version,
                    position=exercise.position,
                    kind=exercise.kind,
                    region=exercise.region,
                    stage=exercise.stage,
                    document=document,
                    checksum=digest,
                    published_at=now,
                )
            )
            report.published.append(name)
        elif row.checksum != digest:
            raise _refuse_change(name)
        else:
            report.unchanged.append(name)

    for protocol, document in protocol_documents:
        name = f"protocol {protocol.slug} version {protocol.version}"
        digest = checksum(document)
        stored = session.get(ProtocolRow, (protocol.slug, protocol.version))
        if stored is None:
            published = {**document, "published_at": now.isoformat().replace("+00:00", "Z")}
            session.add(
                ProtocolRow(
                    slug=protocol.slug,
                    version=protocol.version,
                    title=protocol.title,
                    document=published,
                    checksum=digest,
                    published_at=now,
                )
            )
            report.published.append(name)
        elif stored.checksum != digest:
            raise _refuse_change(name)
        else:
            report.unchanged.append(name)

    session.commit()
    return report
