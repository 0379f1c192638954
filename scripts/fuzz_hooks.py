"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.py).

A JSON Schema says which requests are well formed, not what only the server or the clock
knows. These hooks stand in for a real client in exactly those places and nowhere else:
every operation is tested and every check runs. Malformed values are never touched, so the
negative checks see them as generated.

1. Auth. The Bearer tokens are set by an auth provider rather than `--header`, because
   some operations must not run as the run's client and no hook can change a `--header`
   value for one operation. Coach-only operations, and those on a client the coach created
   in this run, get the coach's token (a client's would always be a 403 or 404); all others
   get the enrolled client's, except those that would take the run's client away from the
   rest of the run, which act on a throwaway client account instead (one per worker,
   replaced once used up): signing out (`DELETE /v1/auth/token`) and out everywhere
   (`DELETE /v1/auth/tokens`) revoke the token sent, so each call signs in anew; changing
   the password (`POST /v1/me/password`) and erasure (`POST /v1/me/erasure`) are sent with
   that account's password, as its owner would (a generated one is wrong, counts as a
   failed sign-in and would soon throttle the account); a new password is kept for the
   next call and an erasure uses the account up; ending the run's client's enrolment would
   turn every later log into a 409, so an end naming it ends the throwaway's own enrolment
   instead (other ids are sent as generated).
2. Catalogue references. `protocol`, `version`, `stage` and `exercise` in a body name
   published content, and a well-formed slug naming nothing is rightly a 422 (unknown-*).
   A well-formed value is swapped for a published one (picked by a hash of the generated
   value); exercises come from the stages open from enrolment, the only ones a client may
   log before the engine opens more (others are a 422 stage-locked). Likewise an
   invitation's `client_id` must name one of the coach's managed clients (else a 422
   unknown-client): a well-formed one names the coach's managed client (one made by
   scripts/fuzz.py, or a new one once the run has erased it).
3. Times. Body times must lie between the enrolment's start (earlier is a 422
   before-enrollment) and now (later is a 422: in the future), and a simulation's timeline
   must not start before its `started_at`. No JSON Schema can say "now" or compare two
   fields or requests, so: every enrolment starts when the run's client's did, 30 days ago
   (also one that would default to now); other well-formed times outside [that, now] are
   moved into it; a simulation starts at its earliest item at the latest; the `from` and
   `to` of the pain chart, the report and the export, two well-formed dates in the wrong
   order, are swapped (the 422 invalid-range stays for people who send them so) and brought
   within a window's stated span (422 window-too-long otherwise); and the
   date today's routine is asked for is moved to 2000 or later when it is earlier (the
   engine knows no date before; a schema's `format: date` cannot say so).
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
8. Expiry. An `expires_at` (API keys, invitations) must lie ahead of now and at most a year
   ahead (else a 422), and no schema can say "now": a well-formed one outside that window is
   moved into it (the clock, as in point 3).
9. Webhook URLs. Whether a URL's host resolves, and to what, is the DNS's to say, not the
   schema's; nothing resolves names here, and the fuzz must not send anything off this
   machine. The served instance accepts any address (`HIPFIX_WEBHOOKS_ALLOW_PRIVATE_URLS`)
   and runs no delivery worker; a well-formed http(s) URL gets its host and port swapped for
   a loopback port that scripts/fuzz.py holds bound and never listens on, so registration
   passes and a ping fails at once (connection refused) instead of waiting on a timeout.
   Long and odd hosts (`ODD_HOSTS`: over-long labels and names, empty labels, odd IP forms,
   ports out of range…) replace the generated one in about a third of the cases on every
   operation that takes a URL; one the server refuses by its form (it resolves nothing for
   that) is sent as it is, and must get a 422 naming it, never a 500 (such a 422 is not a
   "schema-valid request rejected": the pattern cannot say what DNS allows).
10. Enrolments follow one another. After the run ends a client's enrolment, a new one may
   not start before that end, and items before the new start are refused: neither a schema
   nor point 3's one start can say so, and those 422s for such a client are expected. A
   simulation's `unlock_stage` is the coach's (PRODUCT §3): the schema cannot tie `by` to
   `action`, so one said to be the client's is made the coach's.
11. How far back. An item is refused (422 too-far-back) when more than `REPLAY_CAP` stored
   items follow its moment: what the run has stored decides, which no schema can say, so
   that one problem is not counted as "valid input rejected" (every other check applies).
