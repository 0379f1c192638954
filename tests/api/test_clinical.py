"""FHIR, the pain chart and the clinician's report, through HTTP."""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.plandefinition import PlanDefinition

from tests.conftest import Actor, assert_problem, managed_client, signup

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
STARTED = TODAY - timedelta(days=30) + timedelta(hours=8)
SVG_NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>'


def moment(day: int, hour: int = 10) -> str:
    return (STARTED + timedelta(days=day, hours=hour - 8)).isoformat()


def pain(day: int, score: int, context: str = "rest", **fields) -> dict:
    return {
        "score": score,
        "context": context,
        "recorded_at": moment(day),
        "side": "right",
        **fields,
    }


@dataclass
class Course:
    coach: Actor
    client_id: str
    logs: int  # pain logs stored


def _post(client: TestClient, actor: Actor, path: str, body: dict) -> dict:
    response = client.post(path, json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def course(client: TestClient) -> Course:
    """A coach's client, 20 days in: pain falling from 6, a flare (hold), the coach opening
    stage 3 with a reason, then a red flag (an open referral). Notes and reasons carry markup
    that must come out escaped."""
    coach = signup(client, role="coach")
    person = managed_client(client, coach, display_name=f"Sam {HOSTILE}", timezone="Europe/Paris")
    ref = f"/v1/clients/{person['id']}"
    _post(
        client,
        coach,
        f"{ref}/enrollments",
        {"protocol": "hip-impingement", "baseline_pain": 6, "started_at": STARTED.isoformat()},
    )
    logs = [
        pain(day, 6 if day < 6 else 4, note=HOSTILE if day == 3 else None) for day in range(1, 19)
    ]
    _post(client, coach, f"{ref}/pain-logs/batch", {"items": logs})
    _post(
        client, coach, f"{ref}/pain-logs", pain(10, 7, context="during", recorded_at=moment(10, 18))
    )
    _post(
        client,
        coach,
        f"{ref}/overrides",
        {"action": "unlock_stage", "stage": "ankle-and-foot", "reason": f"Knees cave in {HOSTILE}"},
    )
    # An override happens now, so the red flag comes after it: now too.
    now = datetime.now(UTC).isoformat()
    _post(client, coach, f"{ref}/pain-logs", pain(19, 5, flags=["night_pain"], recorded_at=now))
    return Course(coach, person["id"], len(logs) + 2)


# --- FHIR ---------------------------------------------------------------------------------


def _bundle(client: TestClient, course: Course, **params: str) -> dict:
    response = client.get(
        f"/v1/clients/{course.client_id}/fhir", params=params, headers=course.coach.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    return response.json()


def _by_type(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def _valid(bundle: dict) -> None:
    """The whole bundle, then each resource by its own R4B model: the Patient, Observations
    and Bundle are written as plain JSON, so this is what proves them FHIR."""
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        model = get_fhir_model_class(entry["resource"]["resourceType"])
        model.model_validate(entry["resource"])


def test_every_resource_of_the_bundle_parses_with_the_fhir_models(client, course):
    bundle = _bundle(client, course)
    _valid(bundle)
    found = _by_type(bundle)
    assert {k: len(v) for k, v in found.items()} == {
        "Patient": 1,
        "Observation": course.logs,
        "CarePlan": 1,
        "PlanDefinition": 1,
        "Flag": 1,
    }
    assert bundle["type"] == "collection"


def test_observations_carry_the_loinc_code_score_time_side_and_context(client, course):
    observations = _by_type(_bundle(client, course))["Observation"]
    flare = next(o for o in observations if o.get("valueInteger") == 7)
    assert flare["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "72514-3",
        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    }
    assert flare["status"] == "final"
    assert datetime.fromisoformat(flare["effectiveDateTime"]) == datetime.fromisoformat(
        moment(10, 18)
    )
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in flare["extension"]}
    assert extensions["pain-context"]["valueCode"] == "during"
    assert extensions["pain-side"]["valueCodeableConcept"]["coding"][0]["code"] == "24028007"
    assert flare["bodySite"]["coding"][0]["code"] == "29836001"
    red = next(
        o
        for o in observations
        if o.get("valueInteger") == 5
        and "extension" in o
        and any(e["url"].endswith("red-flag") for e in o["extension"])
    )
    assert [e["valueCode"] for e in red["extension"] if e["url"].endswith("red-flag")] == [
        "night_pain"
    ]


def test_care_plan_has_a_state_per_stage_and_the_flag_the_open_referral(client, course):
    found = _by_type(_bundle(client, course))
    plan = found["CarePlan"][0]
    states = [a["detail"]["status"] for a in plan["activity"]]
    # Stages 1-2 open at enrolment and 3 by the coach, all on hold while referred; 4 locked.
    assert states == ["on-hold", "on-hold", "on-hold", "not-started"]
    assert plan["instantiatesCanonical"] == [
        f"{found['PlanDefinition'][0]['url']}|{found['PlanDefinition'][0]['version']}"
    ]
    flag = found["Flag"][0]
    assert flag["status"] == "active"
    assert "warning sign" in flag["code"]["text"]
    patient = found["Patient"][0]
    assert patient["id"] == course.client_id
    assert (
        flag["subject"]["reference"] == plan["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    )


def test_since_gives_an_increment_with_withdrawn_logs(client, course):
    before = _bundle(client, course)
    since = datetime.now(UTC).isoformat()
    ref = f"/v1/clients/{course.client_id}"
    later = pain(20, 3, recorded_at=moment(20, 9), location="groin", note="a note")
    new = _post(client, course.coach, f"{ref}/pain-logs", {**later, "flags": ["night_pain"]})
    gone = next(o for o in _by_type(before)["Observation"] if o.get("valueInteger") == 6)
    deleted = client.delete(f"{ref}/pain-logs/{gone['id']}", headers=course.coach.headers)
    assert deleted.status_code == 204
    increment = _bundle(client, course, _since=since)
    _valid(increment)  # a withdrawn log, and one with every optional element
    found = _by_type(increment)
    observations = {o["id"]: o["status"] for o in found["Observation"]}
    assert observations == {new["id"]: "final", gone["id"]: "entered-in-error"}
    made = next(o for o in found["Observation"] if o["id"] == new["id"])
    assert made["bodySite"]["text"] == "right hip, groin"
    assert made["note"] == [{"text": "a note"}]
    assert len(found["Patient"]) == 1


def test_fhir_is_only_for_those_who_may_see_the_client(client, course):
    stranger = signup(client, role="coach")
    path = f"/v1/clients/{course.client_id}/fhir"
    assert_problem(client.get(path, headers=stranger.headers), 404, "not-found")
    assert_problem(client.get(path), 401)
    assert_problem(
        client.get(path, params={"_since": "yesterday"}, headers=course.coach.headers), 422
    )


def test_protocol_as_plan_definition_with_etag(client):
    response = client.get("/v1/protocols/hip-impingement/fhir")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    definition = PlanDefinition.model_validate(response.json())
    assert definition.version == "1"
    assert [a.title for a in definition.action] == [
        "Release the hip flexors",
        "Stretch the hip flexors",
        "Work the feet and ankles",
        "Hamstrings and under-buttock (last resort)",
    ]
    again = client.get(
        "/v1/protocols/hip-impingement/fhir", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert_problem(client.get("/v1/protocols/no-such-protocol/fhir"), 404)
    assert_problem(client.get("/v1/protocols/hip-impingement/fhir?version=99"), 404)


# --- the chart ----------------------------------------------------------------------------


def _chart(client: TestClient, course: Course, **params: str):
    return client.get(
        f"/v1/clients/{course.client_id}/charts/pain.svg",
        params=params,
        headers=course.coach.headers,
    )


def _texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG_NS}text")]


def test_chart_shows_days_mean_unlocks_holds_and_referral_in_words_and_shapes(client, course):
    response = _chart(client, course)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(response.text)
    title, desc = svg.find(f"{SVG_NS}title"), svg.find(f"{SVG_NS}desc")
    assert title is not None
    assert "Pain chart for Sam" in title.text
    assert desc is not None
    assert "19 days logged" in desc.text
    assert "Stage 3 (Work the feet and ankles) opened" in desc.text
    assert "Referred to a clinician" in desc.text
    assert "still open" in desc.text
    groups = {g.get("class"): g for g in svg.iter(f"{SVG_NS}g") if g.get("class")}
    assert len(list(groups["series dots"].iter(f"{SVG_NS}circle"))) == 19  # one per logged day
    assert len(list(groups["series lines"].iter(f"{SVG_NS}path"))) == 1
    texts = _texts(svg)
    assert {"Stage 1", "Stage 2", "Stage 3", "referral open: red flag", "hold"} <= set(texts)
    # The legend names every series, each with its own glyph (no colour needed).
    legend = {"Day's highest pain", "7-day mean", "Flare hold", "Referral open", "Stage opened"}
    assert legend <= set(texts)


def test_chart_from_to_limits_the_days(client, course):
    first = (STARTED + timedelta(days=1)).date()
    svg = ET.fromstring(
        _chart(
            client,
            course,
            **{"from": first.isoformat(), "to": (first + timedelta(days=4)).isoformat()},
        ).text
    )
    dots = next(g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "series dots")
    assert len(list(dots.iter(f"{SVG_NS}circle"))) == 5
    assert "Referral" not in _texts(svg)
    bad = _chart(client, course, **{"from": "2026-02-02", "to": "2026-02-01"})
    assert_problem(bad, 422, "invalid-range")
    assert_problem(_chart(client, course, **{"from": "02/01/2026"}), 422)


def test_chart_draws_a_single_day_a_few_days_and_the_calendars_ends(client, course):
    # Ranges under four days once made leather's date ticker fail (a 500), and so did dates
    # next to year 1 or 9999, which YYYY-MM-DD allows.
    day = (STARTED + timedelta(days=2)).date()
    ranges = [
        (day, day, 1),
        (day, day + timedelta(days=2), 3),
        ("0001-01-01", "0001-01-01", 0),
        ("9999-12-31", "9999-12-31", 0),
        ("0001-01-01", "0001-04-30", 0),  # the longest window (120 dates) at each end
        ("9999-09-03", "9999-12-31", 0),
        (STARTED.date() - timedelta(days=30), STARTED.date() + timedelta(days=89), 19),
    ]
    for first, last, logged in ranges:
        response = _chart(client, course, **{"from": str(first), "to": str(last)})
        assert response.status_code == 200, (first, last, response.text)
        svg = ET.fromstring(response.text)
        desc = svg.find(f"{SVG_NS}desc")
        assert desc is not None
        assert f"from {first} to {last}" in desc.text
        assert (f"{logged} days logged" if logged else "No pain logged") in desc.text
    for params in ({"to": "0001-01-01"}, {"from": "9999-12-31"}):
        assert _chart(client, course, **params).status_code == 200, params
    # The whole calendar is no longer one answer (issue 25): windows of at most 120 dates.
    whole = _chart(client, course, **{"from": "0001-01-01", "to": "9999-12-31"})
    assert_problem(whole, 422, "window-too-long")


def test_chart_etag_answers_304_until_the_record_changes(client, course):
    first = _chart(client, course)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    same = _chart(client, course)
    assert same.headers["etag"] == etag
    not_modified = client.get(
        f"/v1/clients/{course.client_id}/charts/pain.svg",
        headers={**course.coach.headers, "If-None-Match": etag},
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    _post(client, course.coach, f"/v1/clients/{course.client_id}/pain-logs", pain(20, 3))
    changed = client.get(
        f"/v1/clients/{course.client_id}/charts/pain.svg",
        headers={**course.coach.headers, "If-None-Match": etag},
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_chart_of_a_client_with_no_logs_still_draws(client):
    me = signup(client)
    response = client.get("/v1/clients/me/charts/pain.svg", headers=me.headers)
    assert response.status_code == 200
    desc = ET.fromstring(response.text).find(f"{SVG_NS}desc")
    assert "No pain logged" in desc.text
    stranger = signup(client)
    other = client.get(f"/v1/clients/{me.client_id}/charts/pain.svg", headers=stranger.headers)
    assert_problem(other, 404)


# --- the report ---------------------------------------------------------------------------


def test_report_is_one_page_with_everything_escaped(client, course):
    response = client.get(f"/v1/clients/{course.client_id}/report", headers=course.coach.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert HOSTILE not in page  # the name, a note and a reason carried it
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 3
    assert "<script" not in page
    assert "Not medical advice." in page
    assert "<svg" in page
    assert 'id="pain-chart-desc"' in page
    assert "@media print" in page
    # Nothing fetched from elsewhere: no scripts, links, images or remote URLs.
    for marker in ("src=", "<link", "@import", "url(http"):
        assert marker not in page
    # The coach's override with who made it, and every decision with its rule.
    assert "Knees cave in" in page
    assert "(coach)" in page
    assert "flare.during" in page
    assert "refer.red-flag" in page
    assert "night pain" in page


def test_report_needs_a_visible_client(client, course):
    stranger = signup(client, role="coach")
    path = f"/v1/clients/{course.client_id}/report"
    assert_problem(client.get(path, headers=stranger.headers), 404)
    assert_problem(client.get(path), 401)


def test_a_move_to_another_zone_re_dates_nothing_in_the_chart(client):
    """Days already lived keep their dates after the client changes timezone, as in the
    engine: a log at 23:30 in London stays on that London date once the client lives in
    Sydney, where that moment was already the next morning (the day of the next log)."""
    person = signup(client, timezone="Europe/London")
    _post(
        client,
        person,
        "/v1/clients/me/enrollments",
        {"protocol": "hip-impingement", "baseline_pain": 6, "started_at": STARTED.isoformat()},
    )
    day = (STARTED + timedelta(days=5)).date()
    london = ZoneInfo("Europe/London")
    for moment in (
        datetime(day.year, day.month, day.day, 23, 30, tzinfo=london),
        datetime(day.year, day.month, day.day, 10, 0, tzinfo=london) + timedelta(days=1),
    ):
        log = {**pain(0, 4), "recorded_at": moment.isoformat()}
        _post(client, person, "/v1/clients/me/pain-logs", log)
    moved = client.patch("/v1/me", json={"timezone": "Australia/Sydney"}, headers=person.headers)
    assert moved.status_code == 200, moved.text

    response = client.get("/v1/clients/me/charts/pain.svg", headers=person.headers)
    assert response.status_code == 200, response.text
    svg = ET.fromstring(response.text)
    dots = [g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == "series dots"]
    assert [len(list(g.iter(f"{SVG_NS}circle"))) for g in dots] == [2]  # two days, not one
