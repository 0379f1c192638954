"""A create request's fingerprint: the same body (after normalisation) gives the same hash."""

import hashlib

from pydantic import BaseModel


def body_hash(payload: BaseModel, *, exclude: set[str] | None = None) -> str:
    canonical = payload.model_dump_json(exclude=exclude)
    return hashlib.sha256(canonical.encode()).hexdigest()
