"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

A JSON Schema says which requests are well formed, not what only the server or the clock
knows. These hooks stand in for a real client in exactly those places and nowhere else:
every operation is tested and every check runs. Malformed values are never touched, so the
negative checks see them as generated.

1. Auth. The Bearer tokens are set by an auth provider rather than `--header`, because
   `DELETE /v1/auth/token` revokes the token it is sent with and no hook can change a
   `--header` value for one operation: sign-out gets a token of its own, signed in for that
   call. Coach-only operations, and those on a client the coach created in this run, get
   the coach's token (a client's would always be a 403 or 404); all others get the
   enrolled client's.
2. Catalogue references. `protocol`, `version`, `stage` and `exercise` in a body name
   published content, and a well-formed slug naming nothing is rightly a 422 (unknown-*).
   A well-formed value is swapped for a published one (picked by a hash of the generated
   value); exercises come from the stages open from enrolment, the only ones a client may
   log before the engine opens more (others are a 422 stage-locked).
3. Times. Body times must lie between the enrolment's start (earlier is a 422
   before-enrollment) and now (later is a 422: in the future), and a simulation's timeline
   must not start before its `started_at`. No JSON Schema can say "now" or compare two
   fields or requests, so: every enrolment starts when the run's client's did, 30 days ago
   (also one that would default to now); other well-formed times outside [that, now] are
   moved into it; and a simulation starts at its earliest item at the latest.
4. Idempotency-Key. The generator repeats the documented example key on different bodies,
   which the API rightly refuses (422 idempotency-key-reused, as the IETF draft asks). A
   real client makes a key per request: a well-formed key gets a suffix derived from the
   request, so a repeated request is a retry and a different one has a new key.
5. Cursors. A cursor is opaque: only a list's own `next_cursor` is valid, and no schema can
   say which strings those are. A made-up one gets the documented 400 invalid-cursor
   problem, and only that exact answer is not counted as "valid input rejected"; every
   other check (no 500, conformance) still applies to made-up cursors.
6. Replayed creates. A create repeated with its Idempotency-Key gets the first response
   again (`Idempotent-Replayed: true`), as the IETF draft requires, even if that item was
   deleted since (an API key revoked, a pain log deleted). "Created resource not found"
   (ensure_resource_availability) is not counted for an item only such a replay named;
   that check still runs for everything else.
7. Time zones. A `timezone` is documented as a string (an enum of ~600 names broke client
   generators), and only IANA names are accepted. Any other string in a body is swapped for
   a real zone (picked by a hash of the generated value); non-strings are left as generated.
"""

import contextlib
import hashlib
import json
import os
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import schemathesis

from app.core.types import zone_names

BASE = os.environ["FUZZ_BASE_URL"]
CLIENT_TOKEN = os.environ["FUZZ_CLIENT_TOKEN"]
COACH_TOKEN = os.environ["FUZZ_COACH_TOKEN"]
CLIENT_EMAIL = os.environ["FUZZ_CLIENT_EMAIL"]
PASSWORD = os.environ["FUZZ_PASSWORD"]
STARTED = datetime.fromisoformat(os.environ["FUZZ_STARTED"])

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
TIMES = ("started_at", "recorded_at", "performed_at", "at")
COACH_ONLY = {
    "POST /v1/api-keys",
    "GET /v1/api-keys",
    "DELETE /v1/api-keys/{key_id}",
    "POST /v1/clients",
}


def _catalogue() -> dict[str, Any]:
    with httpx.Client(base_url=BASE, timeout=10) as http:
        summaries = http.get("/v1/protocols").raise_for_status().json()["items"]
        protocols = {p["slug"]: p["versions"] for p in summaries}
        stages, exercises = set(), set()
        for slug in protocols:
            for stage in http.get(f"/v1/protocols/{slug}").raise_for_status().json()["stages"]:
                stages.add(stage["slug"])
                if stage["unlock"]["by"] == "enrollment":
                    exercises.update(e["slug"] for e in stage["exercises"])
    return {
        "protocol": sorted(protocols),
        "versions": protocols,
        "stage": sorted(stages),
        "exercise": sorted(exercises),
    }


CATALOGUE = _catalogue()
ZONES = frozenset(zone_names())
SOME_ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC")
# Ids in the bodies of replayed creates (point 6), and of clients the coach created (1).
REPLAYED: set[str] = set()
COACH_CLIENTS: set[str] = set()


def _hash(value: str) -> int:
    return zlib.crc32(value.encode())


def _published(field: str, value: str) -> str:
    known = CATALOGUE[field]
    if value in known or not SLUG.match(value):
        return value
    return known[_hash(value) % len(known)]


def _moment(value: Any) -> datetime | None:
    """A well-formed time with an offset, or None."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _in_window(value: str) -> str:
    moment = _moment(value)
    if moment is None:
        return value
    latest = datetime.now(UTC) - timedelta(minutes=1)
    if STARTED <= moment <= latest:
        return value
    span = int((latest - STARTED).total_seconds())
    return (STARTED + timedelta(seconds=_hash(value) % span)).isoformat()


