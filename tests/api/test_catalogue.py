"""The catalogue through HTTP: exercises, protocols, filters, pages and conditional GETs."""

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from app.models import ProtocolRow
from tests.conftest import assert_problem
from tests.statements import Statements

STAGES = [
    (1, "release-hip-flexors", ["hip-flexor-ball-release"]),
    (2, "stretch-hip-flexors", ["hip-flexor-stretch"]),
    (
        3,
        "ankle-and-foot",
        ["foot-sole-ball-massage", "toe-and-foot-stretches", "midfoot-weight-shift"],
    ),
    (
        4,
        "hamstrings-last-resort",
        ["hamstring-ball-massage", "hamstring-stretch", "underbutt-stretch"],
    ),
]
ALL_SLUGS = [slug for _, _, slugs in STAGES for slug in slugs] + ["squat-knee-tracking-test"]
RED_FLAGS = [
    "night_pain",
    "fever_or_unwell",
    "trauma_or_fall",
    "cannot_bear_weight",
    "numbness_or_tingling",
    "bladder_or_bowel_change",
    "sudden_severe_pain",
]


def test_protocol_has_four_ordered_stages_with_their_exercises(client):
    response = client.get("/v1/protocols/hip-impingement")
    assert response.status_code == 200
    protocol = response.json()
    assert (protocol["slug"], protocol["version"]) == ("hip-impingement", 1)
    assert [
        (s["order"], s["slug"], [e["slug"] for e in s["exercises"]]) for s in protocol["stages"]
    ] == STAGES
    assert [s["unlock"]["by"] for s in protocol["stages"]] == [
        "enrollment",
        "enrollment",
        "engine",
        "engine",
    ]
    assert [s["unlock"].get("rule") for s in protocol["stages"][2:]] == [
        "gate.ankle-and-foot",
        "gate.hamstrings-last-resort",
    ]
    assert [a["slug"] for a in protocol["assessments"]] == ["squat-knee-tracking-test"]
    assert [f["code"] for f in protocol["red_flags"]] == RED_FLAGS
    assert all(f["description"] for f in protocol["red_flags"])
    for field in ("title", "summary", "rationale", "disclaimer"):
        assert protocol[field].strip()
    assert "not medical advice" in protocol["disclaimer"].lower()


def test_protocol_carries_the_engine_defaults(client):
    params = client.get("/v1/protocols/hip-impingement").json()["params"]
    assert params == {
        "resolved_max": 1,
        "gate_min_days": 14,
        "gate_min_sessions": 6,
        "plateau_delta": 1.0,
        "min_logged_days": 2,
        "knees_inward_min_days": 7,
        "knees_inward_min_sessions": 3,
        "flare_during_max": 5,
        "flare_rise": 2,
        "hold_days": 2,
        "severe_pain": 8,
        "no_progress_weeks": 12,
        "meaningful_drop": 2,
    }


def test_protocol_version_query(client):
    assert client.get("/v1/protocols/hip-impingement?version=1").json()["version"] == 1
    assert_problem(client.get("/v1/protocols/hip-impingement?version=2"), 404, "not-found")
    body = assert_problem(client.get("/v1/protocols/hip-impingement?version=zero"), 422)
    assert body["errors"] == [
        {
            "loc": ["query", "version"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]
    for bad, kind in [
        ("0", "greater_than_equal"),
        ("10001", "less_than_equal"),
        ("", "int_parsing"),
    ]:
        body = assert_problem(client.get(f"/v1/protocols/hip-impingement?version={bad}"), 422)
        assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["query", "version"], kind)]
    # Other parameters are refused, naming them, as on every route; the last of repeated
    # ones counts.
    body = assert_problem(client.get("/v1/protocols/hip-impingement?lang=fr"), 422)
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["query", "lang"], "extra_forbidden")
    ]
    repeated = client.get("/v1/protocols/hip-impingement?version=zero&version=1")
    assert repeated.json()["version"] == 1


def test_unknown_protocol_is_a_404_problem(client):
    body = assert_problem(client.get("/v1/protocols/knee-pain"), 404, "not-found")
    assert "knee-pain" in body["detail"]


