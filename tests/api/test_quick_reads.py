"""Quick reads (app/core/quick.py) answer exactly what FastAPI's own handler answers: the same
requests, plain and not, sent to the app and to the same app built with none, on the same
database."""

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from starlette.routing import Match

from app.core import strict_requests
from app.core.config import get_settings
from app.core.quick import quick_read_of
from app.main import HOT_ROUTES, create_app
from tests.conftest import enrol, managed_client, pain_body, signup

HOT = {
    "get_me",
    "get_progress",
    "get_today",
    "list_pain_logs",
    "list_sessions",
    "list_events",
    "list_clients",
}


@pytest.fixture
def full(client: TestClient, connection: Connection, monkeypatch) -> Iterator[TestClient]:
    """The same app with every request going through FastAPI's handler."""
    monkeypatch.setattr(strict_requests, "quick_read_of", lambda endpoint: None)
    settings = get_settings().model_copy(update={"cpu_processes": 0})
    with TestClient(create_app(settings, bind=connection), raise_server_exceptions=False) as c:
        yield c


def _same(client: TestClient, full: TestClient, path: str, headers: dict[str, str]) -> bytes:
    # One request id for both: a problem body carries it.
    headers = {**headers, "X-Request-ID": "quick-or-full"}
    quick, handled = client.get(path, headers=headers), full.get(path, headers=headers)
    assert quick.status_code == handled.status_code, (path, quick.text, handled.text)
    assert quick.headers["content-type"] == handled.headers["content-type"]
    if path.endswith("/progress") and quick.status_code == 200:  # its own moment each time
        assert {**quick.json(), "evaluated_at": None} == {**handled.json(), "evaluated_at": None}
    else:
        assert quick.content == handled.content, path
    return quick.content


def test_the_hot_reads_are_quick(app: FastAPI):
    quick = {r.name for r in app.routes if isinstance(r, APIRoute) and quick_read_of(r.endpoint)}
    assert quick == HOT


def test_every_way_of_asking_answers_as_the_full_handler(client, full, me):
    for day in range(1, 6):
        assert (
            client.post(
                "/v1/clients/me/pain-logs", json=pain_body(day, score=day + 2), headers=me.headers
            ).status_code
            == 201
        )
    session = {
        "performed_at": pain_body(3)["recorded_at"],
        "exercises": [{"exercise": "hip-flexor-stretch", "sets": 2}],
        "side": "left",
        "pain_after": 2,
    }
    assert client.post("/v1/clients/me/sessions", json=session, headers=me.headers).status_code
    stranger = signup(client)
    refs = ("me", me.client_id, me.client_id.upper(), me.client_id.replace("-", ""))
    askers = (
        me.headers,
        stranger.headers,
        {"Authorization": "Bearer nope"},
        {"Authorization": "bearer " + me.headers["Authorization"].split()[1]},
        {"Authorization": "Basic abc"},
        {},
    )
    for headers in askers:
        _same(client, full, "/v1/me", headers)
        for ref in (*refs, "nobody"):
            for read in ("progress", "today", "today?date=2026-11-30", "today?date=nope"):
                _same(client, full, f"/v1/clients/{ref}/{read}", headers)
            for name in ("pain-logs", "sessions", "events"):
                for query in (
                    "",
                    "?limit=2",
                    "?limit=0",
                    "?limit=201",
                    "?limit=02",
                    "?limit=x",
                    "?limit=2&limit=3",
                    "?cursor=bm9wZQ",
                    "?limit=2&cursor=%20",
                    "?limit=1&other=1",
                ):
                    _same(client, full, f"/v1/clients/{ref}/{name}{query}", headers)


def test_following_the_cursors_answers_as_the_full_handler(client, full, me):
    items = [pain_body(day % 5, score=day % 11) for day in range(7)]
    posted = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert posted.status_code == 201, posted.text
    for name in ("pain-logs", "events"):
        path, pages = f"/v1/clients/me/{name}?limit=1", 0
        while path:
            page = json.loads(_same(client, full, path, me.headers))
            pages += 1
            cursor = page["next_cursor"]
            path = f"/v1/clients/me/{name}?limit=1&cursor={cursor}" if cursor else ""
        assert pages >= (7 if name == "pain-logs" else 1)  # one event: enrolled
    csv = {**me.headers, "Accept": "text/csv"}
    assert _same(client, full, "/v1/clients/me/pain-logs?limit=3", csv).startswith(b"id,")


def test_a_coach_reads_a_managed_client_as_the_full_handler(client, full):
    coach = signup(client, role="coach")
    managed = managed_client(client, coach)
    enrol(client, coach, managed["id"])
    path = f"/v1/clients/{managed['id']}"
    assert client.post(f"{path}/pain-logs", json=pain_body(2), headers=coach.headers).status_code
    key = client.post("/v1/api-keys", json={"name": "sync"}, headers=coach.headers).json()
    for headers in (coach.headers, {"Authorization": f"Bearer {key['key']}"}):
        _same(client, full, "/v1/me", headers)
        for query in ("", "?limit=1", "?limit=500", "?limit=1&sort=created", "?status=hold"):
            _same(client, full, f"/v1/clients{query}", headers)
        for read in ("progress", "today", "pain-logs?limit=5", "sessions", "events?limit=5"):
            _same(client, full, f"{path}/{read}", headers)
        _same(client, full, "/v1/clients/me/progress", headers)  # a coach has no `me`


def test_the_routes_matched_first_are_the_only_ones_matching_their_requests(app: FastAPI):
    """`match_first` (app/core/routes.py) moves the hot routes ahead: no other route may match
    what they match, or moving them would change which route answers."""
    ids = ("me", "5d1e8a2c-9f3b-4c7d-8e6a-1b2c3d4e5f60", "5d1e8a2c9f3b4c7d8e6a1b2c3d4e5f60", "x")
    for name in HOT_ROUTES:
        [route] = [r for r in app.routes if isinstance(r, APIRoute) and r.name == name]
        assert app.routes.index(route) == HOT_ROUTES.index(name)
        for value in ids:
            path = route.path.replace("{client_id}", value).replace("{slug}", value)
            for method in route.methods:
                scope = {"type": "http", "method": method, "path": path, "root_path": ""}
                full = [r for r in app.routes if r.matches(scope)[0] == Match.FULL]
                assert full == [route], (method, path, [r.name for r in full])
