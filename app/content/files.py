"""The content files in `data/`: exercises and protocol versions, validated on read."""

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.catalogue.schemas import Exercise, RedFlag, StageUnlock
from app.progression.params import ProgressionParams

DATA_DIR = Path(__file__).parent / "data"


class ContentError(Exception):
    """The content files are invalid, or disagree with what was already published."""


class ExerciseFile(Exercise):
    position: int = Field(ge=1, description="Catalogue order.")


class StageFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: int = Field(ge=1)
    slug: str
    title: str
    goal: str
    exercises: list[str] = Field(min_length=1, description="Exercise slugs, in session order.")
    unlock: StageUnlock


class ProtocolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    version: int = Field(ge=1)
    title: str
    summary: str
    rationale: str
    disclaimer: str
    assessments: list[str]
    stages: list[StageFile] = Field(min_length=1)
    params: ProgressionParams
    red_flags: list[RedFlag] = Field(min_length=1)


M = TypeVar("M", bound=BaseModel)


def _read(path: Path, model: type[M]) -> M:
    try:
        with path.open("rb") as handle:
            return model.model_validate(tomllib.load(handle))
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise ContentError(f"{path}: {exc}") from exc


def read_exercises(data_dir: Path = DATA_DIR) -> list[ExerciseFile]:
    return [_read(p, ExerciseFile) for p in sorted((data_dir / "exercises").glob("*.toml"))]


def read_protocols(data_dir: Path = DATA_DIR) -> list[ProtocolFile]:
    return [_read(p, ProtocolFile) for p in sorted((data_dir / "protocols").glob("*/v*.toml"))]
