"""Pain logs: strict input, lists, filters, pages, deletion and batches."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.core.pagination import encode_cursor
from tests.conftest import STARTED, assert_problem, pain_body

# Moments whose conversion to UTC leaves the years datetime can hold.
FAR_OUT = ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"]


def _logs(client, actor, **params) -> list[dict]:
    response = client.get("/v1/clients/me/pain-logs", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _post(client, actor, body, **headers):
    return client.post("/v1/clients/me/pain-logs", json=body, headers={**actor.headers, **headers})


def test_a_pain_log_with_every_field(client, me):
    body = pain_body(
        score=7,
        context="next_morning",
        recorded_at="2026-10-02T07:30:00+02:00",
        side="both",
        location="groin",
        flags=["night_pain"],
        note="Woke at 4am with a deep ache. ✓ café 😣",
    )
    response = _post(client, me, body)
    assert response.status_code == 201
    log = response.json()
    assert {k: log[k] for k in body} == {**body, "recorded_at": "2026-10-02T05:30:00Z"}
    assert log["client_id"] == me.client_id
    assert log["session_id"] is None
    assert _logs(client, me) == [log]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"score": 5.5}, "score"),
        ({"score": "5"}, "score"),
        ({"score": True}, "score"),
        ({"score": None}, "score"),
        ({"score": 11}, "score"),
        ({"score": -1}, "score"),
        ({"context": "Rest"}, "context"),
        ({"context": "during_exercise"}, "context"),
        ({"side": "middle"}, "side"),
        ({"location": "knee"}, "location"),
        ({"flags": ["headache"]}, "flags"),
        ({"flags": "night_pain"}, "flags"),
        ({"recorded_at": "2026-10-02T08:00:00"}, "recorded_at"),
        ({"recorded_at": "yesterday"}, "recorded_at"),
        ({"recorded_at": FAR_OUT[0]}, "recorded_at"),
        ({"recorded_at": FAR_OUT[1]}, "recorded_at"),
        ({"recorded_at": 1791000000}, "recorded_at"),
        ({"recorded_at": 1791000000.5}, "recorded_at"),
        ({"recorded_at": "1791000000"}, "recorded_at"),
        ({"recorded_at": "1791000000.5"}, "recorded_at"),
        ({"flags": ["night_pain", "night_pain"]}, "flags"),
        # An hour, not just past the 5 minutes' tolerance: this is computed when the tests are
        # collected, and a full run on both databases takes minutes to get here.
        ({"recorded_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "recorded_at"),
        ({"note": "x" * 1001}, "note"),
        ({"mood": "grumpy"}, "mood"),
        ({"id": 42}, "id"),
    ],
)
def test_refused_pain_logs_name_the_field_and_store_nothing(client, me, fields, field):
    problem = assert_problem(_post(client, me, pain_body(**fields)), 422)
    assert problem["errors"][0]["loc"][:2] == ["body", field]
    assert problem["errors"][0]["msg"]
    assert _logs(client, me) == []


def test_missing_fields_are_refused(client, me):
    problem = assert_problem(_post(client, me, {}), 422)
    assert {e["loc"][1] for e in problem["errors"]} == {"score", "context", "recorded_at", "side"}


def test_a_log_before_the_enrolment_started_is_refused(client, me):
    early = (STARTED - timedelta(minutes=1)).isoformat()
    problem = assert_problem(
        _post(client, me, pain_body(recorded_at=early)), 422, "before-enrollment"
    )
    assert problem["errors"][0]["loc"] == ["body", "recorded_at"]
    assert _logs(client, me) == []


def test_up_to_five_minutes_ahead_is_accepted_as_clock_drift(client, me):
    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    assert _post(client, me, pain_body(recorded_at=soon)).status_code == 201


def test_lists_are_newest_first_and_filter_by_time_and_context(client, me):
    for day, context in [(1, "rest"), (3, "during"), (2, "after"), (4, "rest")]:
        assert _post(client, me, pain_body(day, context=context, score=day)).status_code == 201
    assert [log["score"] for log in _logs(client, me)] == [4, 3, 2, 1]
    assert [log["score"] for log in _logs(client, me, context="rest")] == [4, 1]
    since = (STARTED + timedelta(days=2)).isoformat()
    until = (STARTED + timedelta(days=4)).isoformat()
    assert [log["score"] for log in _logs(client, me, since=since, until=until)] == [3, 2]
    assert_problem(client.get("/v1/clients/me/pain-logs?context=Rest", headers=me.headers), 422)
    assert_problem(client.get("/v1/clients/me/pain-logs?since=2026-10-01", headers=me.headers), 422)


def test_pages_cover_every_log_exactly_once(client, me):
    items = [pain_body(day % 20, score=day % 11) for day in range(45)]  # ties on recorded_at too
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert response.status_code == 201
    every = {log["id"] for log in response.json()["items"]}
    for limit in (1, 7, 45, 200):
        seen, cursor = [], None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/clients/me/pain-logs", params=params, headers=me.headers).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 45
        assert {log["id"] for log in seen} == every
        moments = [log["recorded_at"] for log in seen]
        assert moments == sorted(moments, reverse=True)


@pytest.mark.parametrize("moment", FAR_OUT)
@pytest.mark.parametrize("name", ["since", "until"])
def test_far_out_query_moments_are_422(client, me, name, moment):
    for what in ("pain-logs", "sessions", "assessments"):
        response = client.get(f"/v1/clients/me/{what}", params={name: moment}, headers=me.headers)
        problem = assert_problem(response, 422, "validation-error")
        assert problem["errors"][0]["loc"] == ["query", name]


@pytest.mark.parametrize("moment", ["1791000000", "1791000000.5"])
def test_query_moments_are_iso_8601_not_numbers(client, me, moment):
    response = client.get("/v1/clients/me/pain-logs", params={"since": moment}, headers=me.headers)
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "since"]


def test_query_moments_take_any_offset(client, me):
    assert (
        _post(client, me, pain_body(1, recorded_at="2026-10-02T10:00:00+00:00")).status_code == 201
    )
    assert len(_logs(client, me, since="2026-10-02T11:59:00+02:00")) == 1
    assert _logs(client, me, since="2026-10-02T12:01:00+02:00") == []
    assert len(_logs(client, me, until="2026-10-02T05:01:00-05:00")) == 1
    assert _logs(client, me, until="2026-10-02T10:00:00Z") == []


@pytest.mark.parametrize("moment", FAR_OUT)
def test_cursors_holding_far_out_moments_are_400(client, me, moment):
    cursor = encode_cursor({"t": moment, "id": str(uuid.uuid4())})
    for what in ("pain-logs", "sessions", "assessments", "enrollments"):
        response = client.get(
            f"/v1/clients/me/{what}", params={"cursor": cursor}, headers=me.headers
        )
        assert_problem(response, 400, "invalid-cursor")


def test_tampered_cursors_are_400(client, me):
    for cursor in ("abc", "eyJ0IjoiMjAyNiIsImlkIjoieCJ9", "eyJ0IjoxLCJpZCI6Mn0"):
        response = client.get(
            "/v1/clients/me/pain-logs", params={"cursor": cursor}, headers=me.headers
        )
        assert_problem(response, 400, "invalid-cursor")


def test_deleting_a_pain_log(client, me):
    kept = _post(client, me, pain_body(1)).json()
    gone = _post(client, me, pain_body(2)).json()
    assert (
        client.delete(f"/v1/clients/me/pain-logs/{gone['id']}", headers=me.headers).status_code
        == 204
    )
    assert _logs(client, me) == [kept]
    assert_problem(client.delete(f"/v1/clients/me/pain-logs/{gone['id']}", headers=me.headers), 404)
    # Its id stays spent: a retry of the deleted item does not bring it back.
    assert_problem(_post(client, me, {**pain_body(2), "id": gone["id"]}), 409, "id-conflict")


def test_a_batch_is_stored_in_order(client, me):
    items = [pain_body(day, score=day) for day in (1, 2, 3)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert response.status_code == 201
    result = response.json()
    assert (result["created"], result["existing"]) == (3, 0)
    assert [log["score"] for log in result["items"]] == [1, 2, 3]
    assert len(_logs(client, me)) == 3


def test_a_batch_is_all_or_nothing(client, me):
    early = (STARTED - timedelta(days=1)).isoformat()
    items = [pain_body(1), pain_body(2), pain_body(3, recorded_at=early)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    problem = assert_problem(response, 422, "before-enrollment")
    assert problem["errors"][0]["loc"] == ["body", "items", 2, "recorded_at"]
    assert _logs(client, me) == []


def test_an_invalid_batch_item_is_named(client, me):
    items = [pain_body(1), pain_body(2, score=12)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["loc"] == ["body", "items", 1, "score"]
    assert _logs(client, me) == []


@pytest.mark.parametrize("count", [0, 501])
def test_batches_hold_1_to_500_items(client, me, count):
    items = [pain_body(1 + i % 30) for i in range(count)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "items"]
    assert _logs(client, me) == []


def test_a_full_batch_of_500(client, me):
    items = [pain_body(1 + i % 30, note="n" * 500) for i in range(500)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert response.status_code == 201
    assert response.json()["created"] == 500


def test_an_oversized_body_is_413_and_stores_nothing(client, me):
    items = [pain_body(1, note="x" * 1000) for _ in range(1100)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert_problem(response, 413, "content-too-large")
    assert _logs(client, me) == []


def test_an_oversized_body_without_a_length_is_413_too(client, me):
    chunk = b'{"items": [' + b",".join([b'{"score": 1}'] * 120_000) + b"]}"

    def stream():
        yield chunk

    response = client.post(
        "/v1/clients/me/pain-logs/batch",
        content=stream(),
        headers={**me.headers, "content-type": "application/json"},
    )
    assert_problem(response, 413, "content-too-large")
    assert _logs(client, me) == []


def _count(client, actor, kind: str) -> int:
    seen, cursor = 0, None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/clients/me/{kind}", params=params, headers=actor.headers).json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_a_day_holds_at_most_100_items_at_one_moment_or_many(client, me):
    """A write that is not an append replays its day, so a day's items are bounded: the
    101st of one local date (every kind counted, all at one moment here, as a stuck clock
    sends them) is refused, stores nothing, and leaves other days open."""
    moment = pain_body(2)["recorded_at"]
    items = [pain_body(2, recorded_at=moment, score=i % 5) for i in range(99)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert response.status_code == 201, response.text
    assert _post(client, me, pain_body(2, recorded_at=moment)).status_code == 201  # the 100th

    refused = _post(client, me, pain_body(2, recorded_at=moment))
    problem = assert_problem(refused, 422, "day-full")
    assert "100" in problem["detail"]
    session = {"performed_at": moment, "exercises": [{"exercise": "hip-flexor-stretch"}]}
    assert_problem(
        client.post("/v1/clients/me/sessions", json=session, headers=me.headers), 422, "day-full"
    )
    assert _count(client, me, "pain-logs") == 100
    assert _count(client, me, "sessions") == 0
    assert _post(client, me, pain_body(3)).status_code == 201  # the next day is open


def test_a_batch_that_would_overfill_a_day_stores_nothing(client, me):
    items = [pain_body(4, score=i % 5, note=str(i)) for i in range(101)]
    response = client.post(
        "/v1/clients/me/pain-logs/batch", json={"items": items}, headers=me.headers
    )
    assert_problem(response, 422, "day-full")
    assert _count(client, me, "pain-logs") == 0
