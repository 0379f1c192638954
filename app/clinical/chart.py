"""The pain chart as SVG, drawn with leather (pure Python, no dependencies: two years of
daily logs render in about 20 ms; bench/RESULTS.md). Leather draws the axes, the points and
the mean line on a date scale of our own (`_Days`); the holds, referrals, the starting pain,
stage openings, resolved and relapse, and the sessions are leather shapes of our own, so they
are laid out on the same scales. Readable without colour: each series has its own shape
(dots, a line, a dashed level, bands with a word, glyphs with labels, ticks on the time
axis). A referral is hatched lines over a clear ground, drawn under the holds, so a hold
inside a referral stays visible. The title is drawn as well as carried in <title>, and
<desc> says in words what the chart shows."""

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import leather

from app.clinical import course
from app.clinical.record import ClinicalRecord

WIDTH, HEIGHT = 900, 460
INK, MUTED = "#1a1a1a", "#555555"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

# Leather keeps its style in module variables: set once, the same for every chart drawn.
for _name in ("title", "legend", "axis_title", "tick"):
    setattr(leather.theme, f"{_name}_font_family", FONT)
leather.theme.background_color = "#ffffff"
leather.theme.legend_color = INK
leather.theme.label_color = MUTED
leather.theme.tick_color = "#e4e4e4"
leather.theme.legend_font_size = 13
leather.theme.tick_font_size = 12
leather.theme.title_font_size = 16
leather.theme.title_color = INK


# Tick spacings in days, the first that gives at most MAX_TICKS ticks wins.
TICK_STEPS = (1, 2, 7, 14, 28, 91, 182, 365, 730, 1826, 3652, 36524, 365242)
MAX_TICKS = 8