"""

import contextlib
import hashlib
import json
import os
import re
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import schemathesis

from app.core.types import zone_names
from app.core.windows import WINDOW_DAYS
from app.webhooks import urls
from app.webhooks.schemas import URL_PATTERN

BASE = os.environ["FUZZ_BASE_URL"]
CLIENT_TOKEN = os.environ["FUZZ_CLIENT_TOKEN"]
COACH_TOKEN = os.environ["FUZZ_COACH_TOKEN"]
ENROLLMENT_ID = os.environ["FUZZ_ENROLLMENT_ID"]
PASSWORD = os.environ["FUZZ_PASSWORD"]
STARTED = datetime.fromisoformat(os.environ["FUZZ_STARTED"])
CLOSED_PORT = int(os.environ["FUZZ_CLOSED_PORT"])
MANAGED_CLIENT_ID = os.environ["FUZZ_MANAGED_CLIENT_ID"]

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
URL = re.compile(URL_PATTERN)
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
TIMES = ("started_at", "recorded_at", "performed_at", "at")
COACH_ONLY = {
    "POST /v1/api-keys",
    "GET /v1/api-keys",
    "DELETE /v1/api-keys/{key_id}",
    "POST /v1/clients",
    "DELETE /v1/clients/{client_id}/coach",
    "POST /v1/invitations",
    "GET /v1/invitations",
    "DELETE /v1/invitations/{invitation_id}",
    "POST /v1/webhook-endpoints",
    "GET /v1/webhook-endpoints",
    "GET /v1/webhook-endpoints/{endpoint_id}",
    "PATCH /v1/webhook-endpoints/{endpoint_id}",
    "DELETE /v1/webhook-endpoints/{endpoint_id}",
    "POST /v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    "POST /v1/webhook-endpoints/{endpoint_id}/ping",
    "GET /v1/webhook-endpoints/{endpoint_id}/deliveries",
    "POST /v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
}
# Point 1: operations that act on a throwaway account, and the body fields that carry its
# password.
SIGN_OUT = {"DELETE /v1/auth/token", "DELETE /v1/auth/tokens"}
WITH_PASSWORD = {"POST /v1/me/password": "current_password", "POST /v1/me/erasure": "password"}
END = "POST /v1/clients/{client_id}/enrollments/{enrollment_id}/end"
# Set by the auth provider, replaced in before_call: a token that works for nothing.
THROWAWAY_PENDING = "throwaway-token-set-before-the-call"
WEBHOOK_BODIES = {"POST /v1/webhook-endpoints", "PATCH /v1/webhook-endpoints/{endpoint_id}"}


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


def _ahead(value: str) -> str:
    """A well-formed expiry moved into (now, a year ahead]; the rest as generated."""
    moment = _moment(value)
    if moment is None:
        return value
    earliest = datetime.now(UTC) + timedelta(minutes=5)
    latest = datetime.now(UTC) + timedelta(days=365)
    if earliest <= moment <= latest:
        return value
    span = int((latest - earliest).total_seconds())
    return (earliest + timedelta(seconds=_hash(value) % span)).isoformat()


# Hosts a generator from the URL pattern all but never writes (point 9): over-long labels and
# names (the issue-22 500 was a label of thousands), empty labels, odd IP forms, IDN, ports out
# of range, percent-escapes. Every operation that takes a URL gets one of these for a share of
# its cases, whatever schemathesis made.
ODD_HOSTS = (
    "0" * 1990,
    "a" * 64 + ".example.com",
    ".".join(["a" * 63] * 4) + ".com",
    "a..example.com",
    ".example.com",
    "example.com..",
    "xn--.example.com",
    "xn--zz-zzzzzzz.example",
    "b\u00fccher.example",
    "%41%42.example.com",
    "[::1",
    "[fe80::1%25eth0]",
    "0127.0.0.1",
    "4294967296",
    "example.com:0",
    "example.com:65536",
    "example.com:99999999999999999999",
    "-leading-hyphen.example.com",
    "under_score.example.com",
    "\u0661\u0662\u0663.example",
)


# Point 10: clients whose enrolment the run ended (a throwaway's, or a coach's client), and
# what a client that ended one is refused: a new one before that end, an item before the new
# one's start.
ENDED: set[str] = set()
AFTER_AN_END = {"overlaps-previous-enrollment", "before-enrollment"}

# The URLs sent as they are because the server refuses them by their form: a 422 for one of
# these is the answer wanted, though the schema's pattern cannot tell them apart (ST202).
REFUSED_BY_FORM: set[str] = set()


def _odd_host(value: str) -> str:
    """For about one case in three, the URL with one of `ODD_HOSTS` for its host."""
    digest = _hash(value)
    if digest % 3:
        return value
    host = ODD_HOSTS[digest // 3 % len(ODD_HOSTS)]
    scheme = "HTTPS" if digest % 2 else "https"
    match = re.match(r"^[^:]*://[^/?#]*(.*)$", value, flags=re.S)
    rest = match.group(1) if match else "/hook"
    return f"{scheme}://{host}{rest}"


def _loopback(value: str) -> str:
    """A well-formed URL's host and port swapped for the closed port; the rest as generated.
    A URL the server refuses by its form alone (it resolves nothing then) is sent as it is:
    the answer must be a 422 naming the URL, never a 500."""
    try:
        urls.parse(value)
    except (urls.UrlRefusedError, ValueError, UnicodeError):
        REFUSED_BY_FORM.add(value)
        return value
    if not URL.match(value):
        return value
    scheme, _, rest = value.partition("://")
    after_host = re.search(r"[/?#]", rest)
    return f"{scheme}://127.0.0.1:{CLOSED_PORT}{rest[after_host.start() :] if after_host else ''}"


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
    if isinstance(node.get("expires_at"), str):
        node["expires_at"] = _ahead(node["expires_at"])
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


def _coach_unlocks(body: dict) -> None:
    """Only a coach's `unlock_stage` exists (PRODUCT §3: the simulator refuses a client's);
    the schema cannot tie `by` to `action`."""
    timeline = body.get("timeline")
    for item in timeline if isinstance(timeline, list) else []:
        if isinstance(item, dict) and item.get("action") == "unlock_stage":
            item["by"] = "coach"


_MANAGED = {"id": MANAGED_CLIENT_ID}
_MANAGED_LOCK = threading.Lock()


def _managed_client() -> str:
    """Point 2: the coach's managed client for invitations; a new one once it was erased."""
    with _MANAGED_LOCK:
        if not _MANAGED["id"]:
            made = httpx.post(
                f"{BASE}/v1/clients",
                json={"display_name": "Managed", "timezone": "Europe/London"},
                headers={"Authorization": f"Bearer {COACH_TOKEN}"},
                timeout=10,
            )
            _MANAGED["id"] = str(made.raise_for_status().json()["id"])
        return _MANAGED["id"]


