"""The recording path on a strip of labelled beats: do beats found in a recording keep the
verdicts they had as rows?

The beats are joined into one 250 Hz strip (each resampled to 0.76 to 0.9 s, seeded), then found,
cut, aligned and scored by `app.recordings.analysis`, as `POST /v1/recordings` does; each beat
found takes the label of the true beat whose R peak is nearest. No TensorFlow here: `bench.strip`
prints it for a model directory, and the leaderboard records it per split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from app.inference.scoring import OperatingPoint, Scorer
from app.recordings.analysis import analyse_recording
from app.recordings.signal import Recording

STRIP_RATE = 250


def joined_strip(beats: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strip, first sample of each beat, samples per beat)."""
    lengths = np.random.default_rng(seed).integers(190, 225, len(beats))
    pieces = [np.interp(np.arange(n) * beats.shape[1] / n, np.arange(beats.shape[1]), beat)
              for beat, n in zip(beats, lengths, strict=True)]  # fmt: skip
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate(pieces), starts, lengths


@dataclass(frozen=True)
class StripScores:
    """The beats the recording path found and scored in a strip, with their true labels."""

    strip_seconds: float
    n_found: int
    n_distinct: int  # true beats among the scored ones (two found beats may share one)
    errors: np.ndarray  # of the beats found and scored
    is_abnormal: np.ndarray  # the label of each one's nearest true beat
    analysis_seconds: float

    def accuracy(self, threshold: float) -> float:
        return float(np.mean((self.errors > threshold) == self.is_abnormal))


def score_strip(
    beats: np.ndarray, is_abnormal: np.ndarray, scorer: Scorer, point: OperatingPoint
) -> StripScores:
    strip, starts, lengths = joined_strip(beats)
    recording = Recording(strip[:, None], STRIP_RATE, ["ECG"], "json")
    started = time.perf_counter()
    analysis = analyse_recording(recording, 0, scorer, point)
    seconds = time.perf_counter() - started
    scored = [row for row in analysis.rows if row.reconstruction_error is not None]
    qrs = starts + scorer.metadata.beat_window.r_peak_position * lengths
    found = np.array([row.time_s * STRIP_RATE for row in scored])
    nearest = np.abs(found[:, None] - qrs[None, :]).argmin(axis=1)
    return StripScores(
        strip_seconds=len(strip) / STRIP_RATE,
        n_found=len(analysis.rows),
        n_distinct=len(set(nearest.tolist())),
        errors=np.array([row.reconstruction_error for row in scored]),
        is_abnormal=is_abnormal[nearest],
        analysis_seconds=seconds,
    )
