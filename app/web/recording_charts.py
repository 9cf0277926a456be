"""SVG charts of a whole recording, drawn on the server like `app.web.charts` (no script, no
style attribute): the heart rate over time with the abnormal beats marked, and the signal itself
a minute a row (a Holter report's "full disclosure"), each R peak marked by its verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from app.recordings.quality import BadStretch
from app.web.charts import FONT, VERDICT_COLOURS, nice_ticks, number, points

if TYPE_CHECKING:
    from app.recordings.analysis import BeatRow

OVERVIEW_WIDTH, OVERVIEW_HEIGHT = 1180, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 36
STRIP_WIDTH, STRIP_HEIGHT = 1180, 86
SIGNAL_COLOUR, RATE_COLOUR, BAD_COLOUR = "#1e293b", "#1d4ed8", "#94a3b8"
MARK_COLOURS = {**VERDICT_COLOURS, "unscored": BAD_COLOUR}


def overview_svg(
    rows: Sequence[BeatRow],
    duration_s: float,
    stretches: list[BadStretch],
    baseline: tuple[float, float] | None = None,
) -> str:
    """Heart rate per beat over the recording; abnormal beats as red ticks along the top, stretches
    of bad signal shaded grey, and the baseline the model was fitted on (if it was fitted on this
    recording) shaded blue."""
    rated = [row for row in rows if row.heart_rate_bpm is not None]
    rates = [row.heart_rate_bpm or 0.0 for row in rated]
    ticks = nice_ticks(min(rates, default=40.0), max(rates, default=120.0), 4)
    minutes = max(duration_s / 60, 1e-9)
    plot_w = OVERVIEW_WIDTH - LEFT - RIGHT
    plot_h = OVERVIEW_HEIGHT - TOP - BOTTOM

    def x(time_s: float) -> float:
        return LEFT + time_s / 60 / minutes * plot_w

    def y(rate: float) -> float:
        return TOP + (ticks[-1] - rate) / (ticks[-1] - ticks[0]) * plot_h

    shading = "".join(
        f'<rect class="bad-stretch" x="{number(x(s.start_s))}" y="{TOP}" '
        f'width="{number(max(x(s.end_s) - x(s.start_s), 1))}" height="{plot_h}" '
        f'fill="{BAD_COLOUR}" fill-opacity="0.35"><title>{escape(s.issue)}</title></rect>'
        for s in stretches
    )
    if baseline is not None:
        start, end = x(baseline[0]), x(min(baseline[1], duration_s))
        shading += (
            f'<rect class="baseline" x="{number(start)}" y="{TOP}" width="{number(end - start)}" '
            f'height="{plot_h}" fill="{RATE_COLOUR}" fill-opacity="0.08"><title>baseline the '
            "model was fitted on</title></rect>"
        )
    abnormal = "".join(
        f"M{number(x(row.time_s))} {TOP - 10}v8" for row in rows if row.verdict == "abnormal"
    )
    grid = "".join(f"M{LEFT} {number(y(t))}H{OVERVIEW_WIDTH - RIGHT}" for t in ticks)
    time_ticks = [t for t in nice_ticks(0, minutes, 8) if t <= minutes]
    labels = "".join(
        f'<text x="{LEFT - 6}" y="{number(y(t) + 4)}" text-anchor="end">{t:g}</text>' for t in ticks
    ) + "".join(
        f'<text x="{number(x(t * 60))}" y="{OVERVIEW_HEIGHT - BOTTOM + 16}" '
        f'text-anchor="middle">{t:g}</text>'
        for t in time_ticks
    )
    n_abnormal = sum(row.verdict == "abnormal" for row in rows)
    title = f"Heart rate over {minutes:.1f} minutes; {n_abnormal} abnormal beats marked above"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {OVERVIEW_WIDTH} '
        f'{OVERVIEW_HEIGHT}" role="img" class="overview-chart" font-family="{FONT}" '
        f'font-size="12"><title>{escape(title)}</title>{shading}'
        f'<path class="grid" d="{grid}" stroke="#e2e8f0" fill="none"/>'
        f'<polyline class="heart-rate" points="'
        f'{points([x(r.time_s) for r in rated], [y(v) for v in rates])}" fill="none" '
        f'stroke="{RATE_COLOUR}" stroke-width="1.2"/>'
        f'<path class="abnormal-marks" d="{abnormal}" stroke="{VERDICT_COLOURS["abnormal"]}" '
        f'stroke-width="1"/><g class="tick-labels" fill="#475569">{labels}'
        f'<text x="{OVERVIEW_WIDTH - RIGHT}" y="{OVERVIEW_HEIGHT - 4}" text-anchor="end">'
        f'minutes</text><text x="{LEFT}" y="12">beats/min</text></g></svg>'
    )


def strip_svgs(
    signal: npt.NDArray[np.float64],
    sampling_rate: float,
    rows: Sequence[BeatRow],
    row_s: float = 60.0,
    max_rows: int = 60,
) -> list[tuple[float, str]]:
    """(start second, SVG) per row of `row_s` seconds: the signal's min-max envelope per pixel
    column and a mark at each R peak, coloured by its verdict."""
    per_row = round(row_s * sampling_rate)
    low, high = np.percentile(signal, [0.1, 99.9]) if len(signal) else (0.0, 1.0)
    high = high if high > low else low + 1.0
    strips = []
    for start in range(0, min(len(signal), per_row * max_rows), per_row):
        piece = signal[start : start + per_row]
        beats = [r for r in rows if start <= r.time_s * sampling_rate < start + per_row]
        marks = [(r.time_s * sampling_rate - start, r) for r in beats]
        strips.append((start / sampling_rate, _strip(piece, per_row, low, high, marks, start)))
    return strips


def _strip(
    piece: npt.NDArray[np.float64],
    per_row: int,
    low: float,
    high: float,
    marks: Sequence[tuple[float, BeatRow]],
    start: int,
) -> str:
    """`marks`: (sample within the row, beat) of each R peak in it."""
    # one pixel column per bin of samples: its highest and lowest sample draw the envelope
    columns = max(2, min(len(piece), round(STRIP_WIDTH * len(piece) / per_row)))
    starts = np.linspace(0, len(piece), columns, endpoint=False).astype(int)
    tops = np.maximum.reduceat(piece, starts).tolist()
    bottoms = np.minimum.reduceat(piece, starts).tolist()
    span = STRIP_HEIGHT - 8

    def y(value: float) -> float:
        return 4 + (high - min(max(value, low), high)) / (high - low) * span

    xs = [i * STRIP_WIDTH * len(piece) / per_row / len(tops) for i in range(len(tops))]
    envelope = points(xs + xs[::-1], [y(v) for v in tops] + [y(v) for v in bottoms[::-1]])
    peaks = "".join(
        f'<path class="peak peak-{row.verdict}" d="M{number(sample / per_row * STRIP_WIDTH)} 0v6" '
        f'stroke="{MARK_COLOURS[row.verdict]}" stroke-width="2"><title>beat {row.index}: '
        f"{escape(row.verdict)}</title></path>"
        for sample, row in marks
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {STRIP_WIDTH} {STRIP_HEIGHT}" '
        f'role="img" class="strip-chart"><title>signal from sample {start}</title>'
        f'<polygon class="signal" points="{envelope}" fill="{SIGNAL_COLOUR}" '
        f'stroke="{SIGNAL_COLOUR}" stroke-width="0.6"/>{peaks}</svg>'
    )