DATE_RANGES = {
    "GET /v1/clients/{client_id}/charts/pain.svg",
    "GET /v1/clients/{client_id}/report",
    "GET /v1/me/export",
}


def _from_2000(query: dict) -> None:
    """A well-formed `date` before 2000 moved to the run's start."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        if date.fromisoformat(query["date"]) < date(2000, 1, 1):
            query["date"] = STARTED.date().isoformat()


def _date_range(query: dict) -> None:
    """`from` no later than `to`, and at most `WINDOW_DAYS` dates apart, when both are
    well-formed dates."""
    try:
        start, end = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
    except (KeyError, TypeError, ValueError):
        return
    if start > end:
        start, end = end, start
    # Within the stated bound on a window's span, as a client paging through windows asks.
    with contextlib.suppress(OverflowError):
        start = max(start, end - timedelta(days=WINDOW_DAYS - 1))
    query["from"], query["to"] = start.isoformat(), end.isoformat()


def _label(case: Any) -> str:
    return f"{case.operation.method.upper()} {case.operation.path}"


def _sign_in(http: httpx.Client, email: str, password: str = PASSWORD) -> str:
    response = http.post("/v1/auth/token", data={"username": email, "password": password})
    return response.raise_for_status().json()["access_token"]


@dataclass
class Throwaway:
    """A client account of its own (point 1), enrolled as the run's client is."""

    email: str
    token: str
    enrollment_id: str
    password: str = PASSWORD

    @classmethod
    def sign_up(cls) -> "Throwaway":
        email = f"fuzz-{uuid.uuid4().hex}@example.com"
        account = {"email": email, "password": PASSWORD, "display_name": "Throwaway"}
        with httpx.Client(base_url=BASE, timeout=10) as http:
            body = {**account, "role": "client", "timezone": "Europe/London"}
            http.post("/v1/accounts", json=body).raise_for_status()
            token = _sign_in(http, email)
            enrollment = http.post(
                "/v1/clients/me/enrollments",
                json={
                    "protocol": "hip-impingement",
                    "baseline_pain": 6,
                    "started_at": STARTED.isoformat(),
                },
                headers={"Authorization": f"Bearer {token}"},
            )
        return cls(email, token, str(enrollment.raise_for_status().json()["id"]))

    def fresh_token(self) -> str:
        with httpx.Client(base_url=BASE, timeout=10) as http:
            self.token = _sign_in(http, self.email, self.password)
        return self.token


