"""The clinician's report in a real browser: headless Chromium (Debian's `chromium`) lays the
page out, and a script added to a copy of it reports whether the notice, the chart and its
points are on screen. Chromium comes from `make test`'s set-up (scripts/browser.sh); without it
the test is skipped, saying why."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.test_clinical import Course, course  # noqa: F401  # the fixture, reused

_PROBE = """<script>
addEventListener('load', () => {
  const seen = (el) => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility === 'visible'
      && style.display !== 'none';
  };
  const svg = document.querySelector('#chart svg');
  const dots = svg ? [...svg.querySelectorAll('g.dots circle')] : [];
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    notice: seen(document.querySelector('#notice')),
    chart: seen(svg),
    chart_width: svg ? Math.round(svg.getBoundingClientRect().width) : 0,
    dots_seen: dots.filter(seen).length,
    decisions: document.querySelectorAll('#decisions tbody tr').length,
    injected: document.querySelectorAll('script').length,
  });
  document.body.append(out);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.skip(
            "chromium is not installed: `make test`'s set-up installs it once "
            "(`make browser`, scripts/browser.sh, as root)"
        )
    return found


def _headless(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_shows_the_notice_and_the_chart_in_chromium(client, course, tmp_path: Path):  # noqa: F811
    chromium = _chromium()
    page = client.get(f"/v1/clients/{course.client_id}/report", headers=course.coach.headers)
    assert page.status_code == 200
    assert "<script" not in page.text  # the probe below is the only script the copy runs
    probed = tmp_path / "report.html"
    probed.write_text(page.text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")

    dom = _headless(
        chromium,
        "--window-size=1200,900",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probed.as_uri(),
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["notice"] is True
    assert probe["chart"] is True
    assert probe["chart_width"] > 400
    assert probe["dots_seen"] == 19  # one per logged day, each laid out
    assert probe["decisions"] >= 3
    assert probe["injected"] == 1  # nothing in the report itself ran as a script

    # And it prints: Chromium makes a PDF of the report as served, with its print CSS.
    plain, pdf = tmp_path / "plain.html", tmp_path / "report.pdf"
    plain.write_text(page.text, encoding="utf-8")
    printed = _headless(chromium, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", plain.as_uri())
    assert pdf.exists(), printed.stderr[-2000:]
    assert pdf.read_bytes().startswith(b"%PDF")
