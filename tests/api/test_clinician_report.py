"""The clinician's report and chart for a client 60 days in (tests/api/sixty_days.py), through
HTTP: what the summary says, every stage, the squat test, sessions per week, the decisions in
clinical words, the notice once at the end; the chart's SVG with its title, description and
every marker. Screenshots from headless Chromium go to build/screenshots/ (or
$HIPFIX_SCREENSHOTS) for a person to look at."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.sixty_days import (
    FLARE_DAYS,
    MORNING_FLARE_DAY,
    NIGHT_PAIN_DAY,
    SESSION_DAYS,
    Seeded,
    seed,
)
from tests.conftest import signup

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def seeded(client: TestClient) -> Seeded:
    return seed(client)


def _report(client: TestClient, seeded: Seeded) -> str:
    response = client.get(f"/v1/clients/{seeded.client_id}/report", headers=seeded.coach.headers)
    assert response.status_code == 200, response.text
    return response.text


def _chart(client: TestClient, seeded: Seeded) -> str:
    path = f"/v1/clients/{seeded.client_id}/charts/pain.svg"
    response = client.get(path, headers=seeded.coach.headers)
    assert response.status_code == 200, response.text
    return response.text


def _text(html: str) -> str:
    """The page's words, tags dropped and whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _section(html: str, ident: str) -> str:
    found = re.search(rf'<(section|footer)[^>]* id="{ident}".*?</\1>', html, re.S)
    assert found, ident
    return _text(found.group(0))


def _day(seeded: Seeded, day: int) -> str:
    return (seeded.started + timedelta(days=day)).date().isoformat()


def test_the_report_opens_with_a_summary(client, seeded):
    page = _report(client, seeded)
    assert page.index('id="summary"') < page.index('id="chart"') < page.index('id="stages"')
    summary = _section(page, "summary")
    assert "Alex Morgan" in summary
    assert f"started {seeded.started.date().isoformat()}" in summary
    assert f"Referred to a clinician since {_day(seeded, NIGHT_PAIN_DAY)}" in summary
    assert "night pain" in summary
    assert "Stage 3 of 4: Work the feet and ankles" in summary
    # NPRS now (the last 7 days all 4) against 6 at baseline: -2 points reaches the MIC.
    assert "7-day mean 4/10 against 6/10 at baseline: -2 points, -33 %" in summary
    assert "an improvement that reaches the minimal important change" in summary
    assert "Salaffi et al., Eur J Pain 2004" in summary
    # The referral is open: every week since it began is left out of adherence.
    assert "Last 2 complete weeks no complete week counted; whole enrolment 95 %" in summary


def test_every_stage_with_its_state_and_the_missing_gate_criteria(client, seeded):
    stages = _section(_report(client, seeded), "stages")
    for order in (1, 2, 3):
        assert f"Stage {order}:" in stages
    assert f"Open since {seeded.started.date().isoformat()}" in stages
    assert "Stage 4: Hamstrings and under-buttock (last resort) Locked" in stages
    # Stage 4 is locked: the referral, and no stage-3 work logged.
    assert "Gate criteria not met" in stages
    assert "neither referred nor on a flare hold: now referred to a clinician" in stages
    assert "sessions including stage 3 work: 0 (needs 6)" in stages


def test_the_squat_test_sessions_decisions_and_the_notice_at_the_end(client, seeded):
    page = _report(client, seeded)
    squat = _section(page, "squat-tests")
    assert "knee over the foot" in squat
    assert "knee medial to the foot" in squat
    assert "Dynamic knee valgus" in squat
    weeks = _section(page, "sessions")
    assert "left out (referral)" in weeks
    assert f"{seeded.started.date().isoformat()} 5 4 80 %" in weeks  # days 1-6, 4 sessions
    assert f"{_day(seeded, 7)} 5 5 100 %" in weeks
    decisions = _section(page, "decisions")
    assert "NPRS 7/10 during exercise above the 5/10 limit" in decisions
    assert "Silbernagel 2007" in decisions
    assert "Red flag reported (night pain; NHS musculoskeletal triage guidance)" in decisions
    assert "the shorter criteria applied because the latest squat test showed" in decisions
    assert "while the referral was open; the referral takes precedence" in decisions
    assert "relapse, protocol resumed" in decisions
    # No words addressed to the client, no engine words.
    assert not re.search(r"\byour?\b", decisions, re.IGNORECASE)
    assert "clock pain" not in page
    # The notice, once, after everything else.
    assert page.count("Not medical advice.") == 1
    assert page.index('id="notice"') > page.index('id="overrides"')