class _Days(leather.Scale):  # type: ignore[misc]  # leather ships no type information
    """Local dates `low`..`high`, each a column of equal width; a date projects to the middle
    of its column. Not leather's Temporal scale: its ticker steps in hours below four days
    (and cannot subtract a datetime from a date) and past the calendar's ends for ranges
    near year 1 or 9999, both of which `from`/`to` may ask for."""

    def __init__(self, low: date, high: date) -> None:
        self._first = low.toordinal()
        self._count = high.toordinal() - self._first + 1

    def contains(self, value: date) -> bool:
        return 0 <= value.toordinal() - self._first < self._count

    def project_interval(
        self, value: date, range_min: float, range_max: float
    ) -> tuple[float, float]:
        """The column of `value`: where its day starts and ends."""
        width = (range_max - range_min) / self._count
        left = range_min + width * (value.toordinal() - self._first)
        return left, left + width

    def project(self, value: date, range_min: float, range_max: float) -> float:
        left, right = self.project_interval(value, range_min, range_max)
        return (left + right) / 2

    def ticks(self) -> list[date]:
        fits = (s for s in TICK_STEPS if self._count <= s * MAX_TICKS)
        step = next(fits, -(-self._count // MAX_TICKS))
        return [date.fromordinal(self._first + n) for n in range(0, self._count, step)]

    def format_tick(self, value: date, index: int, count: int) -> str:
        return f"{value.day} {value:%b %Y}"


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment worth a label: a stage opening or a referral."""

    day: date
    label: str


def _legend_item(glyph: ET.Element, text: str) -> list[tuple[ET.Element, int]]:
    group = ET.Element("g")
    group.append(glyph)
    label = ET.SubElement(group, "text", x="16", y="0", fill=INK)
    label.set("font-family", FONT)
    label.set("font-size", str(leather.theme.legend_font_size))
    label.text = text
    # Leather wraps the legend at the chart's full width, not the plot's: a wider estimate
    # keeps the last item of a row inside the picture.
    return [(group, 16 + (len(text) + 6) * leather.theme.legend_font_char_width)]


class _Dots(leather.Dots):  # type: ignore[misc]  # leather ships no type information
    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        return _legend_item(ET.Element("circle", cx="5", cy="-4", r="4", fill=INK), series.name)


class _Line(leather.Line):  # type: ignore[misc]  # leather ships no type information
    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        line = ET.Element("line", x1="0", y1="-4", x2="12", y2="-4", stroke=INK)
        line.set("stroke-width", "3")
        return _legend_item(line, series.name)


class _Bands(leather.Shape):  # type: ignore[misc]  # leather ships no type information
    """Spans of local dates, shaded over the whole height with a word at the top. Rows:
    (first date, top of the scale, last date)."""

    def __init__(self, fill: str, word: str, hatch: bool) -> None:
        self._fill, self._word, self._hatch = fill, word, hatch

    def validate_series(self, series: Any) -> bool:
        return True

    def _rect(self, x: float, width: float, height: float) -> ET.Element:
        rect = ET.Element(
            "rect", x=f"{x:.1f}", y="0", width=f"{max(width, 1.5):.1f}", height=f"{height:.1f}"
        )
        rect.set("fill", "url(#hatch)" if self._hatch else self._fill)
        rect.set("stroke", MUTED)
        if self._hatch:
            rect.set("stroke-dasharray", "3 3")
        else:  # a hold over a referral's hatching still shows the hatching through it
            rect.set("fill-opacity", "0.75")
        return rect

    def to_svg(
        self, width: float, height: float, x_scale: Any, y_scale: Any, series: Any, palette: Any
    ) -> ET.Element:
        group = ET.Element("g")
        group.set("class", f"bands {self._word}")
        for datum in series.data():
            left = x_scale.project_interval(datum.x, 0, width)[0]
            right = x_scale.project_interval(datum.row[2], 0, width)[1]
            group.append(self._rect(left, right - left, height))
        return group

    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        glyph = self._rect(0, 12, 12)
        glyph.set("y", "-11")
        return _legend_item(glyph, series.name)


def _glyph(kind: str, x: float, y: float) -> ET.Element:
    if kind == "triangle":
        points = f"{x:.1f},{y - 7:.1f} {x + 6:.1f},{y + 4:.1f} {x - 6:.1f},{y + 4:.1f}"
    elif kind == "square":
        corners = ((-5, -5), (5, -5), (5, 5), (-5, 5))
        points = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in corners)
    elif kind == "down":  # a triangle pointing down, hollow
        points = f"{x:.1f},{y + 7:.1f} {x + 6:.1f},{y - 4:.1f} {x - 6:.1f},{y - 4:.1f}"
    else:  # diamond
        points = f"{x:.1f},{y - 7:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 7:.1f} {x - 6:.1f},{y:.1f}"
    solid = kind in ("triangle", "square")
    glyph = ET.Element("polygon", points=points, fill=INK if solid else "#ffffff")
    glyph.set("stroke", INK)
    glyph.set("stroke-width", "1.5")
    return glyph


class _Markers(leather.Shape):  # type: ignore[misc]  # leather ships no type information
    """Labelled moments: a vertical rule, a glyph at the top and the label beside it. Rows:
    (date, top of the scale, label). Labels on one date are stacked, not overprinted."""

    def __init__(self, kind: str, dashed: bool, top: int = 28) -> None:
        self._kind, self._dashed, self._top = kind, dashed, top

    def validate_series(self, series: Any) -> bool:
        return True

    def to_svg(
        self, width: float, height: float, x_scale: Any, y_scale: Any, series: Any, palette: Any
    ) -> ET.Element:
        group = ET.Element("g")
        group.set("class", f"markers {self._kind}")
        seen: dict[date, int] = {}
        for datum in series.data():
            x = x_scale.project(datum.x, 0, width)
            stack = seen.get(datum.x, 0)
            seen[datum.x] = stack + 1
            rule = ET.SubElement(
                group, "line", x1=f"{x:.1f}", y1="0", x2=f"{x:.1f}", y2=f"{height:.1f}"
            )
            rule.set("stroke", INK)
            if self._dashed:
                rule.set("stroke-dasharray", "6 4")
            y = self._top + 16 * stack
            group.append(_glyph(self._kind, x, y))
            text = ET.SubElement(group, "text", x=f"{x + 9:.1f}", y=f"{y + 4:.1f}", fill=INK)
            text.set("font-family", FONT)
            text.set("font-size", "11")
            text.text = datum.row[2]
        return group

    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        return _legend_item(_glyph(self._kind, 6, -4), series.name)


class _Level(leather.Shape):  # type: ignore[misc]  # leather ships no type information
    """A dashed level across a span of dates: the starting pain of each enrolment. Rows:
    (first date, level, last date, label)."""

    def validate_series(self, series: Any) -> bool:
        return True

    def to_svg(
        self, width: float, height: float, x_scale: Any, y_scale: Any, series: Any, palette: Any
    ) -> ET.Element:
        group = ET.Element("g")
        group.set("class", "level baseline")
        for datum in series.data():
            left = x_scale.project_interval(datum.x, 0, width)[0]
            right = x_scale.project_interval(datum.row[2], 0, width)[1]
            y = y_scale.project(datum.y, height, 0)
            line = ET.SubElement(
                group, "line", x1=f"{left:.1f}", y1=f"{y:.1f}", x2=f"{right:.1f}", y2=f"{y:.1f}"
            )
            line.set("stroke", INK)
            line.set("stroke-width", "1.5")
            line.set("stroke-dasharray", "2 4")
            text = ET.SubElement(group, "text", x=f"{right - 4:.1f}", y=f"{y - 5:.1f}", fill=INK)
            text.set("font-family", FONT)
            text.set("font-size", "11")
            text.set("text-anchor", "end")
            text.text = datum.row[3]
        return group

    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        line = ET.Element("line", x1="0", y1="-4", x2="12", y2="-4", stroke=INK)
        line.set("stroke-width", "1.5")
        line.set("stroke-dasharray", "2 3")
        return _legend_item(line, series.name)


class _Ticks(leather.Shape):  # type: ignore[misc]  # leather ships no type information
    """A short upright tick on the time axis for each date with a session. Rows: (date, 0,
    sessions that date)."""

    def validate_series(self, series: Any) -> bool:
        return True

    def to_svg(
        self, width: float, height: float, x_scale: Any, y_scale: Any, series: Any, palette: Any
    ) -> ET.Element:
        group = ET.Element("g")
        group.set("class", "ticks sessions")
        for datum in series.data():
            x = x_scale.project(datum.x, 0, width)
            tick = ET.SubElement(
                group,
                "line",
                x1=f"{x:.1f}",
                y1=f"{height - 12:.1f}",
                x2=f"{x:.1f}",
                y2=f"{height:.1f}",
            )
            tick.set("stroke", INK)
            tick.set("stroke-width", "2")
        return group

    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        tick = ET.Element("line", x1="6", y1="-10", x2="6", y2="2", stroke=INK)
        tick.set("stroke-width", "2")
        return _legend_item(tick, series.name)


class _BandWords(leather.Shape):  # type: ignore[misc]  # leather ships no type information
    """The words of the bands, drawn after every band so that none is covered: holds on the
    top line, referrals on the second. Rows: (first date, top of the scale, line, word)."""

    def validate_series(self, series: Any) -> bool:
        return True

    def to_svg(
        self, width: float, height: float, x_scale: Any, y_scale: Any, series: Any, palette: Any
    ) -> ET.Element:
        group = ET.Element("g")
        group.set("class", "band-words")
        for datum in series.data():
            left = x_scale.project_interval(datum.x, 0, width)[0]
            y = 12 + 14 * datum.row[2]
            text = ET.SubElement(group, "text", x=f"{left + 3:.1f}", y=f"{y}", fill=INK)
            text.set("font-family", FONT)
            text.set("font-size", "11")
            text.set("stroke", "#ffffff")
            text.set("stroke-width", "3")
            text.set("paint-order", "stroke")
            text.text = datum.row[3]
        return group

    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        return []


class _Words(leather.Shape):  # type: ignore[misc]  # leather ships no type information
    """Words in the middle of the plot (an empty chart says so). Rows: (date, level, words)."""

    def validate_series(self, series: Any) -> bool:
        return True

    def to_svg(
        self, width: float, height: float, x_scale: Any, y_scale: Any, series: Any, palette: Any
    ) -> ET.Element:
        group = ET.Element("g")
        group.set("class", "words")
        for datum in series.data():
            text = ET.SubElement(
                group, "text", x=f"{width / 2:.1f}", y=f"{height / 2:.1f}", fill=INK
            )
            text.set("font-family", FONT)
            text.set("font-size", "16")
            text.set("text-anchor", "middle")
            text.text = datum.row[2]
        return group

    def legend_to_svg(self, series: Any, palette: Iterator[str]) -> list[tuple[ET.Element, int]]:
        return []


def _domain(
    record: ClinicalRecord, days: list[tuple[date, int]], start: date | None, end: date | None
) -> tuple[date, date]:
    seen = [d for d, _ in days] + [e.local_date for e in record.events]
    today = record.local_date(record.generated_at)
    # Four weeks up to `to` (or today) when nothing says where to start; never before year 1.
    four_weeks = date.fromordinal(max(1, (end or today).toordinal() - 27))
    low = start or (min(seen) if seen else four_weeks)
    high = end or (max(seen) if seen else today)
    return low, max(high, low)


_REFERRED_FOR = {
    "refer.red-flag": "red flag",
    "refer.severe-pain": "severe pain",
    "refer.no-progress": "no progress",
}


def referral_word(span: course.Span) -> str:
    """What a referral band says: the one word family the chart uses for it."""
    why = _REFERRED_FOR.get(span.event.rule)
    return f"referral open: {why}" if why else "referral open"


def _describe(
    record: ClinicalRecord,
    days: list[tuple[date, int]],
    means: list[tuple[date, float]],
    opened: list[course.StageOpened],
    holds: list[course.Span],
    referrals: list[course.Span],
    turns: list[tuple[date, str]],
    sessions: dict[date, int],
    low: date,
    high: date,
) -> str:
    parts = [f"Highest pain of each day from {low.isoformat()} to {high.isoformat()}, 0 to 10."]
    for enrollment in record.enrollments:
        parts.append(f"Starting pain {enrollment.baseline_pain}/10.")
    if days:
        parts.append(
            f"{len(days)} days logged; first {days[0][1]}/10 on {days[0][0].isoformat()}, "
            f"last {days[-1][1]}/10 on {days[-1][0].isoformat()}; "
            f"7-day mean at the end {means[-1][1]:g}."
        )
    else:
        parts.append("No pain logged in this period.")
    for stage in opened:
        parts.append(f"Stage {stage.order} ({stage.title}) opened {stage.day.isoformat()}.")
    if holds:
        parts.append(
            f"{len(holds)} flare hold(s), shaded: "
            + ", ".join(f"{h.start.isoformat()} to {h.end}" for h in holds)
            + "."
        )
    for span in referrals:
        until = f" until {span.end.isoformat()}" if span.end else ", still open"
        parts.append(f"Referred to a clinician on {span.start.isoformat()}{until}.")
    for day, what in turns:
        parts.append(f"{what} on {day.isoformat()}.")
    if sessions:
        parts.append(
            f"{sum(sessions.values())} sessions on {len(sessions)} days, ticked on the time axis."
        )
    return " ".join(parts)


def _hatch() -> ET.Element:
    defs = ET.Element("defs")
    pattern = ET.SubElement(
        defs, "pattern", id="hatch", width="8", height="8", patternUnits="userSpaceOnUse"
    )
    pattern.set("patternTransform", "rotate(45)")
    # No ground of its own: what lies under a referral (a hold) shows between the lines.
    line = ET.SubElement(pattern, "line", x1="0", y1="0", x2="0", y2="8", stroke="#9a9a9a")
    line.set("stroke-width", "3")
    return defs


def pain_chart(record: ClinicalRecord, start: date | None, end: date | None) -> str:
    """The chart for local dates `start`..`end` (default: the whole record)."""
    days = course.day_pain(record)
    means = course.weekly_mean(days)
    low, high = _domain(record, days, start, end)
    in_range = [(d, p) for d, p in days if low <= d <= high]
    in_means = [(d, m) for d, m in means if low <= d <= high]
    opened = [s for s in course.stages_opened(record) if low <= s.day <= high]
    holds = course.holds(record)
    referrals = course.referrals(record)
    turns = [(d, what) for d, what in course.turns(record) if low <= d <= high]
    sessions = {d: n for d, n in course.session_days(record).items() if low <= d <= high}

    name = record.client.display_name
    heading = f"Pain (NPRS 0-10): {name}, {low.isoformat()} to {high.isoformat()}"
    chart = leather.Chart(heading)
    chart.set_x_scale(_Days(low, high))
    chart.add_y_scale(0, 10)
    chart.add_x_axis()
    chart.add_y_axis(ticks=[0, 2, 4, 6, 8, 10], name="Pain (0-10)")

    def clipped(first: date, last: date) -> tuple[date, date] | None:
        first, last = max(first, low), min(last, high)
        return (first, last) if first <= last else None

    def band_rows(spans: list[course.Span], word: Any) -> list[tuple[date, int, date, str]]:
        rows = []
        for span in spans:
            shown = clipped(span.start, course.last_day(span, high))
            if shown:
                rows.append((shown[0], 10, shown[1], word(span)))
        return rows

    baselines = []
    for enrollment in record.enrollments:
        ended = record.local_date(enrollment.ended_at) if enrollment.ended_at else high
        shown = clipped(record.local_date(enrollment.started_at), ended)
        if shown:
            label = f"starting pain {enrollment.baseline_pain}/10"
            baselines.append((shown[0], enrollment.baseline_pain, shown[1], label))

    referral_rows = band_rows(referrals, referral_word)
    hold_rows = band_rows(holds, lambda _: "hold")
    words = [(first, 10, 0, word) for first, _, _, word in hold_rows]
    words += [(first, 10, 1, word) for first, _, _, word in referral_rows]
    layers: list[tuple[str, list[Any], Any]] = [
        # Referrals first: the holds drawn over them stay visible.
        ("Referral open", referral_rows, _Bands("", "referral", hatch=True)),
        ("Flare hold", hold_rows, _Bands("#cfcfcf", "hold", hatch=False)),
        ("", words, _BandWords()),
        ("Starting pain", baselines, _Level()),
        ("Day's highest pain", in_range, _Dots(INK, 3)),
        ("7-day mean", in_means, _Line(INK, 2.5)),
        (
            "Stage opened",
            [(s.day, 10, f"Stage {s.order}") for s in opened],
            _Markers("triangle", dashed=False),
        ),
        (
            "Resolved",
            [(d, 10, "Resolved") for d, what in turns if what == "Resolved"],
            _Markers("square", dashed=True, top=64),
        ),
        (
            "Relapse",
            [(d, 10, "Relapse") for d, what in turns if what == "Relapse"],
            _Markers("down", dashed=True, top=80),
        ),
        ("Session logged", [(d, 0, n) for d, n in sorted(sessions.items())], _Ticks()),
    ]
    if not in_range:
        layers.append(("", [(low, 5, "No pain logged in these dates")], _Words()))
    drawn = [(name, rows, shape) for name, rows, shape in layers if rows]
    for label, rows, shape in drawn:  # leather cannot scale an empty series
        chart.add_series(leather.Series(rows, name=label), shape)

    root = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(WIDTH),
        height=str(HEIGHT),
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        role="img",
    )
    root.set("aria-labelledby", "pain-chart-title pain-chart-desc")
    title = ET.SubElement(root, "title", id="pain-chart-title")
    title.text = f"Pain chart for {name}, {low.isoformat()} to {high.isoformat()}"
    desc = ET.SubElement(root, "desc", id="pain-chart-desc")
    desc.text = _describe(
        record, in_range, in_means, opened, holds, referrals, turns, sessions, low, high
    )
    root.append(_hatch())
    root.append(chart.to_svg_group(WIDTH, HEIGHT))
    return ET.tostring(root, encoding="unicode")
