"""Analysing a recording of any length in overlapping chunks, with bounded memory.

Each chunk is analysed with `OVERLAP_S` of the recording on either side, and keeps only the beats
whose R peak lies in its own stretch: so every beat is found, cut and aligned with its neighbours
in view, as it would be in one piece, and is reported once. Rows come out as they are scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from app.inference.artifact import RhythmRule
from app.inference.scoring import OperatingPoint, Scorer
from app.inputs.problems import BadRequest
from app.recordings.analysis import BeatRow, analyse_recording
from app.recordings.signal import MIN_DURATION_S, Recording

OVERLAP_S = 10.0


@dataclass
class ChunkedSummary:
    """What the whole run found, gathered as the chunks go by."""

    samples: int = 0
    beats: int = 0
    abnormal: int = 0
    unscored: int = 0
    errors: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def analyse_in_chunks(
    blocks: Iterable[np.ndarray],
    template: Recording,
    lead: int,
    scorer: Scorer,
    point: OperatingPoint,
    summary: ChunkedSummary,
    timing: RhythmRule | None = None,
) -> Iterator[BeatRow]:
    """Beat rows of the whole recording, in order; `blocks` are consecutive sample blocks of one
    chunk's length, and `template` gives the sampling rate and leads."""
    rate = template.sampling_rate
    overlap = round(OVERLAP_S * rate)
    buffer = np.empty((0, len(template.lead_names)))
    buffer_start = 0  # sample number of buffer[0] in the whole recording
    kept_until = 0  # beats with an R peak before this sample have been reported
    last_time_s: float | None = None
    for block, is_last in _with_last_flag(blocks):
        buffer = np.concatenate([buffer, block])
        summary.samples += len(block)
        buffer_end = buffer_start + len(buffer)
        keep_before = buffer_end if is_last else buffer_end - overlap
        rules = (point, timing)
        for row in _chunk_rows(buffer, buffer_start, template, lead, scorer, rules, summary):
            sample = round(row.time_s * rate)
            if kept_until <= sample < keep_before:
                row = _renumbered(row, summary.beats, last_time_s)
                last_time_s = row.time_s
                _count(row, summary)
                yield row
        kept_until = keep_before
        tail = min(len(buffer), 2 * overlap)
        buffer_start, buffer = buffer_end - tail, buffer[len(buffer) - tail :]


def _chunk_rows(
    buffer: np.ndarray,
    buffer_start: int,
    template: Recording,
    lead: int,
    scorer: Scorer,
    rules: tuple[OperatingPoint, RhythmRule | None],
    summary: ChunkedSummary,
) -> list[BeatRow]:
    """The rows of one chunk, timed from the start of the recording."""
    rate = template.sampling_rate
    start_s = buffer_start / rate
    if len(buffer) < MIN_DURATION_S * rate:
        return []
    chunk = replace(template, signals=buffer, reference=None)
    try:
        analysis = analyse_recording(chunk, lead, scorer, *rules)
    except BadRequest as exc:  # a stretch with no beats to find (a lead off for minutes)
        summary.warnings.append(f"{start_s:.0f} s to {start_s + chunk.duration_s:.0f} s: {exc}")
        return []
    return [replace(row, time_s=row.time_s + start_s) for row in analysis.rows]


def _renumbered(row: BeatRow, index: int, previous_time_s: float | None) -> BeatRow:
    """Index in the whole recording; RR from the previous beat reported (in another chunk for
    the first beat of a chunk)."""
    rr_s = None if previous_time_s is None else row.time_s - previous_time_s
    return replace(row, index=index, rr_s=rr_s, heart_rate_bpm=60.0 / rr_s if rr_s else None)


def _count(row: BeatRow, summary: ChunkedSummary) -> None:
    summary.beats += 1
    if row.verdict == "abnormal":
        summary.abnormal += 1
    elif row.verdict == "unscored":
        summary.unscored += 1
    if row.reconstruction_error is not None:
        summary.errors.append(row.reconstruction_error)


def _with_last_flag(blocks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    iterator = iter(blocks)
    previous = next(iterator, None)
    for block in iterator:
        assert previous is not None
        yield previous, False
        previous = block
    if previous is not None:
        yield previous, True
