"""Strong ETags and conditional GETs for content that only changes on publication."""

import hashlib

from fastapi import Request, Response

CATALOGUE_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=60"


def _matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so W/"x" matches "x".
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def etagged_json(
    request: Request, body: bytes, cache_control: str = CATALOGUE_CACHE_CONTROL
) -> Response:
    """A JSON response carrying a strong ETag of its body, or 304 when the client has it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
