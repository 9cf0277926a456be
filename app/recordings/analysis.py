"""A recording, beat by beat: find the R peaks, cut and align the beats, score them, time them,
and say what should be said about the result (fit, signal quality, annotations).

The steps run one way: signal -> R peaks -> beats -> scores -> rows. No FastAPI here: the API,
the page and `ecg-score` all analyse recordings through `analyse_recording`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.inference.artifact import ModelMetadata, RhythmRule
from app.inference.scoring import OperatingPoint, Scorer, Scores
from app.recordings.annotations import ReferenceMatch, compare_with_reference, match_reference
from app.recordings.detection import RPeaks, find_r_peaks
from app.recordings.quality import BadStretch, bad_stretches, issue_at, typical_amplitude
from app.recordings.rhythm import prematurity, timing_score
from app.recordings.segmentation import CutBeats, cut_beats
from app.recordings.signal import (
    MIN_BEATS,
    Recording,
    check_recording,
    choose_lead,
    invalid_recording,
)

Verdict = Literal["normal", "abnormal", "unscored"]
# The model does not describe a person when most of their beats lie beyond this percentile of the
# errors of the beats it learnt (1% of those did).
FIT_PERCENTILE = "99"
MISFIT_FRACTION = 0.5


@dataclass(frozen=True)
class BeatRow:
    index: int
    time_s: float
    rr_s: float | None
    heart_rate_bpm: float | None
    reconstruction_error: float | None
    anomaly_score: float | None  # both rules at once: 1.0 at the decision boundary
    verdict: Verdict
    reasons: list[str]


def baseline_stretch_of(
    metadata: ModelMetadata, recording: Recording
) -> tuple[float, float] | None:
    """The stretch of this recording the model was fitted on, when it is a baseline of it."""
    provenance = metadata.provenance
    fitted_here = recording.name is not None and recording.name in provenance.record.split(".")
    return provenance.stretch_s if fitted_here else None


def timing_rule(metadata: ModelMetadata, premature_below: float | None) -> RhythmRule | None:
    """The timing rule to judge by: the request's boundary (with the model's local rhythm, or 8
    beats), else the model's own rule, else none (shape alone)."""
    if premature_below is None:
        return metadata.rhythm
    local_beats = metadata.rhythm.local_beats if metadata.rhythm else 8
    return RhythmRule(local_beats=local_beats, premature_below=premature_below)


@dataclass(frozen=True)
class RecordingAnalysis:
    rows: list[BeatRow]
    summary: dict[str, Any]
    warnings: list[str]
    bad_stretches: list[BadStretch]
    comparison: dict[str, Any] | None
    reference_match: ReferenceMatch | None  # which beat found each annotated one matches
    # for drawing: the lead scored, where its beats are, and what the model made of them
    signal: npt.NDArray[np.float64]
    peaks: RPeaks
    cut: CutBeats
    scores: Scores


def analyse_upload(
    recording: Recording,
    lead: str | None,
    scorer: Scorer,
    point: OperatingPoint,
    max_duration_s: float,
    timing: RhythmRule | None = None,
) -> RecordingAnalysis:
    """An uploaded recording checked (duration, finite samples), its lead chosen, analysed."""
    check_recording(recording, max_duration_s)
    return analyse_recording(recording, choose_lead(recording, lead), scorer, point, timing)


