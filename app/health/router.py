"""Liveness and readiness probes for load balancers and orchestrators."""

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import SQLAlchemyError

from app.core.db import DatabaseDep
from app.core.migrations import head_revisions
from app.core.problems import ProblemError, problem_responses
from app.core.strict_requests import StrictRoute
from app.health import service

router = APIRouter(tags=["operations"], route_class=StrictRoute)


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "database": "ok", "migrations": "head"}]
        }
    )

    status: Literal["ready"]
    database: Literal["ok"]
    migrations: Literal["head"]


@router.get("/healthz", summary="Liveness", response_model=Health)
async def get_health() -> Health:
    """The process is up and answering. It does not touch the database."""
    # Async and without dependencies: answered on the event loop, through any load.
    return Health(status="ok")


@router.get(
    "/readyz", summary="Readiness", response_model=Readiness, responses=problem_responses(503)
)
async def get_readiness(db: DatabaseDep) -> Readiness:
    """The database answers and its schema is at the latest migration."""
    retry = {"Retry-After": "5"}
    try:
        current = await db.read(service.schema_revisions)
    except SQLAlchemyError as exc:
        raise ProblemError(
            503, "database-unavailable", "The database is not reachable.", headers=retry
        ) from exc
    if current != head_revisions():
        raise ProblemError(
            503,
            "migrations-pending",
            "The database schema is not at the latest migration; run `hipfix migrate`.",
            headers=retry,
        )
    return Readiness(status="ready", database="ok", migrations="head")
