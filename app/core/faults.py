"""When the database is away or refuses writes: 503 with Retry-After, never a 500.

The pool reconnects by itself (`pool_pre_ping`, and SQLite opens its file per connection), and
a lane's kept connection found broken fails the request that met it and is replaced
(`app/core/db/kept.py`), so the service recovers as soon as the database does; `/readyz`
reports the same meanwhile.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.core.db.lanes import busy
from app.core.metrics import refused
from app.core.problems import problem_response

RETRY_AFTER_SECONDS = 5

log = logging.getLogger("hipfix.faults")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The driver's message may name hosts or files: it goes to the log, not to the client.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    refused("database_unavailable")
    return problem_response(
        request,
        503,
        "database-unavailable",
        "The database is unavailable or not accepting writes; nothing was stored. Retry later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _pool_dry(request: Request, exc: Exception) -> JSONResponse:
    # Units of work never outnumber the pool, so this means connections are leaking or
    # something outside the units holds them: the same answer as a unit not admitted.
    log.warning("no database connection free on %s %s: %s", request.method, request.url.path, exc)
    refused("pool_dry")
    problem = busy()
    return problem_response(
        request, problem.status, problem.kind, problem.detail, headers=problem.headers
    )


def install_fault_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PoolTimeout, _pool_dry)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
