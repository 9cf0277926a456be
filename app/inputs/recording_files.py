"""Reading an uploaded recording, each format with the library made for it: a WFDB record (`wfdb`),
an EDF/EDF+ file (`pyedflib`), a CSV of samples (`pandas`), or samples as JSON.

Every reader returns an `app.recordings.signal.Recording` or raises `BadRequest` naming the file
and what is wrong with it. The libraries read from paths, so uploads are written to a private
temporary directory first, under their own base names.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyedflib
import wfdb
from pydantic import ValidationError

from app.api.schemas import RecordingBody
from app.inputs.csv_input import is_number
from app.inputs.problems import BadRequest, Problem
from app.inputs.uploads import UploadedFile
from app.recordings.signal import ECG_LEAD, Recording, ReferenceBeats, check_sampling_rate

# Bytes per sample of the WFDB signal formats this service reads (the uncompressed ones).
WFDB_FORMAT_BYTES: dict[str, float] = {
    "8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3,
    "311": 4 / 3,
}  # fmt: skip
EDF_SUFFIXES = {".edf", ".bdf"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}


def _invalid(location: str, message: str, status: int = 422) -> BadRequest:
    return BadRequest(status, "Invalid recording", [Problem(location, message)])


def read_uploaded_recording(
    files: Sequence[UploadedFile], sampling_rate: float | None
) -> Recording:
    """A WFDB record (header, signal files, optional annotations), one EDF file or one CSV."""
    if not files:
        raise _invalid("form.files", "is required: the recording's file(s)")
    names = [_safe_name(upload.name) for upload in files]
    suffixes = {PurePath(name).suffix.lower() for name in names}
    if ".hea" in suffixes or ".dat" in suffixes:
        return read_wfdb(files)
    if len(files) != 1:
        raise _invalid(
            "form.files",
            f"{len(files)} files were sent ({', '.join(names)}); send one EDF or CSV file, or "
            "a WFDB record's header with its signal file(s)",
        )
    suffix = PurePath(names[0]).suffix.lower()
    if suffix in EDF_SUFFIXES:
        return read_edf(files[0])
    if suffix in CSV_SUFFIXES:
        return read_csv(files[0], sampling_rate)
    raise _invalid(
        f"form.files[{names[0]}]",
        "is not a recording this service reads: send a WFDB record (.hea with its .dat), "
        "an EDF/EDF+ file (.edf) or a CSV of samples (.csv)",
        status=415,
    )


def _safe_name(name: str) -> str:
    base = PurePath(name.replace("\\", "/")).name
    if not base or base in {".", ".."}:
        raise _invalid("form.files", f"{name!r} is not a usable file name")
    return base


# --- WFDB -------------------------------------------------------------------------------------


def read_wfdb(files: Sequence[UploadedFile]) -> Recording:
    by_name = {_safe_name(upload.name): upload.content for upload in files}
    headers = [name for name in by_name if name.lower().endswith(".hea")]
    if len(headers) != 1:
        found = "no header (.hea)" if not headers else f"{len(headers)} headers"
        raise _invalid(
            "form.files", f"a WFDB record needs exactly one header file; {found} was sent"
        )
    record_name = headers[0][:-4]
    with tempfile.TemporaryDirectory(prefix="ecg-wfdb-") as folder:
        for name, content in by_name.items():
            (Path(folder) / name).write_bytes(content)
        base = str(Path(folder) / record_name)
        header = _wfdb_header(base, headers[0])
        _check_signal_files(header, by_name, headers[0])
        try:
            record = wfdb.rdrecord(base, physical=True)
        except Exception as exc:  # wfdb raises bare ValueErrors and friends for bad records
            raise _invalid(f"form.files[{headers[0]}]", f"cannot be read as WFDB: {exc}") from None
        reference = _wfdb_annotations(base, record_name, by_name, header)
    signals = np.asarray(record.p_signal, dtype=np.float64)
    return Recording(
        signals=signals.reshape(len(signals), -1),
        sampling_rate=check_sampling_rate(float(record.fs), f"form.files[{headers[0]}].fs"),
        lead_names=[str(name) for name in record.sig_name],
        source_format="wfdb",
        units=[str(unit) for unit in (record.units or [])],
        reference=reference,
        name=record_name,
    )


def _wfdb_header(base: str, header_name: str) -> Any:
    try:
        header = wfdb.rdheader(base)
    except Exception as exc:
        raise _invalid(
            f"form.files[{header_name}]", f"is not a readable WFDB header: {exc}"
        ) from None
    if not header.n_sig or not header.sig_len:
        raise _invalid(f"form.files[{header_name}]", "describes no signal samples")
    return header


def _check_signal_files(header: Any, by_name: dict[str, bytes], header_name: str) -> None:
    """Each signal file named by the header was uploaded, in a known format, of the right size."""
    expected: dict[str, float] = {}
    for file_name, fmt, frames, offset in zip(
        header.file_name,
        header.fmt,
        header.samps_per_frame or [1] * header.n_sig,
        header.byte_offset or [None] * header.n_sig,
        strict=True,
    ):
        if fmt not in WFDB_FORMAT_BYTES:
            raise _invalid(
                f"form.files[{header_name}]",
                f"uses WFDB signal format {fmt!r}; this service reads formats "
                + ", ".join(WFDB_FORMAT_BYTES),
            )
        if file_name not in by_name:
            raise _invalid(
                "form.files",
                f"the header {header_name} names the signal file {file_name}, "
                "which was not uploaded",
            )
        size = expected.get(file_name, float(offset or 0))
        expected[file_name] = size + WFDB_FORMAT_BYTES[fmt] * (frames or 1) * header.sig_len
    for file_name, size in expected.items():
        actual = len(by_name[file_name])
        if actual != math.ceil(size):
            raise _invalid(
                f"form.files[{file_name}]",
                f"has {actual:,} bytes; the header {header_name} describes {header.sig_len:,} "
                f"samples per signal, which take {math.ceil(size):,} bytes",
            )


def _wfdb_annotations(
    base: str, record_name: str, by_name: dict[str, bytes], header: Any
) -> ReferenceBeats | None:
    """The first uploaded annotation file of the record (`100.atr`, `100.qrs`...), if any."""
    signal_files = set(header.file_name)
    for name in sorted(by_name):
        stem, _, extension = name.partition(".")
        if stem != record_name or extension in {"hea", ""} or name in signal_files:
            continue
        try:
            annotation = wfdb.rdann(base, extension)
        except Exception as exc:
            raise _invalid(
                f"form.files[{name}]", f"is not a readable WFDB annotation file: {exc}"
            ) from None
        return ReferenceBeats(
            np.asarray(annotation.sample, dtype=np.int64), list(annotation.symbol), name
        )
    return None


# --- EDF --------------------------------------------------------------------------------------


def read_edf(upload: UploadedFile) -> Recording:
    name = _safe_name(upload.name)
    with tempfile.TemporaryDirectory(prefix="ecg-edf-") as folder:
        path = Path(folder) / "recording.edf"
        path.write_bytes(upload.content)
        try:
            reader = pyedflib.EdfReader(str(path))
        except OSError as exc:
            raise _invalid(
                f"form.files[{name}]", f"is not a readable EDF/EDF+ file ({exc})"
            ) from None
        try:
            leads = edf_leads(reader)
            if leads is None:
                raise _invalid(f"form.files[{name}]", "holds no signal")
            columns = [reader.readSignal(i) for i in leads.channels]
            units = [reader.getPhysicalDimension(i).strip() for i in leads.channels]
        finally:
            reader.close()
    length = min(len(column) for column in columns)
    signals = np.column_stack([np.asarray(c[:length], dtype=np.float64) for c in columns])
    return Recording(
        signals=signals,
        sampling_rate=check_sampling_rate(leads.sampling_rate, f"form.files[{name}].sampling_rate"),
        lead_names=leads.names,
        source_format="edf",
        units=units,
        name=PurePath(name).stem,
    )


@dataclass(frozen=True)
class EdfLeads:
    """The signals of an EDF file read as leads: those sampled at the rate of its first ECG-like
    signal (or of its first signal), by their index in the file."""

    channels: list[int]
    names: list[str]
    sampling_rate: float


def edf_leads(reader: pyedflib.EdfReader) -> EdfLeads | None:
    """None for a file that holds no signal."""
    labels = [label.strip() for label in reader.getSignalLabels()]
    if not labels:
        return None
    rates = [float(reader.getSampleFrequency(i)) for i in range(len(labels))]
    first = next((i for i, label in enumerate(labels) if ECG_LEAD.match(label)), 0)
    channels = [i for i, rate in enumerate(rates) if rate == rates[first]]
    return EdfLeads(channels, [labels[i] for i in channels], rates[first])


# --- CSV --------------------------------------------------------------------------------------


def read_csv(upload: UploadedFile, sampling_rate: float | None) -> Recording:
    """One column per lead, one row per sample, an optional header row naming the leads."""
    name = _safe_name(upload.name)
    rate = check_sampling_rate(sampling_rate, "query.sampling_rate")
    text = upload.content.decode("utf-8-sig", errors="replace")
    first_line = text.lstrip().split("\n", 1)[0]
    has_header = any(not is_number(cell) for cell in first_line.split(","))
    try:
        table = pd.read_csv(
            io.StringIO(text),
            header=0 if has_header else None,
            dtype=str,
            na_filter=False,  # "nan" and empty cells stay text, to be named below
            engine="c",
        )
    except pd.errors.ParserError as exc:
        raise _invalid(f"form.files[{name}]", f"ragged or malformed CSV: {exc}") from None
    except pd.errors.EmptyDataError:
        raise _invalid(f"form.files[{name}]", "is empty") from None
    if table.empty:
        raise _invalid(f"form.files[{name}]", "holds no samples")
    signals = _numeric(table, name, first_line=2 if has_header else 1)
    lead_names = [str(c).strip() for c in table.columns] if has_header else None
    return Recording(
        signals=signals,
        sampling_rate=rate,
        lead_names=lead_names or [str(i) for i in range(signals.shape[1])],
        source_format="csv",
        name=PurePath(name).stem,
    )


def _numeric(table: pd.DataFrame, name: str, first_line: int) -> npt.NDArray[np.float64]:
    numbers = table.apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        cell = str(table.iat[row, column]).strip()
        shown = repr(cell[:40]) if cell else "an empty cell"
        raise _invalid(
            f"form.files[{name}]",
            f"line {row + first_line}, column {column + 1}: {shown} is not a finite number "
            f"({int(bad.sum()):,} cells are not)",
        )
    values: npt.NDArray[np.float64] = numbers.to_numpy(dtype=np.float64)
    return values


# --- JSON -------------------------------------------------------------------------------------


def read_json_recording(body: bytes) -> Recording:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid("body", f"is not valid JSON: {exc}", status=400) from None
    try:
        parsed = RecordingBody.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _invalid(f"body.{where}", first["msg"]) from None
    rate = check_sampling_rate(parsed.sampling_rate, "body.sampling_rate")
    lengths = {lead: len(samples) for lead, samples in parsed.leads.items()}
    if len(set(lengths.values())) > 1:
        raise _invalid(
            "body.leads",
            "every lead needs the same number of samples; "
            + ", ".join(f"{lead}: {n:,}" for lead, n in lengths.items()),
        )
    signals = np.column_stack([np.asarray(s, dtype=np.float64) for s in parsed.leads.values()])
    return Recording(signals, rate, list(parsed.leads), "json")
