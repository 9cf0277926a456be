"""Checking beats found and verdicts against reference annotations (a WFDB annotation file).

Beats are matched with wfdb's own comparator within 150 ms, the field's convention; annotated
beat types are grouped into the AAMI classes (N, S, V, F, Q) and symbols that are not beats are
left out.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def compare_with_reference(
    reference: ReferenceBeats,
    peaks: npt.NDArray[np.int64],
    sampling_rate: float,
    verdicts: Sequence[str],
) -> dict[str, Any]:
    """Detection sensitivity and positive predictivity, and verdicts by annotated class."""
    samples, classes = reference_beats(reference)
    comparator = processing.Comparitor(samples, peaks, round(MATCH_TOLERANCE_S * sampling_rate))
    comparator.compare()
    matched = comparator.matching_sample_nums
    by_class: dict[str, dict[str, int]] = {}
    for ref_index, beat_class in enumerate(classes):
        counts = by_class.setdefault(beat_class, {"annotated": 0, "found": 0})
        counts["annotated"] += 1
        found = int(matched[ref_index])
        if found < 0:
            continue
        counts["found"] += 1
        verdict = verdicts[found]
        counts[verdict] = counts.get(verdict, 0) + 1
    n_found = int(comparator.tp)
    return {
        "annotation_file": reference.source,
        "tolerance_s": MATCH_TOLERANCE_S,
        "annotated_beats": len(samples),
        "beats_found": len(peaks),
        "matched": n_found,
        "sensitivity": n_found / len(samples) if len(samples) else None,
        "positive_predictivity": n_found / len(peaks) if len(peaks) else None,
        "verdicts_by_class": dict(sorted(by_class.items())),
    }