def _realistic(node: Any) -> None:
    """Published references and in-window times, anywhere in a body."""
    if isinstance(node, list):
        for item in node:
            _realistic(item)
        return
    if not isinstance(node, dict):
        return
    for field in ("protocol", "stage", "exercise"):
        if isinstance(node.get(field), str):
            node[field] = _published(field, node[field])
    protocol, version = node.get("protocol"), node.get("version")
    versions = CATALOGUE["versions"].get(protocol) if isinstance(protocol, str) else None
    whole = type(version) is int or (type(version) is float and version.is_integer())
    if versions and whole and version >= 1 and version not in versions:
        node["version"] = versions[int(version) % len(versions)]
    for field in TIMES:
        if isinstance(node.get(field), str):
            node[field] = _in_window(node[field])
    zone = node.get("timezone")
    if isinstance(zone, str) and zone not in ZONES:
        node["timezone"] = SOME_ZONES[_hash(zone) % len(SOME_ZONES)]
    for value in node.values():
        _realistic(value)


def _timeline_start(body: dict) -> None:
    """A simulation starts no later than its earliest item."""
    times = [body.get("started_at")]
    timeline = body.get("timeline")
    for item in timeline if isinstance(timeline, list) else []:
        times += [item.get(field) for field in TIMES] if isinstance(item, dict) else []
    moments = [(_moment(value), value) for value in times]
    if moments[0][0] is not None:
        body["started_at"] = min((m, v) for m, v in moments if m is not None)[1]


def _label(case: Any) -> str:
    return f"{case.operation.method.upper()} {case.operation.path}"


def _sign_in() -> str:
    response = httpx.post(
        f"{BASE}/v1/auth/token",
        data={"username": CLIENT_EMAIL, "password": PASSWORD},
        timeout=10,
    )
    return response.raise_for_status().json()["access_token"]


# Not cached (refresh_interval=None) and never re-fetched on a 401 (retry_on=[]): a revoked
# token must show up as failures, not be quietly replaced.
@schemathesis.auth(refresh_interval=None, retry_on=[])
class BearerToken:
    def get(self, case, ctx):
        label = _label(case)
        if label == "DELETE /v1/auth/token":
            return _sign_in()
        client = str((case.path_parameters or {}).get("client_id"))
        return COACH_TOKEN if label in COACH_ONLY or client in COACH_CLIENTS else CLIENT_TOKEN

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def before_call(context, case, kwargs):
    label, body = _label(case), case.body
    if isinstance(body, dict | list):
        _realistic(body)
    if isinstance(body, dict) and label == "POST /v1/simulations":
        _timeline_start(body)
    if label == "POST /v1/clients/{client_id}/enrollments" and isinstance(body, dict):
        start = body.get("started_at")  # None (or absent) is now
        if start is None or _moment(start) is not None:
            body["started_at"] = STARTED.isoformat()
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and KEY.match(key):
        request = [label, case.path_parameters, case.body]
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode())
        headers["Idempotency-Key"] = key[:238] + "-" + digest.hexdigest()[:16]


@schemathesis.hook
def after_call(context, case, response):
    created = _label(case) == "POST /v1/clients" and response.status_code in (200, 201)
    replayed = response.headers.get("idempotent-replayed") == ["true"]
    with contextlib.suppress(ValueError, KeyError, TypeError):
        if created:
            COACH_CLIENTS.add(str(json.loads(response.content)["id"]))
        if replayed:
            REPLAYED.add(str(json.loads(response.content)["id"]))


def _problem_type(response: Any) -> str:
    try:
        return str(json.loads(response.content).get("type", ""))
    except (ValueError, AttributeError):
        return ""


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code == "ST202" and response.status_code == 400:
        return not _problem_type(response).endswith("/invalid-cursor")
    if failure.code == "ST302":
        return not REPLAYED & {str(v) for v in (case.path_parameters or {}).values()}
    return True
