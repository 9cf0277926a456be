"""Reading a recording file block by block, for `ecg-score`: a 24-hour Holter never has to fit in
memory. The same libraries as the uploads (`app.inputs.recording_files`) read the same formats:
wfdb and pyedflib read any stretch of a file, pandas reads a CSV in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyedflib
import wfdb

from app.inputs.problems import BadRequest
from app.inputs.recording_files import (
    CSV_SUFFIXES,
    EDF_SUFFIXES,
    edf_leads,
    read_csv,
)
from app.inputs.uploads import UploadedFile
from app.recordings.signal import check_sampling_rate

Block = npt.NDArray[np.float64]  # (n_samples, n_leads)


class RecordingFileError(ValueError):
    """A recording file that cannot be read: the message names the file and what is wrong."""


@dataclass(frozen=True)
class RecordingStream:
    path: Path
    source_format: str
    sampling_rate: float
    lead_names: list[str]
    n_samples: int | None  # None for CSV, known only once read

    def blocks(self, size: int) -> Iterator[Block]:
        """Consecutive blocks of `size` samples (the last one shorter)."""
        if self.source_format == "wfdb":
            yield from self._wfdb_blocks(size)
        elif self.source_format == "edf":
            yield from self._edf_blocks(size)
        else:
            yield from self._csv_blocks(size)

    def _wfdb_blocks(self, size: int) -> Iterator[Block]:
        assert self.n_samples is not None
        base = str(self.path.with_suffix(""))
        for start in range(0, self.n_samples, size):
            stop = min(self.n_samples, start + size)
            record = wfdb.rdrecord(base, sampfrom=start, sampto=stop, physical=True)
            yield np.asarray(record.p_signal, dtype=np.float64)

    def _edf_blocks(self, size: int) -> Iterator[Block]:
        assert self.n_samples is not None
        reader = pyedflib.EdfReader(str(self.path))
        try:
            leads = edf_leads(reader)
            channels = leads.channels if leads else []
            for start in range(0, self.n_samples, size):
                n = min(size, self.n_samples - start)
                yield np.column_stack([reader.readSignal(c, start, n) for c in channels])
        finally:
            reader.close()

    def _csv_blocks(self, size: int) -> Iterator[Block]:
        header = 0 if self.lead_names != [str(i) for i in range(len(self.lead_names))] else None
        line = 2 if header == 0 else 1
        for table in pd.read_csv(self.path, header=header, chunksize=size, dtype=np.float64):
            values = table.to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                row = int(np.argwhere(~np.isfinite(values))[0][0])
                raise RecordingFileError(f"{self.path}: line {line + row}: a sample is not finite")
            line += len(values)
            yield values


def open_recording(path: Path, sampling_rate: float | None) -> RecordingStream:
    """A WFDB record (its .hea), an EDF/EDF+ file, or a CSV of samples (with `sampling_rate`)."""
    suffix = path.suffix.lower()
    try:
        if suffix in {".hea", ".dat"}:
            return _open_wfdb(path.with_suffix(".hea"))
        if suffix in EDF_SUFFIXES:
            return _open_edf(path)
        if suffix in CSV_SUFFIXES:
            return _open_csv(path, sampling_rate)
    except OSError as exc:
        raise RecordingFileError(f"{path}: {exc.strerror or exc}") from None
    raise RecordingFileError(
        f"{path}: not a recording ecg-score reads: a WFDB record (.hea), EDF (.edf) or CSV (.csv)"
    )


def _open_wfdb(header_path: Path) -> RecordingStream:
    try:
        header = wfdb.rdheader(str(header_path.with_suffix("")))
    except Exception as exc:  # wfdb raises bare errors for unreadable headers
        raise RecordingFileError(f"{header_path}: not a readable WFDB header: {exc}") from None
    return RecordingStream(
        header_path,
        "wfdb",
        _rate(float(header.fs), header_path),
        [str(name) for name in header.sig_name],
        int(header.sig_len),
    )


def _open_edf(path: Path) -> RecordingStream:
    reader = pyedflib.EdfReader(str(path))
    try:
        leads = edf_leads(reader)
        if leads is None:
            raise RecordingFileError(f"{path}: holds no signal")
        n_samples = min(int(reader.getNSamples()[i]) for i in leads.channels)
    finally:
        reader.close()
    return RecordingStream(path, "edf", _rate(leads.sampling_rate, path), leads.names, n_samples)


def _open_csv(path: Path, sampling_rate: float | None) -> RecordingStream:
    """The lead names come from the first lines, read as an upload of them would be."""
    with path.open("rb") as handle:
        head = b"".join(line for _, line in zip(range(20), handle, strict=False))
    head = head.rsplit(b"\n", 1)[0] if head.count(b"\n") > 1 else head
    try:
        recording = read_csv(UploadedFile(path.name, head), sampling_rate)
    except BadRequest as exc:
        raise RecordingFileError(f"{path}: {exc}") from None
    return RecordingStream(path, "csv", recording.sampling_rate, recording.lead_names, None)


def _rate(rate: float, path: Path) -> float:
    try:
        return check_sampling_rate(rate, "sampling_rate")
    except BadRequest as exc:
        raise RecordingFileError(f"{path}: {exc}") from None
