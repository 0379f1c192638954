"""Clinical notes through HTTP: every list of decisions carries them."""

from datetime import timedelta

from tests.api.test_adherence import _enrol
from tests.conftest import signup


def test_decisions_carry_their_clinical_note_in_every_list(client):
    coach = signup(client, "coach")
    ref, started = _enrol(client, coach, 8, "Noted")
    body = {
        "score": 7,
        "context": "during",
        "recorded_at": (started + timedelta(days=2)).isoformat(),
        "side": "right",
    }
    response = client.post(f"/v1/clients/{ref}/pain-logs", json=body, headers=coach.headers)
    assert response.status_code == 201, response.text
    path = f"/v1/clients/{ref}/events"
    lean = client.get(path, headers=coach.headers).json()["items"]
    full = client.get(path, params={"type": "flare"}, headers=coach.headers).json()["items"]
    feed = client.get("/v1/events", params={"client_id": ref}, headers=coach.headers)
    flare_note = next(e for e in lean if e["type"] == "flare")["clinical_note"]
    assert "NPRS 7/10 during exercise above the 5/10 limit" in flare_note
    assert "Silbernagel 2007" in flare_note
    assert full[0]["clinical_note"] == flare_note
    assert flare_note in [e["clinical_note"] for e in feed.json()["items"]]
    assert all(e["clinical_note"] for e in lean)
