"""Strong ETags and conditional GETs for content that only changes on publication."""

import hashlib
import time
from collections.abc import Hashable
from dataclasses import dataclass

from fastapi import Request, Response

from app.core.caches import Caches, CacheSpec

CATALOGUE_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=60"


def _matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so W/"x" matches "x".
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


@dataclass(frozen=True)
class Rendered:
    """A rendered body (JSON, SVG …) with its strong ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> "Rendered":
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def etagged(
    request: Request,
    rendered: Rendered,
    cache_control: str = CATALOGUE_CACHE_CONTROL,
    media_type: str = "application/json",
) -> Response:
    """The body with its ETag, or 304 when the client has it."""
    headers = {"ETag": rendered.etag, "Cache-Control": cache_control}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=rendered.body, media_type=media_type, headers=headers)


class VersionedBodies:
    """Rendered documents by (slug, version), kept in the app's caches: a published version
    never changes, so a kept body is never wrong. Only which version is the latest can
    change (a new one is published), so that is asked again after `recheck` seconds."""

    def __init__(self, caches: Caches, kind: str, recheck: float) -> None:
        self._recheck = recheck
        self._bodies = caches[CacheSpec(f"{kind} bodies", size=256)]
        self._latest = caches[CacheSpec(f"latest {kind}", size=256)]  # slug -> (version, when)

    def get(self, slug: str, version: int | None) -> Rendered | None:
        if version is None:
            latest: tuple[int, float] | None = self._latest.get(slug)
            if latest is None or time.monotonic() - latest[1] >= self._recheck:
                return None
            version = latest[0]
        rendered: Rendered | None = self._bodies.get((slug, version))
        return rendered

    def keep(self, slug: str, version: int, rendered: Rendered, *, latest: bool) -> Rendered:
        self._bodies.put((slug, version), rendered)
        if latest:
            self._latest.put(slug, (version, time.monotonic()))
        return rendered


class PublishedPages:
    """Rendered lists of published content by their query, kept in the app's caches. Content
    changes only on publication, so a kept page is asked for again after `recheck` seconds,
    like the latest version in `VersionedBodies`."""

    def __init__(self, caches: Caches, kind: str, recheck: float) -> None:
        self._recheck = recheck
        self._pages = caches[CacheSpec(f"{kind} pages", size=256)]

    def get(self, query: Hashable) -> Rendered | None:
        kept: tuple[Rendered, float] | None = self._pages.get(query)
        if kept is None or time.monotonic() - kept[1] >= self._recheck:
            return None
        return kept[0]

    def keep(self, query: Hashable, rendered: Rendered) -> Rendered:
        self._pages.put(query, (rendered, time.monotonic()))
        return rendered
