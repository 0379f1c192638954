"""No request's work grows without bound with what a caller sends or has stored (issue 25,
findings 2, 3 and 13): the bounds, each refused with a problem that names it, and the pages
and windows that replace answers of unbounded size."""

from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from app.core.types import HISTORY_DAYS
from app.core.windows import WINDOW_DAYS, WINDOW_ITEMS
from app.progression.replay import REPLAY_CAP
from app.progression.schemas import SIMULATION_DAYS, SIMULATION_ITEMS
from tests.conftest import Actor, assert_problem, signup

NOW = datetime.now(UTC).replace(microsecond=0)


def _enrol(client: TestClient, actor: Actor, days_ago: float) -> dict:
    body = {
        "protocol": "hip-impingement",
        "baseline_pain": 5,
        "started_at": (NOW - timedelta(days=days_ago)).isoformat(),
    }
    return client.post("/v1/clients/me/enrollments", json=body, headers=actor.headers)


def _pain(at: datetime, score: int = 3) -> dict:
    return {"score": score, "context": "rest", "side": "left", "recorded_at": at.isoformat()}


def _simulation(started: datetime, timeline: list[dict]) -> dict:
    return {
        "protocol": "hip-impingement",
        "baseline_pain": 5,
        "started_at": started.isoformat(),
        "timezone": "UTC",
        "timeline": timeline,
    }


def _sim_pain(at: datetime) -> dict:
    return {"type": "pain", **_pain(at)}


# --- the simulator (finding 2) ----------------------------------------------------------


def test_a_simulation_has_at_most_its_bound_of_entries(client):
    started = NOW - timedelta(days=100)
    timeline = [_sim_pain(started + timedelta(hours=n)) for n in range(SIMULATION_ITEMS + 1)]
    body = assert_problem(client.post("/v1/simulations", json=_simulation(started, timeline)), 422)
    assert any(e["loc"][-1] == "timeline" for e in body["errors"]), body
    assert str(SIMULATION_ITEMS) in str(body["errors"])
    answer = client.post("/v1/simulations", json=_simulation(started, timeline[:-1]))
    assert answer.status_code == 200, answer.text


def test_a_simulation_spans_at_most_its_bound_of_days(client):
    # Anywhere in the past (the documented examples keep their dates), but not long.
    started = datetime(2021, 3, 1, 8, tzinfo=UTC)
    within = started + timedelta(days=SIMULATION_DAYS) - timedelta(minutes=1)
    beyond = started + timedelta(days=SIMULATION_DAYS, minutes=1)
    ok = client.post("/v1/simulations", json=_simulation(started, [_sim_pain(within)]))
    assert ok.status_code == 200, ok.text
    timeline = [_sim_pain(within), _sim_pain(beyond)]
    body = assert_problem(
        client.post("/v1/simulations", json=_simulation(started, timeline)), 422, "beyond-span"
    )
    assert f"{SIMULATION_DAYS} days" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "timeline", 1, "recorded_at"]
    moved = {
        **_simulation(started, [_sim_pain(within)]),
        "timezone_changes": [{"at": beyond.isoformat(), "timezone": "Europe/Paris"}],
    }
    body = assert_problem(client.post("/v1/simulations", json=moved), 422, "beyond-span")
    assert body["errors"][0]["loc"] == ["body", "timezone_changes", 0, "at"]


def test_the_simulator_states_its_bounds_in_the_api(client):
    schema = client.get("/openapi.json").json()
    request = schema["components"]["schemas"]["SimulationRequest"]["properties"]["timeline"]
    assert request["maxItems"] == SIMULATION_ITEMS
    assert f"{SIMULATION_DAYS} days" in request["description"]


# --- how far back a history goes (finding 3) ----------------------------------------------


def test_an_enrolment_starts_no_earlier_than_the_history_bound(client):
    sam = signup(client)
    body = assert_problem(_enrol(client, sam, HISTORY_DAYS + 1), 422)
    assert body["errors"][0]["loc"][-1] == "started_at"
    assert f"{HISTORY_DAYS} days" in body["errors"][0]["msg"]
    assert _enrol(client, sam, HISTORY_DAYS - 1).status_code == 201