def test_protocol_list(client):
    response = client.get("/v1/protocols")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "slug": "hip-impingement",
                "version": 1,
                "versions": [1],
                "title": response.json()["items"][0]["title"],
                "summary": response.json()["items"][0]["summary"],
            }
        ],
        "next_cursor": None,
    }


def test_exercises_in_catalogue_order_with_everything_an_app_shows(client):
    response = client.get("/v1/exercises")
    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    assert [e["slug"] for e in page["items"]] == ALL_SLUGS
    for exercise in page["items"]:
        for field in ("title", "summary"):
            assert exercise[field].strip(), (exercise["slug"], field)
        for field in ("instructions", "cues", "mistakes", "cautions"):
            assert exercise[field], (exercise["slug"], field)
            assert all(s.strip() for s in exercise[field]), (exercise["slug"], field)
        assert isinstance(exercise["equipment"], list)
        assert exercise["dose"]["sessions_per_week"] >= 1
        assert isinstance(exercise["dose"]["per_side"], bool)


def test_exercise_stage_matches_the_protocol(client):
    stage_of = {slug: stage for _, stage, slugs in STAGES for slug in slugs}
    for exercise in client.get("/v1/exercises").json()["items"]:
        assert exercise["stage"] == stage_of.get(exercise["slug"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("stage=ankle-and-foot", STAGES[2][2]),
        ("stage=release-hip-flexors", STAGES[0][2]),
        ("stage=no-such-stage", []),
        ("kind=assessment", ["squat-knee-tracking-test"]),
        (
            "kind=massage",
            ["hip-flexor-ball-release", "foot-sole-ball-massage", "hamstring-ball-massage"],
        ),
        ("region=foot", STAGES[2][2]),
        ("kind=stretch&region=thigh", ["hamstring-stretch"]),
        ("stage=hamstrings-last-resort&kind=mobility", []),
    ],
)
def test_exercise_filters(client, query, expected):
    response = client.get(f"/v1/exercises?{query}")
    assert response.status_code == 200
    assert [e["slug"] for e in response.json()["items"]] == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=yoga", "kind"),
        ("region=knee", "region"),
        ("stage=Not%20A%20Slug", "stage"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_bad_exercise_queries_are_422_problems_naming_the_field(client, query, field):
    body = assert_problem(client.get(f"/v1/exercises?{query}"), 422, "validation-error")
    assert body["errors"][0]["loc"] == ["query", field]
    assert body["errors"][0]["msg"]


@pytest.mark.parametrize("limit", [1, 2, 4, 8, 9, 200])
def test_pages_cover_every_exercise_exactly_once(client, limit):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/exercises", params=params).json()
        assert len(page["items"]) <= limit
        seen += [e["slug"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ALL_SLUGS
    assert pages == -(-len(ALL_SLUGS) // limit)


def test_pages_respect_filters(client):
    first = client.get("/v1/exercises", params={"stage": "ankle-and-foot", "limit": 2}).json()
    second = client.get(
        "/v1/exercises",
        params={"stage": "ankle-and-foot", "limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert [e["slug"] for e in first["items"] + second["items"]] == STAGES[2][2]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "eyJwb3NpdGlvbiI6IjEifQ",  # {"position":"1"}: wrong keys and type
        "W10",  # []
        "' OR 1=1 --",
        "%00",
    ],
)
def test_forged_cursors_are_400_problems(client, cursor):
    body = assert_problem(
        client.get("/v1/exercises", params={"cursor": cursor}), 400, "invalid-cursor"
    )
    assert body["errors"][0]["loc"] == ["query", "cursor"]


def test_one_exercise(client):
    response = client.get("/v1/exercises/midfoot-weight-shift")
    assert response.status_code == 200
    exercise = response.json()
    assert (exercise["slug"], exercise["kind"], exercise["stage"]) == (
        "midfoot-weight-shift",
        "mobility",
        "ankle-and-foot",
    )
    assert client.get("/v1/exercises/squat-knee-tracking-test").json()["stage"] is None


def test_unknown_exercise_is_a_404_problem(client):
    body = assert_problem(client.get("/v1/exercises/knee-hug"), 404, "not-found")
    assert "knee-hug" in body["detail"]
    assert_problem(client.get("/v1/exercises/Knee_Hug"), 422, "validation-error")


CACHEABLE = [
    "/v1/exercises",
    "/v1/exercises?kind=stretch",
    "/v1/exercises/hip-flexor-stretch",
    "/v1/protocols",
    "/v1/protocols/hip-impingement",
    "/v1/protocols/hip-impingement?version=1",
]


@pytest.mark.parametrize("path", CACHEABLE)
def test_catalogue_reads_carry_a_strong_etag_and_answer_304(client, path):
    first = client.get(path)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/ prefix
    assert "max-age" in first.headers["cache-control"]
    assert client.get(path).headers["etag"] == etag  # stable

    cached = client.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag

    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert client.get(path, headers={"If-None-Match": header}).status_code == 304
    stale = client.get(path, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


def test_different_representations_have_different_etags(client):
    etags = {client.get(path).headers["etag"] for path in CACHEABLE[:4]}
    assert len(etags) == 4


def test_a_document_read_again_comes_from_memory(client, engine):
    paths = ["/v1/protocols/hip-impingement", "/v1/exercises/hip-flexor-stretch"]
    first = [client.get(path) for path in paths]
    with Statements(engine) as sent:
        again = [client.get(path) for path in [*paths, "/v1/protocols/hip-impingement?version=1"]]
    assert sent.sql == []
    assert [r.content for r in again[:2]] == [r.content for r in first]
    assert again[2].content == first[0].content
    assert [r.headers["etag"] for r in again[:2]] == [r.headers["etag"] for r in first]


def _publish_version_2(db) -> None:
    v1 = db.exec(select(ProtocolRow).where(ProtocolRow.slug == "hip-impingement")).one()
    document = {**v1.document, "version": 2, "summary": "Version two."}
    db.add(
        ProtocolRow(
            slug=v1.slug,
            version=2,
            title=v1.title,
            document=document,
            checksum="0" * 64,
            published_at=datetime.now(UTC),
        )
    )
    db.commit()


def test_a_new_version_is_served_as_the_latest_once_the_recheck_is_due(app, client, db):
    app.state.settings = app.state.settings.model_copy(update={"content_recheck_seconds": 0})
    assert client.get("/v1/protocols/hip-impingement").json()["version"] == 1
    _publish_version_2(db)
    latest = client.get("/v1/protocols/hip-impingement")
    assert latest.json()["version"] == 2
    assert latest.json()["summary"] == "Version two."
    assert client.get("/v1/protocols/hip-impingement?version=1").json()["version"] == 1


def test_until_the_recheck_the_known_latest_is_served(client, db):
    # The default recheck is 30 s: a version published meanwhile is served by number at once,
    # and as the latest once the process asks again.
    assert client.get("/v1/protocols/hip-impingement").json()["version"] == 1
    _publish_version_2(db)
    assert client.get("/v1/protocols/hip-impingement").json()["version"] == 1
    assert client.get("/v1/protocols/hip-impingement?version=2").json()["version"] == 2


def test_a_list_read_again_comes_from_memory_until_the_recheck(app, client, engine, db):
    """Lists of published content are kept rendered per query, and asked for again after
    the recheck like the latest version is."""
    first = client.get("/v1/protocols")
    assert [p["version"] for p in first.json()["items"]] == [1]
    with Statements(engine) as sent:
        assert client.get("/v1/protocols").content == first.content
        assert client.get("/v1/exercises", params={"limit": 3}).status_code == 200
        assert client.get("/v1/exercises", params={"limit": 3}).status_code == 200
    assert len([s for s in sent.sql if s.lstrip().upper().startswith("SELECT")]) == 1
    _publish_version_2(db)
    assert client.get("/v1/protocols").content == first.content  # the default: 30 s
    app.state.settings = app.state.settings.model_copy(update={"content_recheck_seconds": 0})
    assert [p["versions"] for p in client.get("/v1/protocols").json()["items"]] == [[1, 2]]
