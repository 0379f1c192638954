"""Answers already validated: serialised once, straight to bytes."""

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """`model` as JSON. A route that returns its model lets FastAPI validate it against the
    response model again before serialising it; one built by our own code from the same
    schema need not be (the route still declares `response_model` for OpenAPI)."""
    return Response(
        model.__pydantic_serializer__.to_json(model, by_alias=True),
        status_code=status_code,
        media_type="application/json",
    )
