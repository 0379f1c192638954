"""A coach's client 60 days in, seeded in the order a person would log it: two flares, a squat
test with a knee drifting inward (stage 3 sooner), a night-pain referral that stays open, a
flare hold inside it, pain settling to resolved while referred, and a relapse. Shared by the
report's and the chart's tests and their screenshots."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Actor, managed_client, signup

DAYS = 60
EARLY = ["hip-flexor-ball-release", "hip-flexor-stretch"]
NIGHT_PAIN_DAY = 30
FLARE_DAYS = (5, 38)  # during exercise: 7/10
MORNING_FLARE_DAY = 17
SQUAT_DAY = 3
# Daily highest pain: 6 falling to a 4-5 plateau, settling to 1 while referred (resolved on
# the seventh such day, the week before all logged at 1), and back up (a relapse).
PAIN = {day: 6 if day < 8 else 5 if day < 16 else 4 for day in range(1, DAYS)}
PAIN |= dict.fromkeys(range(40, 50), 1)
PAIN |= dict.fromkeys(range(50, DAYS), 4)
SESSION_DAYS = [day for day in range(1, DAYS) if day % 7 not in (3, 6)]  # 5 a week


@dataclass
class Seeded:
    coach: Actor
    client_id: str
    started: datetime


def _post(client: TestClient, actor: Actor, path: str, body: dict) -> None:
    response = client.post(path, json=body, headers=actor.headers)
    assert response.status_code == 201, (path, body, response.text)


def seed(client: TestClient) -> Seeded:
    coach = signup(client, role="coach")
    person = managed_client(client, coach, display_name="Alex Morgan", timezone="Europe/London")
    ref = f"/v1/clients/{person['id']}"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started = today - timedelta(days=DAYS) + timedelta(hours=8)
    _post(
        client,
        coach,
        f"{ref}/enrollments",
        {"protocol": "hip-impingement", "baseline_pain": 6, "started_at": started.isoformat()},
    )

    def at(day: int, hour: int) -> str:
        return (started + timedelta(days=day, hours=hour - 8)).isoformat()

    for day in range(1, DAYS):
        if day == SQUAT_DAY:
            body = {
                "kind": "squat-knee-tracking",
                "left": "knee_over_foot",
                "right": "knee_medial_to_foot",
                "performed_at": at(day, 8),
            }
            _post(client, coach, f"{ref}/assessments", body)
        if day == MORNING_FLARE_DAY:
            morning = {"score": 7, "context": "next_morning", "recorded_at": at(day, 7)}
            _post(client, coach, f"{ref}/pain-logs", {**morning, "side": "right"})
        if day in SESSION_DAYS:
            session = {"performed_at": at(day, 9), "exercises": [{"exercise": e} for e in EARLY]}
            _post(client, coach, f"{ref}/sessions", session)
        if day in FLARE_DAYS:
            during = {"score": 7, "context": "during", "recorded_at": at(day, 9)}
            _post(client, coach, f"{ref}/pain-logs", {**during, "side": "right"})
        log = {"score": PAIN[day], "context": "rest", "recorded_at": at(day, 20), "side": "right"}
        if day == NIGHT_PAIN_DAY:
            log |= {"flags": ["night_pain"], "note": "Woken twice by a deep ache."}
        _post(client, coach, f"{ref}/pain-logs", log)
    return Seeded(coach, person["id"], started)