def test_the_chart_carries_its_title_description_and_every_marker(client, seeded):
    svg = ET.fromstring(_chart(client, seeded))  # well-formed, or this raises
    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert "Alex Morgan" in (title.text or "")
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    # The title is drawn too, with who and which dates.
    heading = next(t for t in texts if t.startswith("Pain (NPRS 0-10): Alex Morgan"))
    assert f"{_day(seeded, 0)} to {_day(seeded, 59)}" in heading
    groups = {}
    for group in svg.iter(f"{SVG}g"):
        groups.setdefault(group.get("class"), []).append(group)
    # Every hold drawn, after (so over) the referral's hatching.
    holds = groups["bands hold"][0]
    assert len(list(holds.iter(f"{SVG}rect"))) == len(FLARE_DAYS) + 1  # + the morning flare
    order = [g.get("class") for g in svg.iter(f"{SVG}g")]
    assert order.index("bands referral") < order.index("bands hold")
    hatch = svg.find(f".//{SVG}pattern[@id='hatch']")
    assert hatch is not None
    assert hatch.find(f"{SVG}rect") is None  # no ground of its own: what is under shows
    assert "referral open: red flag" in texts
    for word in ("Stage 1", "Stage 2", "Stage 3", "Resolved", "Relapse", "starting pain 6/10"):
        assert word in texts, word
    ticks = list(groups["ticks sessions"][0].iter(f"{SVG}line"))
    assert len(ticks) == len(SESSION_DAYS)
    # The legend names each series once, in one word family for the referral.
    for name in (
        "Referral open",
        "Flare hold",
        "Starting pain",
        "Day's highest pain",
        "7-day mean",
        "Stage opened",
        "Resolved",
        "Relapse",
        "Session logged",
    ):
        assert name in texts, name
    assert "Referred" not in texts
    assert "Referral" not in texts
    described = desc.text or ""
    assert f"Referred to a clinician on {_day(seeded, NIGHT_PAIN_DAY)}, still open" in described
    assert "3 flare hold(s)" in described
    assert f"Resolved on {_day(seeded, 46)}" in described
    assert f"Relapse on {_day(seeded, 50)}" in described
    assert "Relapse on" in described
    assert f"{len(SESSION_DAYS)} sessions" in described
    assert MORNING_FLARE_DAY  # the morning flare is the third hold


def test_a_chart_with_no_logs_says_so_in_sight(client):
    me = signup(client)
    response = client.get("/v1/clients/me/charts/pain.svg", headers=me.headers)
    svg = ET.fromstring(response.text)
    assert "No pain logged in these dates" in [t.text for t in svg.iter(f"{SVG}text")]


def _chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium is not installed: `make browser` installs it (scripts/browser.sh)")
    return found


def _shoot(chromium: str, page: Path, png: Path, size: str) -> None:
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--window-size={size}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert png.exists(), done.stderr[-2000:]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_screenshots_of_the_report_and_the_chart(client, seeded, request):
    chromium = _chromium()
    folder = Path(os.environ.get("HIPFIX_SCREENSHOTS", "build/screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    kind = request.node.callspec.id if hasattr(request.node, "callspec") else "db"
    report, chart = folder / f"report-{kind}.html", folder / f"chart-{kind}.svg"
    report.write_text(_report(client, seeded), encoding="utf-8")
    chart.write_text(_chart(client, seeded), encoding="utf-8")
    _shoot(chromium, report.resolve(), folder / f"report-{kind}.png", "1100,5200")
    _shoot(chromium, chart.resolve(), folder / f"chart-{kind}.png", "900,460")
    empty = signup(client)
    blank = folder / f"chart-no-logs-{kind}.svg"
    blank.write_text(
        client.get("/v1/clients/me/charts/pain.svg", headers=empty.headers).text, encoding="utf-8"
    )
    _shoot(chromium, blank.resolve(), folder / f"chart-no-logs-{kind}.png", "900,460")


def test_the_seeded_course_is_the_one_described(client, seeded):
    """The fixture's story holds (a guard on what the tests above read)."""
    events = client.get(
        f"/v1/clients/{seeded.client_id}/events",
        params={"limit": 100},
        headers=seeded.coach.headers,
    ).json()["items"]
    kinds = Counter(e["rule"] for e in events)
    assert kinds["flare.during"] == 2
    assert kinds["flare.next-morning"] == 1
    assert kinds["refer.red-flag"] == 1
    assert kinds["resolved"] == 1
    assert kinds["relapse"] == 1
    opened = next(e for e in events if e["rule"] == "gate.ankle-and-foot")
    assert opened["data"]["knees_inward_shortcut"] is True
    assert date.fromisoformat(opened["local_date"]) < date.fromisoformat(_day(seeded, 17))
