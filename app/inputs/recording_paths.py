"""A recording on disk read whole, as an upload of the same files would be: for the trainer and
the evaluator, which fit and judge on whole records (`ecg-score` streams instead)."""

from __future__ import annotations

from pathlib import Path

from app.inputs.recording_files import read_uploaded_recording
from app.inputs.uploads import UploadedFile
from app.recordings.signal import Recording

WFDB_SIBLINGS = (".hea", ".dat", ".atr")


def read_recording_path(
    path: Path, sampling_rate: float | None = None, annotations: str | None = None
) -> Recording:
    """A WFDB record (its .hea; the .dat beside it, and the annotation file `annotations` names,
    e.g. "atr"), an EDF file, or a CSV of samples. Raises `BadRequest` or `OSError`."""
    if path.suffix.lower() in {".hea", ".dat", ""}:
        base = path.with_suffix("")
        names = [base.with_suffix(".hea"), base.with_suffix(".dat")]
        if annotations:
            names.append(base.with_suffix(f".{annotations}"))
        files = [UploadedFile(name.name, name.read_bytes()) for name in names]
    else:
        files = [UploadedFile(path.name, path.read_bytes())]
    return read_uploaded_recording(files, sampling_rate)
