"""A continuous recording as the rest of the path sees it, whatever file it came in.

Readers (`app.inputs.recording_files`) build a `Recording`; `check_recording` refuses what no
later stage could use, each problem named with where it is. No FastAPI here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.inputs.problems import BadRequest, Problem

MIN_SAMPLING_RATE_HZ = 100.0
MAX_SAMPLING_RATE_HZ = 2000.0
MIN_BEATS = 3
# Three beats at a slow 30 beats/min: the shortest recording the beat finder can work with.
MIN_DURATION_S = 6.0
# Lead names that are ECG leads (limb, augmented, precordial, Holter and modified leads).
ECG_LEAD = re.compile(r"^(ecg|ekg|ml?ii|ml?iii|ml?i|m?avr|m?avl|m?avf|v\d|mv\d|d\d|lead)", re.I)


@dataclass(frozen=True)
class ReferenceBeats:
    """Beat annotations that came with the recording (a WFDB annotation file)."""

    samples: npt.NDArray[np.int64]
    symbols: list[str]
    source: str


@dataclass(frozen=True)
class Recording:
    """Samples by lead (float64, physical units, usually mV) at one sampling rate."""

    signals: npt.NDArray[np.float64]  # (n_samples, n_leads)
    sampling_rate: float
    lead_names: list[str]
    source_format: str  # wfdb, edf, csv, json
    units: list[str] = field(default_factory=list)
    reference: ReferenceBeats | None = None
    name: str | None = None

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_rate


def invalid_recording(location: str, message: str, status: int = 422) -> BadRequest:
    return BadRequest(status, "Invalid recording", [Problem(location, message)])


def check_sampling_rate(rate: float | None, location: str) -> float:
    if rate is None:
        raise invalid_recording(location, "is required: the recording's samples per second")
    if not np.isfinite(rate) or not MIN_SAMPLING_RATE_HZ <= rate <= MAX_SAMPLING_RATE_HZ:
        raise invalid_recording(
            location,
            f"is {rate:g} Hz; recordings from {MIN_SAMPLING_RATE_HZ:g} to "
            f"{MAX_SAMPLING_RATE_HZ:g} Hz are accepted",
        )
    return float(rate)


def check_recording(recording: Recording, max_duration_s: float) -> None:
    """Refuse a recording that is too long, too short or holds non-finite samples."""
    if recording.duration_s > max_duration_s:
        raise invalid_recording(
            "recording",
            f"lasts {recording.duration_s:,.0f} s, more than the limit of {max_duration_s:,.0f} s "
            "(ECG_MAX_RECORDING_S); score longer recordings offline with ecg-score",
            status=413,
        )
    if recording.duration_s < MIN_DURATION_S:
        raise invalid_recording(
            "recording",
            f"lasts {recording.duration_s:.2f} s; at least {MIN_DURATION_S:g} s "
            f"(enough for {MIN_BEATS} beats) is needed",
        )
    finite = np.isfinite(recording.signals)
    if not finite.all():
        sample, lead = np.argwhere(~finite)[0]
        raise invalid_recording(
            f"leads.{recording.lead_names[lead]}[{sample}]",
            f"is {recording.signals[sample, lead]}; samples must be finite numbers "
            f"({int((~finite).sum()):,} are not)",
        )


def choose_lead(recording: Recording, lead: str | None) -> int:
    """The lead to score: by name or index; by default the first that is named like an ECG lead."""
    names = recording.lead_names
    if lead is None:
        return next((i for i, name in enumerate(names) if ECG_LEAD.match(name.strip())), 0)
    if lead in names:
        return names.index(lead)
    if lead.isdigit() and int(lead) < len(names):
        return int(lead)
    raise invalid_recording(
        "query.lead",
        f"{lead!r} is not a lead of this recording; its leads are "
        + ", ".join(f"{i}: {name}" for i, name in enumerate(names)),
    )