# Each worker is a thread that runs a case's before_call, call and after_call in turn: a
# throwaway per worker is never used by two requests at once.
_WORKER = threading.local()


def _throwaway() -> Throwaway:
    if getattr(_WORKER, "account", None) is None:
        _WORKER.account = Throwaway.sign_up()
    account: Throwaway = _WORKER.account
    return account


def _on_throwaway(case: Any, label: str) -> None:
    """Point 1: the operations that must not act on the run's client get a throwaway."""
    params = case.path_parameters or {}
    ends_ours = label == END and str(params.get("enrollment_id")) == ENROLLMENT_ID
    if label not in SIGN_OUT and label not in WITH_PASSWORD and not ends_ours:
        _WORKER.using = False
        return
    # Only the token the provider set: a negative case's missing or garbled credentials stay.
    provided = f"Bearer {CLIENT_TOKEN if ends_ours else THROWAWAY_PENDING}"
    if (case.headers or {}).get("Authorization") != provided:
        _WORKER.using = False
        return
    account = _throwaway()
    try:
        token = account.fresh_token() if label in SIGN_OUT else account.token
    except httpx.HTTPStatusError:  # used up by a success after_call did not see: a new one
        _WORKER.account = None
        account = _throwaway()
        token = account.fresh_token() if label in SIGN_OUT else account.token
    case.headers["Authorization"] = f"Bearer {token}"
    field = WITH_PASSWORD.get(label, "")
    given = case.body.get(field) if isinstance(case.body, dict) else None
    if isinstance(given, str) and 1 <= len(given) <= 256:  # well formed
        case.body[field] = account.password
    if ends_ours:
        case.path_parameters = {**params, "client_id": "me", "enrollment_id": account.enrollment_id}
    # A success changes the password (kept) or uses the account up (erasure, its enrolment
    # ended).
    _WORKER.using = label not in SIGN_OUT


# Not cached (refresh_interval=None) and never re-fetched on a 401 (retry_on=[]): a revoked
# token must show up as failures, not be quietly replaced.
@schemathesis.auth(refresh_interval=None, retry_on=[])
class BearerToken:
    def get(self, case, ctx):
        label = _label(case)
        if label in SIGN_OUT or label in WITH_PASSWORD:
            return THROWAWAY_PENDING
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
        _coach_unlocks(body)
    if label == "POST /v1/invitations" and isinstance(body, dict):
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            uuid.UUID(body.get("client_id"))
            body["client_id"] = _managed_client()
    if label in DATE_RANGES and isinstance(case.query, dict):
        _date_range(case.query)
    if label == "GET /v1/clients/{client_id}/today" and isinstance(case.query, dict):
        _from_2000(case.query)
    if isinstance(body, dict) and label in WEBHOOK_BODIES and isinstance(body.get("url"), str):
        body["url"] = _loopback(_odd_host(body["url"]))
    _on_throwaway(case, label)
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
    if getattr(_WORKER, "using", False) and 200 <= response.status_code < 300:
        if _label(case) == "POST /v1/me/password":
            _WORKER.account.password = case.body["new_password"]
        else:
            _WORKER.account = None
    if _label(case) == END and response.status_code == 200:
        ENDED.add(str((case.path_parameters or {}).get("client_id")))
    erased = str((case.path_parameters or {}).get("client_id"))
    if _label(case) == "DELETE /v1/clients/{client_id}" and response.status_code == 204:
        with _MANAGED_LOCK:
            if _MANAGED["id"] == erased:
                _MANAGED["id"] = ""
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
    if failure.code == "ST202" and response.status_code == 422:
        kind = _problem_type(response).rsplit("/", 1)[-1]
        if kind in AFTER_AN_END and str((case.path_parameters or {}).get("client_id")) in ENDED:
            return False
        if kind == "too-far-back":  # point 11
            return False
        body = case.body if isinstance(case.body, dict) else {}
        refused_url = _problem_type(response).endswith("/webhook-url-not-allowed")
        return not (refused_url and body.get("url") in REFUSED_BY_FORM)
    if failure.code == "ST202" and response.status_code == 400:
        return not _problem_type(response).endswith("/invalid-cursor")
    if failure.code == "ST302":
        return not REPLAYED & {str(v) for v in (case.path_parameters or {}).values()}
    return True
