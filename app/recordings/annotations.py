"""Checking beats found and verdicts against reference annotations (a WFDB annotation file).

Beats are matched with wfdb's own comparator within 150 ms, the field's convention; annotated
beat types are grouped into the AAMI classes (N, S, V, F, Q) and symbols that are not beats are
left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from wfdb import processing

from app.recordings.signal import ReferenceBeats

MATCH_TOLERANCE_S = 0.15
AAMI_CLASSES: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}


def reference_beats(reference: ReferenceBeats) -> tuple[npt.NDArray[np.int64], list[str]]:
    """The annotations that are beats: their samples and AAMI classes."""
    keep = [i for i, symbol in enumerate(reference.symbols) if symbol in AAMI_CLASSES]
    classes = [AAMI_CLASSES[reference.symbols[i]] for i in keep]
    return reference.samples[keep], classes


@dataclass(frozen=True)
class ReferenceMatch:
    """The annotated beats, and which beat found each one matches (wfdb's comparator, 150 ms)."""

    samples: npt.NDArray[np.int64]
    classes: list[str]  # AAMI class of each annotated beat
    found: npt.NDArray[np.int64]  # per annotated beat: the index of its beat found, -1 for none
    n_found: int  # beats found in all

    @property
    def matched(self) -> int:
        return int(np.count_nonzero(self.found >= 0))

    @property
    def sensitivity(self) -> float | None:
        return self.matched / len(self.samples) if len(self.samples) else None

    @property
    def positive_predictivity(self) -> float | None:
        return self.matched / self.n_found if self.n_found else None


def match_reference(
    reference: ReferenceBeats, peaks: npt.NDArray[np.int64], sampling_rate: float
) -> ReferenceMatch:
    samples, classes = reference_beats(reference)
    comparator = processing.Comparitor(samples, peaks, round(MATCH_TOLERANCE_S * sampling_rate))
    comparator.compare()
    found = np.asarray(comparator.matching_sample_nums, dtype=np.int64)
    return ReferenceMatch(samples, classes, found, len(peaks))


def compare_with_reference(
    reference: ReferenceBeats, match: ReferenceMatch, verdicts: Sequence[str]
) -> dict[str, Any]:
    """Detection sensitivity and positive predictivity, and verdicts by annotated class."""
    by_class: dict[str, dict[str, int]] = {}
    for beat_class, found in zip(match.classes, match.found.tolist(), strict=True):
        counts = by_class.setdefault(beat_class, {"annotated": 0, "found": 0})
        counts["annotated"] += 1
        if found < 0:
            continue
        counts["found"] += 1
        verdict = verdicts[found]
        counts[verdict] = counts.get(verdict, 0) + 1
    return {
        "annotation_file": reference.source,
        "tolerance_s": MATCH_TOLERANCE_S,
        "annotated_beats": len(match.samples),
        "beats_found": match.n_found,
        "matched": match.matched,
        "sensitivity": match.sensitivity,
        "positive_predictivity": match.positive_predictivity,
        "verdicts_by_class": dict(sorted(by_class.items())),
    }