def analyse_recording(
    recording: Recording,
    lead: int,
    scorer: Scorer,
    point: OperatingPoint,
    timing: RhythmRule | None = None,
) -> RecordingAnalysis:
    """`point` judges shape; `timing`, when given, judges prematurity too (see `timing_rule`)."""
    signal = recording.signals[:, lead]
    rate = recording.sampling_rate
    lead_name = recording.lead_names[lead]
    if typical_amplitude(signal, rate) <= 0:
        raise invalid_recording(f"leads.{lead_name}", "is a flat line: there are no beats to find")
    window = scorer.metadata.beat_window
    peaks = find_r_peaks(signal, rate, window.qrs_polarity)
    if len(peaks.samples) < MIN_BEATS:
        raise invalid_recording(
            f"leads.{lead_name}",
            f"{len(peaks.samples)} beats were found; at least {MIN_BEATS} are needed",
        )

    def errors_of(beats: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return scorer.score(beats).errors

    cut = cut_beats(signal, peaks.samples, window, scorer.input_length, errors_of)
    scores = scorer.score(cut.beats)
    stretches = bad_stretches(signal, rate)
    rows = beat_rows(peaks.samples, rate, cut, scores, stretches, point, timing)
    comparison, match = None, None
    if recording.reference is not None:
        match = match_reference(recording.reference, peaks.samples, rate)
        verdicts = [row.verdict for row in rows]
        comparison = compare_with_reference(recording.reference, match, verdicts)
    scored = [row.reconstruction_error for row in rows if row.reconstruction_error is not None]
    fit = model_fit(scorer.metadata, np.asarray(scored, dtype=np.float64))
    summary = {
        "duration_s": recording.duration_s,
        "sampling_rate": rate,
        "lead": lead_name,
        "lead_index": lead,
        "leads": recording.lead_names,
        "source_format": recording.source_format,
        "qrs_polarity": peaks.polarity,
        "n_beats": len(rows),
        "n_abnormal": sum(row.verdict == "abnormal" for row in rows),
        "n_unscored": sum(row.verdict == "unscored" for row in rows),
        "mean_heart_rate_bpm": mean_heart_rate(peaks.samples, rate),
        "model_version": scorer.metadata.model_version,
        "model_provenance": scorer.metadata.provenance.model_dump(),
        "threshold": point.threshold,
        "threshold_rule": point.rule,
        "timing_rule": None if timing is None else describe_timing(timing),
        "fit": fit,
    }
    warnings = fit_warnings(scorer.metadata, fit)
    if warnings:  # a misfit, and perhaps the lead is why
        warnings += polarity_warnings(scorer.metadata, peaks.polarity)
    warnings += quality_warnings(stretches, rows)
    return RecordingAnalysis(
        rows, summary, warnings, stretches, comparison, match, signal, peaks, cut, scores
    )


def beat_rows(
    peaks: npt.NDArray[np.int64],
    rate: float,
    cut: CutBeats,
    scores: Scores,
    stretches: list[BadStretch],
    point: OperatingPoint,
    timing: RhythmRule | None = None,
) -> list[BeatRow]:
    ratios = prematurity(peaks, timing.local_beats) if timing else np.full(len(peaks), np.nan)
    rows = []
    for i, peak in enumerate(peaks):
        rr_s = float(peak - peaks[i - 1]) / rate if i > 0 else None
        heart_rate = 60.0 / rr_s if rr_s else None
        unscored = _unscored_because(i, len(peaks), rate, cut, stretches)
        if unscored is not None:
            rows.append(BeatRow(i, float(peak) / rate, rr_s, heart_rate, None, None, "unscored",
                                [unscored]))  # fmt: skip
            continue
        error = float(scores.errors[i])
        score, reasons = _judged(error, float(ratios[i]), point, timing)
        verdict: Verdict = "abnormal" if reasons else "normal"
        rows.append(
            BeatRow(i, float(peak) / rate, rr_s, heart_rate, error, score, verdict, reasons)
        )
    return rows


def _unscored_because(
    i: int, n_peaks: int, rate: float, cut: CutBeats, stretches: list[BadStretch]
) -> str | None:
    if i == n_peaks - 1:
        return "last beat: no following R peak to end its window"
    if not cut.inside[i]:
        return "its window runs past the edge of the recording"
    issue = issue_at(stretches, cut.boundaries[i] / rate, cut.boundaries[i + 1] / rate)
    return None if issue is None else f"signal quality: {issue}"


def _judged(
    error: float, ratio: float, point: OperatingPoint, timing: RhythmRule | None
) -> tuple[float, list[str]]:
    """The anomaly score (the larger of the two rules' scores, each 1.0 at its boundary) and the
    reasons a beat is abnormal (none: normal)."""
    shape = error / point.threshold
    reasons = [f"shape: reconstruction error {shape:.2f}x the threshold"] if shape > 1 else []
    if timing is None:
        return shape, reasons
    early = timing_score(ratio, timing.premature_below)
    if early > 1:
        reasons.append(
            f"timing: premature, its RR interval {ratio:.2f} of the local rhythm "
            f"(below {timing.premature_below:.2f})"
        )
    return max(shape, early), reasons


def describe_timing(timing: RhythmRule) -> str:
    return (
        f"premature when the RR interval is below {timing.premature_below:.3g} of the median of "
        f"the {timing.local_beats} before it"
    )


def mean_heart_rate(peaks: npt.NDArray[np.int64], rate: float) -> float | None:
    if len(peaks) < 2:
        return None
    return float(60.0 * rate / np.mean(np.diff(peaks)))


def model_fit(metadata: ModelMetadata, errors: npt.NDArray[np.float64]) -> dict[str, Any]:
    """How far this recording's beats (the errors of those scored) lie from the model's."""
    limit = metadata.training_errors.percentiles.get(FIT_PERCENTILE)
    if len(errors) == 0 or limit is None:
        return {"scored_beats": len(errors), "fits": None}
    beyond = float(np.mean(errors > limit))
    return {
        "scored_beats": len(errors),
        "training_error_percentile": float(FIT_PERCENTILE),
        "training_error_at_percentile": limit,
        "fraction_beyond": beyond,
        "median_error_to_threshold": float(np.median(errors) / metadata.threshold),
        "fits": beyond <= MISFIT_FRACTION,
    }


def fit_warnings(metadata: ModelMetadata, fit: dict[str, Any]) -> list[str]:
    """The warning that the model does not describe this person, when it does not."""
    if fit.get("fits") is not False:
        return []
    learnt = metadata.provenance
    whose = f"{learnt.dataset}, {learnt.record}"
    if learnt.subject:
        whose += f" ({learnt.subject})"
    warning = (
        f"This model does not describe this person: {fit['fraction_beyond']:.0%} of the scored "
        f"beats lie beyond the {FIT_PERCENTILE}th percentile of the errors of the beats it learnt "
        f"(median error {fit['median_error_to_threshold']:.1f}x the threshold), so its "
        f"'abnormal' here means 'unlike the heart it learnt', not a finding. It learnt {whose}. "
        "Fit a baseline on this person's own normal beats and score with that model instead."
    )
    return [warning]


def polarity_warnings(metadata: ModelMetadata, polarity: str) -> list[str]:
    """Why a lead may not suit the model: its QRS points the other way."""
    if polarity == metadata.beat_window.qrs_polarity:
        return []
    return [
        f"The QRS complexes of this lead are mostly {polarity}; the model's beats were "
        f"aligned on a {metadata.beat_window.qrs_polarity} QRS, so another lead may suit it."
    ]


def quality_warnings(stretches: list[BadStretch], rows: list[BeatRow]) -> list[str]:
    if not stretches:
        return []
    seconds = sum(stretch.end_s - stretch.start_s for stretch in stretches)
    issues = sorted({stretch.issue for stretch in stretches})
    unscored = sum(any(r.startswith("signal quality") for r in row.reasons) for row in rows)
    return [
        f"{seconds:.0f} s of the recording cannot be trusted ({', '.join(issues)}); the "
        f"{unscored} beats there are unscored (see bad_stretches)"
    ]
