"""Pain logs, sessions and events as CSV with `Accept: text/csv`: the JSON list's page,
filters and visibility, one header row, ISO times with offsets."""

import csv
import io
import json
from datetime import datetime

from app.progression.schemas import Event
from app.tracking.schemas import PainLogPublic, SessionPublic
from tests.conftest import assert_problem, pain_body, signup

CSV = {"Accept": "text/csv"}


def _rows(response) -> tuple[list[str], list[dict[str, str]]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    lines = list(csv.reader(io.StringIO(response.text)))
    return lines[0], [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def _log(client, me, day, **fields) -> dict:
    response = client.post(
        "/v1/clients/me/pain-logs", json=pain_body(day, **fields), headers=me.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_pain_logs_as_csv_match_the_json_list(client, me):
    _log(client, me, 1, score=3)
    _log(client, me, 2, score=5, context="during", note='=HYPERLINK("http://x")')
    _log(client, me, 3, score=4, location="groin")
    header, rows = _rows(client.get("/v1/clients/me/pain-logs", headers={**me.headers, **CSV}))
    assert header == list(PainLogPublic.model_fields)
    listed = client.get("/v1/clients/me/pain-logs", headers=me.headers).json()["items"]
    assert [r["id"] for r in rows] == [item["id"] for item in listed]  # newest first, as JSON
    for row, item in zip(rows, listed, strict=True):
        moment = datetime.fromisoformat(row["recorded_at"])
        assert moment.utcoffset() is not None
        assert row["recorded_at"].endswith("+00:00")
        assert moment == datetime.fromisoformat(item["recorded_at"])
        assert row["score"] == str(item["score"])
    # A note a spreadsheet would run as a formula stays text.
    assert rows[1]["note"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["location"] == "groin"
    assert rows[2]["location"] == ""


def test_csv_keeps_the_filters_and_the_pages(client, me):
    for day in range(1, 6):
        _log(client, me, day, context="during" if day % 2 else "rest")
    params = {"context": "during", "limit": 2}
    first = client.get("/v1/clients/me/pain-logs", params=params, headers={**me.headers, **CSV})
    _, rows = _rows(first)
    assert len(rows) == 2
    assert {r["context"] for r in rows} == {"during"}
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    following = client.get(link[1 : link.index(">")], headers={**me.headers, **CSV})
    _, more = _rows(following)
    assert [r["context"] for r in more] == ["during"]
    assert "link" not in following.headers
    json_ids = [
        item["id"]
        for item in client.get(
            "/v1/clients/me/pain-logs", params={"context": "during"}, headers=me.headers
        ).json()["items"]
    ]
    assert [r["id"] for r in rows + more] == json_ids


def test_csv_of_an_empty_list_is_its_header(client, me):
    header, rows = _rows(client.get("/v1/clients/me/sessions", headers={**me.headers, **CSV}))
    assert header == list(SessionPublic.model_fields)
    assert rows == []


def test_csv_sees_what_json_sees(client, me):
    stranger = signup(client)
    other = client.get(f"/v1/clients/{me.client_id}/pain-logs", headers={**stranger.headers, **CSV})
    assert_problem(other, 404)
    assert_problem(client.get("/v1/clients/me/pain-logs", headers=CSV), 401)
    assert_problem(
        client.get("/v1/clients/me/pain-logs?limit=0", headers={**me.headers, **CSV}), 422
    )


def test_sessions_as_csv_keep_exercises_and_linked_logs(client, me):
    body = {
        "performed_at": pain_body(2)["recorded_at"],
        "exercises": [{"exercise": "hip-flexor-stretch", "sets": 3}],
        "pain_during": 3,
        "pain_after": 2,
    }
    created = client.post("/v1/clients/me/sessions", json=body, headers=me.headers)
    assert created.status_code == 201, created.text
    _, rows = _rows(client.get("/v1/clients/me/sessions", headers={**me.headers, **CSV}))
    (row,) = rows
    (item,) = client.get("/v1/clients/me/sessions", headers=me.headers).json()["items"]
    assert json.loads(row["exercises"]) == item["exercises"]  # the JSON list's, in one cell
    assert json.loads(row["exercises"])[0]["sets"] == 3
    assert row["pain_log_ids"].split(";") == created.json()["pain_log_ids"]


def test_events_as_csv_with_their_figures(client, me):
    _log(client, me, 2, score=7, context="during")
    header, rows = _rows(
        client.get("/v1/clients/me/events", params={"type": "flare"}, headers={**me.headers, **CSV})
    )
    assert header == list(Event.model_fields)
    (flare,) = rows
    assert flare["type"] == "flare"
    assert flare["rule"] == "flare.during"
    assert json.loads(flare["data"])["score"] == 7
    assert flare["at"].endswith("+00:00")


def test_json_stays_the_default(client, me):
    _log(client, me, 1)
    for accept in ("application/json", "*/*", "text/csv;q=0.5, application/json", ""):
        response = client.get("/v1/clients/me/pain-logs", headers={**me.headers, "Accept": accept})
        assert response.headers["content-type"] == "application/json", accept
    both = client.get(
        "/v1/clients/me/pain-logs", headers={**me.headers, "Accept": "text/csv, */*;q=0.8"}
    )
    assert both.headers["content-type"].startswith("text/csv")
