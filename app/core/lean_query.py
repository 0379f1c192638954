"""An optional query parameter read by the route itself, on the hottest reads.

This FastAPI solves every declared parameter on every request, sent or not: one optional
query parameter took a tenth of the protocol read's time (bench/RESULTS.md). A `LeanQuery`
is documented in OpenAPI as a declared one is (pass `.parameter` in the route's
`openapi_extra`), validated by the same type and refused with the same 422 problem, and
costs nothing when the query string is empty.
"""

from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field, TypeAdapter, ValidationError


class LeanQuery:
    def __init__(self, name: str, annotation: Any, description: str, **constraints: Any) -> None:
        self.name = name
        field = Field(title=name.title(), description=description, **constraints)
        self._type: TypeAdapter[Any] = TypeAdapter(Annotated[annotation | None, field])
        self.parameter = {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": self._type.json_schema(),
        }

    def read(self, request: Request) -> Any:
        """The value sent, validated; None when it was not sent."""
        if not request.scope["query_string"]:
            return None
        try:
            return self._type.validate_python(request.query_params.get(self.name))
        except ValidationError as error:
            errors = error.errors(include_url=False)
            raise RequestValidationError(
                [{**e, "loc": ("query", self.name, *e["loc"])} for e in errors]
            ) from None