def test_every_item_is_dated_no_earlier_than_the_history_bound(client):
    sam = signup(client)
    assert _enrol(client, sam, 30).status_code == 201
    old = NOW - timedelta(days=HISTORY_DAYS, hours=1)
    for path, item in [
        ("pain-logs", _pain(old)),
        ("pain-logs/batch", {"items": [_pain(NOW - timedelta(hours=1)), _pain(old)]}),
        (
            "sessions",
            {"performed_at": old.isoformat(), "exercises": [{"exercise": "hip-flexor-stretch"}]},
        ),
        ("assessments", {"performed_at": old.isoformat(), "left": "pain", "right": "no_pain"}),
    ]:
        response = client.post(f"/v1/clients/me/{path}", json=item, headers=sam.headers)
        body = assert_problem(response, 422)
        assert f"{HISTORY_DAYS} days" in str(body["errors"]), (path, body)
    logs = client.get("/v1/clients/me/pain-logs", headers=sam.headers).json()["items"]
    assert logs == []


def test_the_history_bound_is_stated_in_the_api(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name, field in [
        ("EnrollmentCreate", "started_at"),
        ("PainLogCreate", "recorded_at"),
        ("SessionCreate", "performed_at"),
        ("AssessmentCreate", "performed_at"),
    ]:
        described = str(schemas[name]["properties"][field])
        assert f"{HISTORY_DAYS} days" in described, name
        assert "three months" in described, name


def test_a_write_replays_at_most_its_bound_of_stored_items(client):
    sam = signup(client)
    assert _enrol(client, sam, 13).status_code == 201
    start = (NOW - timedelta(days=11)).replace(hour=0, minute=0, second=0)
    stored = [
        _pain(start + timedelta(days=n // 40, minutes=10 + 20 * (n % 40))) for n in range(400)
    ]
    batch = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": stored}, headers=sam.headers
    )
    assert batch.status_code == 201, batch.text
    first = batch.json()["items"][0]["id"]

    # Before all 400: refused, naming the bound; nothing stored.
    early = _pain(start - timedelta(hours=1))
    response = client.post("/v1/clients/me/pain-logs", json=early, headers=sam.headers)
    body = assert_problem(response, 422, "too-far-back")
    assert str(REPLAY_CAP) in body["detail"]
    gone = client.delete(f"/v1/clients/me/pain-logs/{first}", headers=sam.headers)
    assert_problem(gone, 422, "too-far-back")
    exported = client.get("/v1/me/export", headers=sam.headers).json()["pain_logs"]
    assert len(exported) == 400
    assert all(log["deleted_at"] is None for log in exported)

    # Among the newest (fewer than the bound follow): as before.
    late = _pain(start + timedelta(days=9, minutes=5))
    made = client.post("/v1/clients/me/pain-logs", json=late, headers=sam.headers)
    assert made.status_code == 201, made.text
    deleted = client.delete(f"/v1/clients/me/pain-logs/{made.json()['id']}", headers=sam.headers)
    assert deleted.status_code == 204


# --- FHIR in pages (finding 3) ------------------------------------------------------------


def _history(client: TestClient, logs: int) -> Actor:
    sam = signup(client)
    assert _enrol(client, sam, 5).status_code == 201
    start = NOW - timedelta(days=4)
    items = [_pain(start + timedelta(minutes=20 * n), score=n % 10) for n in range(logs)]
    done = client.post("/v1/clients/me/pain-logs/batch", json={"items": items}, headers=sam.headers)
    assert done.status_code == 201, done.text
    return sam


def _valid(bundle: dict) -> None:
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def test_a_long_history_comes_as_fhir_pages_linked_by_next(client):
    sam = _history(client, 250)
    url: str | None = "/v1/clients/me/fhir?_count=100"
    pages, observations, kinds = 0, [], set()
    while url is not None:
        response = client.get(url, headers=sam.headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        _valid(bundle)
        pages += 1
        kinds |= {e["resource"]["resourceType"] for e in bundle["entry"]}
        observations += [
            e["resource"]["id"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
        ]
        assert len(observations) <= 100 * pages
        links = {link["relation"]: link["url"] for link in bundle.get("link", [])}
        url = links.get("next")
        if url is not None:
            assert url.startswith("/v1/clients/me/fhir?")  # never the request's Host
    assert pages == 3
    assert len(observations) == len(set(observations)) == 250
    assert {"Patient", "Observation", "CarePlan", "PlanDefinition"} <= kinds


def test_a_fhir_page_is_bounded_and_says_so(client):
    sam = _history(client, 10)
    assert_problem(client.get("/v1/clients/me/fhir?_count=101", headers=sam.headers), 422)
    assert_problem(client.get("/v1/clients/me/fhir?_cursor=junk", headers=sam.headers), 400)
    whole = client.get("/v1/clients/me/fhir", headers=sam.headers).json()
    assert "link" not in whole  # one page: no next
    parameters = client.get("/openapi.json").json()["paths"]["/v1/clients/{client_id}/fhir"]
    names = {p["name"]: p for p in parameters["get"]["parameters"]}
    assert names["_count"]["schema"]["maximum"] == 100


def test_an_increment_keeps_its_since_across_pages(client):
    sam = _history(client, 30)
    since = (NOW - timedelta(minutes=5)).isoformat()
    first = client.get(
        "/v1/clients/me/fhir", params={"_since": since, "_count": 10}, headers=sam.headers
    ).json()
    _valid(first)
    links = {link["relation"]: link["url"] for link in first["link"]}
    query = parse_qs(urlsplit(links["next"]).query)
    assert query["_since"] == [since.replace("+00:00", "+00:00")]
    second = client.get(links["next"], headers=sam.headers)
    assert second.status_code == 200, second.text
    _valid(second.json())
    # Pages after the first hold the Patient and Observations only.
    kinds = {e["resource"]["resourceType"] for e in second.json()["entry"]}
    assert kinds == {"Patient", "Observation"}


# --- the chart, the report, the export over a window --------------------------------------


def test_the_chart_the_report_and_the_export_refuse_a_window_too_long(client):
    sam = _history(client, 3)
    first = date(2026, 1, 1)
    too_long = {"from": first.isoformat(), "to": (first + timedelta(days=WINDOW_DAYS)).isoformat()}
    longest = {
        "from": first.isoformat(),
        "to": (first + timedelta(days=WINDOW_DAYS - 1)).isoformat(),
    }
    for path in ["/v1/clients/me/charts/pain.svg", "/v1/clients/me/report", "/v1/me/export"]:
        assert_problem(
            client.get(path, params=too_long, headers=sam.headers), 422, "window-too-long"
        )
        assert client.get(path, params=longest, headers=sam.headers).status_code == 200, path


def test_a_window_holds_at_most_its_bound_of_items(client):
    sam = signup(client)
    assert _enrol(client, sam, 13).status_code == 201
    start = (NOW - timedelta(days=12)).replace(hour=0, minute=0, second=0)
    logs = [_pain(start + timedelta(days=n // 91, minutes=1 + 15 * (n % 91))) for n in range(1001)]
    for first in range(0, len(logs), 500):
        batch = {"items": logs[first : first + 500]}
        done = client.post("/v1/clients/me/pain-logs/batch", json=batch, headers=sam.headers)
        assert done.status_code == 201, done.text
    fewer = {"from": (start + timedelta(days=1)).date().isoformat()}
    for path in ["/v1/clients/me/charts/pain.svg", "/v1/clients/me/report", "/v1/me/export"]:
        body = assert_problem(client.get(path, headers=sam.headers), 422, "window-too-full")
        assert str(WINDOW_ITEMS) in body["detail"]
        assert client.get(path, params=fewer, headers=sam.headers).status_code == 200, path


def test_the_export_holds_the_window_it_names(client):
    sam = _history(client, 3)
    whole = client.get("/v1/me/export", headers=sam.headers).json()
    assert len(whole["pain_logs"]) == 3
    assert date.fromisoformat(whole["dated_to"]) >= NOW.date()
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    later = client.get("/v1/me/export", params={"from": tomorrow}, headers=sam.headers).json()
    assert later["pain_logs"] == []
    assert later["dated_from"] == tomorrow
    assert len(later["enrollments"]) == 1  # undated: always whole


def test_the_report_says_which_dates_its_logs_cover(client):
    sam = _history(client, 3)
    page = client.get(
        "/v1/clients/me/report",
        params={"from": "2026-01-01", "to": "2026-01-31"},
        headers=sam.headers,
    ).text
    assert "2026-01-01 to 2026-01-31" in page


# --- today at the calendar's first date (finding 13) --------------------------------------


def test_today_at_the_calendars_first_date_is_a_clear_422(client):
    sam = signup(client, timezone="America/Los_Angeles")
    assert _enrol(client, sam, 3).status_code == 201
    for day in ("0001-01-01", "1999-12-31"):
        response = client.get(f"/v1/clients/me/today?date={day}", headers=sam.headers)
        body = assert_problem(response, 422)
        assert "2000" in str(body["errors"]), body
    assert (
        client.get("/v1/clients/me/today?date=2000-01-01", headers=sam.headers).status_code == 200
    )
