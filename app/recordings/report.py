"""A recording's analysis as the documents clients get: JSON-ready dict, and CSV, one row a beat.

Shared by the API, the page and `ecg-score`, so a beat reads the same wherever it is reported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.recordings.analysis import RecordingAnalysis

BEAT_COLUMNS = [
    "index",
    "time_s",
    "rr_s",
    "heart_rate_bpm",
    "reconstruction_error",
    "anomaly_score",
    "verdict",
    "reasons",
]


def recording_document(analysis: RecordingAnalysis) -> dict[str, Any]:
    return {
        "beats": [asdict(row) for row in analysis.rows],
        "summary": analysis.summary,
        "warnings": analysis.warnings,
        "bad_stretches": [asdict(stretch) for stretch in analysis.bad_stretches],
        "annotations": analysis.comparison,
    }


def beat_cells(beat: dict[str, Any]) -> list[str]:
    """One beat's CSV cells: numbers in full precision, empty for none, reasons joined by '; '."""
    cells = []
    for column in BEAT_COLUMNS:
        value = beat[column]
        if column == "reasons":
            cells.append("; ".join(value))
        elif value is None:
            cells.append("")
        else:
            cells.append(repr(float(value)) if isinstance(value, float) else str(value))
    return cells


def beats_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BEAT_COLUMNS)
    writer.writerows(beat_cells(beat) for beat in document["beats"])
    return out.getvalue()
