"""Charts drawn on the server as SVG, so that the page needs no JavaScript library.

No FastAPI here. Only numbers and escaped text go into a chart, so the page can insert it as is.
Every element is styled by a class (in `static/page.css`) and by presentation attributes as a
fallback: the page's Content-Security-Policy allows no `style` attribute and no inline `<style>`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# 556 = 4 * 139: a 140-sample beat falls on whole x coordinates, which keeps charts small
WIDTH, HEIGHT = 614, 276
# margins around the plot area: verdict above; tick labels, then legend and axis name, below
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 40, 44
FONT = "system-ui, sans-serif"  # the page's CSS sets its own stack; this is for the SVG alone
BEAT_COLOUR, RECONSTRUCTION_COLOUR, ERROR_COLOUR = "#1d4ed8", "#475569", "#ea580c"
VERDICT_COLOURS = {"abnormal": "#b91c1c", "normal": "#15803d"}


@dataclass(frozen=True)
class Frame:
    """Maps sample index and amplitude to SVG coordinates in the plot area."""

    samples: int
    low: float
    high: float

    def x(self, index: float) -> float:
        return LEFT + index * (WIDTH - LEFT - RIGHT) / max(self.samples - 1, 1)

    def y(self, value: float) -> float:
        return TOP + (self.high - value) * (HEIGHT - TOP - BOTTOM) / (self.high - self.low)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-numbered ticks (steps of 1, 2, 2.5 or 5 times a power of ten) spanning low..high."""
    if not high > low:
        low, high = low - 1, high + 1
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(i * step, 10) for i in range(first, last + 1)]


def number(value: float) -> str:
    """A coordinate with one decimal, and no `.0` or `-0`: charts stay small."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{number(x)},{number(y)}" for x, y in zip(xs, ys, strict=True))


def beat_chart_svg(
    beat: Sequence[float],
    reconstruction: Sequence[float],
    sample_errors: Sequence[float],
    verdict: str,
    *,
    index: int,
    error: float,
    threshold: float,
) -> str:
    """One beat, the model's reconstruction (dashed), the per-sample error shaded between them,
    and the verdict, as a self-contained `<svg role="img">`.

    `sample_errors` (normalised units) mark the sample where the two part most; the shaded gap
    is the same error in the beat's units.
    """
    if not len(beat) == len(reconstruction) == len(sample_errors) >= 2:
        raise ValueError("beat, reconstruction and sample_errors need the same length, >= 2")
    ticks = nice_ticks(min(*beat, *reconstruction), max(*beat, *reconstruction))
    frame = Frame(len(beat), ticks[0], ticks[-1])
    xs = [frame.x(i) for i in range(len(beat))]
    beat_ys = [frame.y(v) for v in beat]
    reconstruction_ys = [frame.y(v) for v in reconstruction]
    title = f"Beat {index}: {verdict}, error {error:.4g} (threshold {threshold:.4g})"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="beat-chart" font-family="{FONT}" font-size="13">',
        f"<title>{escape(title)}</title>",
        _grid(frame, ticks),
        _error_area(xs, beat_ys, reconstruction_ys),
        _largest_error_marker(frame, sample_errors),
        f'<polyline class="reconstruction" points="{points(xs, reconstruction_ys)}" fill="none" '
        f'stroke="{RECONSTRUCTION_COLOUR}" stroke-width="1.5" stroke-dasharray="5 3"/>',
        f'<polyline class="beat" points="{points(xs, beat_ys)}" fill="none" '
        f'stroke="{BEAT_COLOUR}" stroke-width="2" stroke-linejoin="round"/>',
        _header(verdict, error, threshold),
        _legend(),
        "</svg>",
    ]
    return "".join(parts)


def _error_area(xs: list[float], beat_ys: list[float], reconstruction_ys: list[float]) -> str:
    """The gap between beat and reconstruction: along one, back along the other. Where they
    cross, both lobes are filled (nonzero winding)."""
    outline = points(xs + xs[::-1], beat_ys + reconstruction_ys[::-1])
    return (
        f'<polygon class="error" points="{outline}" fill="{ERROR_COLOUR}" fill-opacity="0.35" '
        'stroke="none"/>'
    )


def _grid(frame: Frame, y_ticks: list[float]) -> str:
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    x_ticks = [t for t in nice_ticks(0, frame.samples - 1, 7) if t <= frame.samples - 1]
    ys = [number(frame.y(value)) for value in y_ticks]
    xs = [number(frame.x(value)) for value in x_ticks]
    grid = "".join(f"M{left} {y}H{right}" for y in ys) + "".join(f"M{x} {top}V{bottom}" for x in xs)
    y_labels = "".join(
        f'<text x="{left - 6}" y="{number(frame.y(value) + 4)}">{value:g}</text>'
        for value in y_ticks
    )
    x_labels = "".join(
        f'<text x="{x}" y="{bottom + 15}">{value:g}</text>'
        for x, value in zip(xs, x_ticks, strict=True)
    )
    return (
        f'<path class="grid" d="{grid}" stroke="#e2e8f0" stroke-width="1" fill="none"/>'
        f'<rect class="plot-frame" x="{left}" y="{top}" width="{right - left}" '
        f'height="{bottom - top}" fill="none" stroke="#94a3b8" stroke-width="1"/>'
        f'<g class="tick-labels" fill="#475569"><g text-anchor="end">{y_labels}</g>'
        f'<g text-anchor="middle">{x_labels}</g>'
        f'<text x="{right}" y="{HEIGHT - 6}" text-anchor="end">sample</text></g>'
    )


def _largest_error_marker(frame: Frame, sample_errors: Sequence[float]) -> str:
    worst = max(range(len(sample_errors)), key=sample_errors.__getitem__)
    x = number(frame.x(worst))
    # near either end the label is anchored inwards, so that it stays inside the chart
    anchor = (
        "start"
        if worst < frame.samples / 5
        else "end"
        if worst > frame.samples * 4 / 5
        else "middle"
    )
    return (
        f'<line class="largest-error" x1="{x}" y1="{TOP}" x2="{x}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="{ERROR_COLOUR}" stroke-width="1" stroke-dasharray="2 3"/>'
        f'<text class="largest-error-label" x="{x}" y="{TOP - 4}" text-anchor="{anchor}" '
        f'fill="{ERROR_COLOUR}">largest error: sample {worst}</text>'
    )


def _header(verdict: str, error: float, threshold: float) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#0f172a")
    relation = ">" if error > threshold else "≤"
    return (
        f'<text x="{LEFT}" y="17" fill="#334155">'
        f'<tspan class="verdict verdict-{escape(verdict)}" font-size="16" font-weight="700" '
        f'fill="{colour}">{escape(verdict)}</tspan>'
        f'<tspan dx="10">error {error:.4g} {relation} threshold {threshold:.4g}</tspan></text>'
    )


def _legend() -> str:
    return (
        f'<g class="legend" fill="#334155" transform="translate({LEFT} {HEIGHT - 20})">'
        f'<line class="beat" x1="0" y1="10" x2="18" y2="10" stroke="{BEAT_COLOUR}" '
        'stroke-width="2"/><text x="23" y="14">beat</text>'
        f'<line class="reconstruction" x1="64" y1="10" x2="82" y2="10" '
        f'stroke="{RECONSTRUCTION_COLOUR}" stroke-width="1.5" stroke-dasharray="5 3"/>'
        '<text x="87" y="14">reconstruction</text>'
        f'<rect class="error" x="188" y="4" width="18" height="12" fill="{ERROR_COLOUR}" '
        'fill-opacity="0.35"/><text x="211" y="14">error</text>'
        "</g>"
    )
