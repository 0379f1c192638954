"""Lists as CSV for `Accept: text/csv`: the same page (filters, visibility, cursor) as the
JSON list, one header row, ISO 8601 times with their offset, the next page in a `Link`
header (RFC 8288)."""

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from app.core.pagination import Page
from app.core.responses import json_response

CSV = "text/csv"
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV
# injection"): a note typed by a person is prefixed with ' so it stays text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def wants_csv(request: Request) -> bool:
    """True when Accept names text/csv at least as high as application/json (`*/*` alone
    keeps JSON, the lists' default)."""
    accept = request.headers.get("accept")
    if not accept or CSV not in accept.lower():
        return False
    weights: dict[str, float] = {}
    for part in accept.lower().split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        weights[media] = max(weight, weights.get(media, 0.0))
    csv_weight = weights.get(CSV, 0.0)
    return csv_weight > 0 and csv_weight >= weights.get("application/json", 0.0)


def _cell(value: Any, as_json: Any) -> str:
    """One value; `as_json` is the same value in its JSON form, for nested objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list) and all(
        isinstance(v, str | int | float | Enum | uuid.UUID) for v in value
    ):
        return ";".join(_cell(v, v) for v in value)  # ids, flags: one cell, `;` between
    if isinstance(value, list | dict):
        return json.dumps(as_json, separators=(",", ":"), sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def page_csv(items: list[BaseModel], model: type[BaseModel]) -> str:
    columns = list(model.model_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(columns)
    for item in items:
        values, as_json = item.model_dump(mode="python"), item.model_dump(mode="json")
        writer.writerow([_cell(values[name], as_json[name]) for name in columns])
    return out.getvalue()


def listed(
    request: Request, page: Page[Any] | bytes, model: type[BaseModel], name: str
) -> Response:
    """The page as JSON, or as CSV when the caller asks for it. A page already rendered
    (bytes: a lean read's, asked for only when JSON is wanted) is JSON."""
    if isinstance(page, bytes) or not wants_csv(request):
        return json_response(page)
    headers = {"Content-Disposition": f'inline; filename="{name}.csv"', "Vary": "Accept"}
    if page.next_cursor is not None:
        following = request.url.include_query_params(cursor=page.next_cursor)
        headers["Link"] = f'<{following}>; rel="next"'
    return Response(
        page_csv(page.items, model), media_type=f"{CSV}; charset=utf-8", headers=headers
    )


def csv_responses(example: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI: the 200 also comes as text/csv."""
    return {
        200: {
            "description": "The page: JSON, or CSV with `Accept: text/csv` (next page in the "
            "`Link` header).",
            "content": {CSV: {"schema": {"type": "string"}, "example": example}},
        }
    }
