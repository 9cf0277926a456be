"""A baseline for one person (or a population): autoencoders fitted on the beats of a stretch of
their own recording(s), judged against later with the same shape and timing rules.

The beats are found and cut by the service's own code (`app.recordings`), so the beats the model
learns are the beats it will be asked about. No labels are needed: the worst-reconstructed beats
are trimmed while fitting (as for ECG5000), and the timing rule is calibrated robustly; with
`annotated_normal_only`, the annotated normal beats alone are kept (for comparison).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from app.inference.artifact import (
    Alignment,
    BeatWindow,
    MinMaxNormalisation,
    RhythmRule,
    Smoothing,
    ThresholdRule,
)
from app.inference.scoring import normalise
from app.recordings.annotations import match_reference
from app.recordings.detection import find_r_peaks
from app.recordings.rhythm import calibrate_rhythm
from app.recordings.segmentation import cut_beats
from app.recordings.signal import Recording, choose_lead
from training.config import TrainConfig
from training.data.split import hold_out_indices
from training.fitting.model import average_of
from training.fitting.train import (
    Log,
    MemberFit,
    TrainingError,
    alignment_of,
    choose_threshold,
    fit_member,
    fit_normalisation,
    scored_errors,
    seed_everything,
    smoothing_of,
)

INPUT_LENGTH = 140
# A baseline beat runs from 0.3 of the RR interval before its R peak (its P wave included) to the
# same point before the next one.
R_PEAK_POSITION = 0.3
ALIGNMENT_SEARCH = 2.0  # model samples: the baseline's beats are cut on the peak itself
MIN_BASELINE_BEATS = 100


@dataclass(frozen=True)
class Stretch:
    start_s: float
    end_s: float

    def describe(self) -> str:
        return f"{clock(self.start_s)} to {clock(self.end_s)}"


@dataclass(frozen=True)
class BaselineBeats:
    """The beats of one recording's stretch, cut as the model will cut them."""

    recording: Recording
    lead: int
    stretch: Stretch
    window: BeatWindow
    beats: np.ndarray  # (n, INPUT_LENGTH), per-beat normalised
    peaks: np.ndarray  # R peaks of the stretch, samples from the start of the recording


@dataclass(frozen=True)
class BaselineFit:
    parts: list[BaselineBeats]
    config: TrainConfig
    model: keras.Model  # the average of the members
    members: tuple[MemberFit, ...]
    normalisation: MinMaxNormalisation
    smoothing: Smoothing | None
    alignment: Alignment | None
    errors: np.ndarray
    threshold: float
    threshold_rule: ThresholdRule
    rhythm: RhythmRule
    seconds: float


def clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def parse_stretch(text: str) -> Stretch:
    """`0:05:00` (the first five minutes), `START-END` (each h:mm:ss, m:ss or seconds)."""
    start_text, _, end_text = text.partition("-") if "-" in text else ("0", "", text)
    start, end = _seconds(start_text), _seconds(end_text)
    if not end > start >= 0:
        raise ValueError(f"{text!r}: the stretch must end after it starts")
    return Stretch(start, end)


def _seconds(text: str) -> float:
    try:
        parts = [float(part) for part in text.strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(part < 0 for part in parts):
        raise ValueError(f"{text!r} is not a time (h:mm:ss, m:ss or seconds)")
    total = 0.0
    for part in parts:
        total = total * 60 + part
    return total


def baseline_beats(
    recording: Recording,
    lead_name: str | None,
    stretch: Stretch,
    annotated_normal_only: bool = False,
) -> BaselineBeats:
    """Find, cut and keep the beats of `stretch`; raises `TrainingError` for what cannot be."""
    lead = choose_lead(recording, lead_name)
    rate = recording.sampling_rate
    if stretch.start_s >= recording.duration_s:
        raise TrainingError(
            f"the baseline starts at {clock(stretch.start_s)}, after the recording ends "
            f"({clock(recording.duration_s)})"
        )
    end_s = min(stretch.end_s, recording.duration_s)
    start, end = round(stretch.start_s * rate), round(end_s * rate)
    signal = recording.signals[start:end, lead]
    found = find_r_peaks(signal, rate)  # aligned on this lead's own QRS deflection
    peaks = found.samples
    window = BeatWindow(
        r_peak_position=R_PEAK_POSITION,
        qrs_polarity=found.polarity,
        per_beat_normalisation="z-score",
        alignment_search=ALIGNMENT_SEARCH,
    )
    if len(peaks) < 2:
        raise TrainingError(f"{len(peaks)} beats found in the baseline stretch")
    cut = cut_beats(signal, peaks, window, INPUT_LENGTH)
    keep = cut.inside.copy()
    if annotated_normal_only:
        keep &= _annotated_normal(recording, peaks[:-1] + start, rate)
    return BaselineBeats(
        recording,
        lead,
        Stretch(stretch.start_s, end_s),
        window,
        cut.beats[keep],
        peaks + start,
    )


def _annotated_normal(recording: Recording, peaks: np.ndarray, rate: float) -> np.ndarray:
    """Which of `peaks` match a beat annotated normal (AAMI class N)."""
    if recording.reference is None:
        raise TrainingError("--annotations: the recording has no annotation file beside it")
    match = match_reference(recording.reference, peaks, rate)
    normal = np.zeros(len(peaks), dtype=bool)
    for beat_class, found in zip(match.classes, match.found.tolist(), strict=True):
        if found >= 0 and beat_class == "N":
            normal[found] = True
    return normal


def fit_baseline(parts: list[BaselineBeats], config: TrainConfig, log: Log | None) -> BaselineFit:
    started = time.perf_counter()
    if config.candidates > 1:
        raise TrainingError(
            f"--candidates {config.candidates} chooses each autoencoder by how it separates "
            "abnormal beats from normal ones, and a baseline has no labels: leave it at 1"
        )
    if config.threshold_shift > 0:
        raise TrainingError(
            f"--threshold-max-shift {config.threshold_shift:g} stands for the cut of beats from a "
            "recording; a baseline's beats were cut from the recording itself, and its threshold "
            "is taken over them as cut: leave it at 0"
        )
    beats = np.concatenate([part.beats for part in parts])
    if len(beats) < MIN_BASELINE_BEATS:
        raise TrainingError(
            f"the baseline holds {len(beats)} beats; at least {MIN_BASELINE_BEATS} are needed "
            "(give a longer stretch with --baseline)"
        )
    seed_everything(config.seed)
    norm = fit_normalisation(beats)
    x = normalise(beats, norm)
    fit, validation = hold_out_indices(len(x), config.validation_fraction, config.seed)
    smoothing = smoothing_of(config)  # before fitting: options it refuses fail at once
    alignment = alignment_of(config, x[fit], smoothing)
    members = tuple(
        fit_member(i, x[fit], x[validation], config, log) for i in range(config.model.ensemble_size)
    )
    model = average_of([member.model for member in members], INPUT_LENGTH)
    errors = scored_errors(model, norm, smoothing, alignment, beats)
    threshold, rule = choose_threshold(config, errors, None)
    rhythm = calibrate_rhythm([part.peaks for part in parts])
    return BaselineFit(
        parts, config, model, members, norm, smoothing, alignment, errors, threshold, rule, rhythm,
        time.perf_counter() - started,
    )  # fmt: skip
