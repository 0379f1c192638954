"""Answers already validated: serialised once, straight to bytes."""

from fastapi import Response
from pydantic import BaseModel


def model_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


def json_response(body: bytes | BaseModel, status_code: int = 200) -> Response:
    """A body rendered by our own code from the route's response model. Returned as a model,
    FastAPI would validate it against that model again before serialising it (the route
    still declares `response_model` for OpenAPI)."""
    if isinstance(body, BaseModel):
        body = model_json(body)
    return Response(body, status_code=status_code, media_type="application/json")
