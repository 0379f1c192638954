"""Publishing the content files: idempotent, and published versions never change."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from app.content.files import DATA_DIR, ContentError
from app.content.loader import load_content
from app.core.db import build_engine
from app.core.migrations import upgrade_to_head
from app.models import ExerciseRow, ProtocolRow
from tests.databases import KINDS, fresh_database, require


@pytest.fixture(params=KINDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    require(request.param)
    with fresh_database(request.param, tmp_path) as url:
        upgrade_to_head(url)
        engine = build_engine(url)
        with Session(engine) as session:
            yield session
        engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    return copy


def _counts(session: Session) -> tuple[int, int]:
    exercises = session.exec(select(func.count()).select_from(ExerciseRow)).one()
    protocols = session.exec(select(func.count()).select_from(ProtocolRow)).one()
    return exercises, protocols


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_loading_is_idempotent(fresh_db):
    first = load_content(fresh_db)
    assert len(first.published) == 10
    second = load_content(fresh_db)
    assert second.published == []
    assert len(second.unchanged) == 10
    assert _counts(fresh_db) == (9, 1)


def test_editing_a_published_exercise_is_refused_and_changes_nothing(fresh_db, data_dir):
    load_content(fresh_db, data_dir)
    before = fresh_db.get(ExerciseRow, ("hip-flexor-stretch", 1)).document
    _edit(data_dir / "exercises" / "hip-flexor-stretch.toml", 'title = "', 'title = "Edited ')
    with pytest.raises(ContentError, match="new version"):
        load_content(fresh_db, data_dir)
    fresh_db.rollback()
    assert fresh_db.get(ExerciseRow, ("hip-flexor-stretch", 1)).document == before


def test_editing_a_published_protocol_is_refused(fresh_db, data_dir):
    load_content(fresh_db, data_dir)
    _edit(
        data_dir / "protocols" / "hip-impingement" / "v1.toml",
        "gate_min_days = 14",
        "gate_min_days = 10",
    )
    with pytest.raises(
        ContentError, match="protocol hip-impingement version 1 is already published"
    ):
        load_content(fresh_db, data_dir)


def test_a_new_protocol_version_is_published_beside_the_old(fresh_db, data_dir):
    load_content(fresh_db, data_dir)
    folder = data_dir / "protocols" / "hip-impingement"
    v2 = folder / "v2.toml"
    shutil.copy(folder / "v1.toml", v2)
    _edit(v2, "version = 1", "version = 2")
    _edit(v2, "gate_min_days = 14", "gate_min_days = 10")
    report = load_content(fresh_db, data_dir)
    assert report.published == ["protocol hip-impingement version 2"]
    assert (
        fresh_db.get(ProtocolRow, ("hip-impingement", 1)).document["params"]["gate_min_days"] == 14
    )
    assert (
        fresh_db.get(ProtocolRow, ("hip-impingement", 2)).document["params"]["gate_min_days"] == 10
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("exercises/hip-flexor-stretch.toml", 'kind = "stretch"', 'kind = "yoga"', "kind"),
        (
            "exercises/hip-flexor-stretch.toml",
            "version = 1",
            "version = 1\ncolour = 'red'",
            "colour",
        ),
        ("exercises/hip-flexor-stretch.toml", 'title = "', 'title = ""', "not valid TOML"),
        (
            "protocols/hip-impingement/v1.toml",
            '"hip-flexor-stretch"',
            '"knee-hug"',
            "unknown exercise",
        ),
        (
            "protocols/hip-impingement/v1.toml",
            '"hip-flexor-stretch"',
            '"hamstring-stretch"',
            "belongs to stage",
        ),
        ("protocols/hip-impingement/v1.toml", "order = 2", "order = 5", "stage orders"),
        ("protocols/hip-impingement/v1.toml", "severe_pain = 8", "severe_pain = 80", "severe_pain"),
    ],
)
def test_invalid_content_is_refused_before_anything_is_stored(
    fresh_db, data_dir, file, old, new, message
):
    _edit(data_dir / file, old, new)
    with pytest.raises(ContentError, match=message):
        load_content(fresh_db, data_dir)
    assert _counts(fresh_db) == (0, 0)
