"""Reading ECG beats from a text file, and fetching the public ECG5000 copy into a local cache.

Two layouts are understood, detected from the first data row:

- `csv`: TensorFlow's `ecg.csv`: comma-separated, 140 samples then the label (1 normal, 0 abnormal)
- `ucr`: the UCR archive's text format: whitespace-separated, the label first (class 1 normal,
  classes 2-5 abnormal, written as floats), then 140 samples

Anything else is refused with one `DataError` that says where and what is wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from app.inference.artifact import BeatWindow, Provenance, file_sha256

INPUT_LENGTH = 140
N_COLUMNS = INPUT_LENGTH + 1
MIN_ROWS = 20
MIN_DOWNLOAD_ROWS = 4000
DATA_SET_NAME = "ecg5000"
DEFAULT_URL = "http://storage.googleapis.com/download.tensorflow.org/data/ecg.csv"
CACHE_DIR_ENV = "ECG_CACHE_DIR"
CACHE_FILE = "ecg.csv"

# How ECG5000's beats were made (its README and the beats themselves): each runs from one QRS to
# the next, resampled to 140 samples and z-normalised; in the normal beats the QRS is the deepest
# trough, at sample 3.4 on average (so 3.4 / 139 of the beat), give or take about a sample: hence
# the alignment search (7 samples: the best accuracy on a strip of joined test beats, README).
ECG5000_BEAT_WINDOW = BeatWindow(
    r_peak_position=0.0245,
    qrs_polarity="negative",
    per_beat_normalisation="z-score",
    alignment_search=7.0,
)
ECG5000_PROVENANCE = Provenance(
    dataset="ECG5000 (UCR time-series archive)",
    record="BIDMC Congestive Heart Failure Database, record chf07 (about 20 hours)",
    subject="one patient with severe congestive heart failure",
    lead=None,
    sampling_rate_hz=250.0,
)


class DataError(Exception):
    """A data file (or download) that cannot be used; the message says where and why."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


@dataclass(frozen=True)
class Layout:
    name: str
    label_first: bool
    normal_labels: frozenset[float]
    abnormal_labels: frozenset[float]
    split: Callable[[str], list[str]]
    label_text: str

    def label_column(self) -> int:
        return 0 if self.label_first else N_COLUMNS - 1


CSV_LAYOUT = Layout(
    name="csv",
    label_first=False,
    normal_labels=frozenset({1.0}),
    abnormal_labels=frozenset({0.0}),
    split=lambda line: line.split(","),
    label_text="1 (normal) or 0 (abnormal) in the last column",
)
UCR_LAYOUT = Layout(
    name="ucr",
    label_first=True,
    normal_labels=frozenset({1.0}),
    abnormal_labels=frozenset({2.0, 3.0, 4.0, 5.0}),
    split=str.split,
    label_text="a class 1 (normal) to 5 in the first column",
)


@dataclass(frozen=True)
class Dataset:
    """Beats as float32 `(n, 140)` in the file's units, with their normal/abnormal labels."""

    beats: np.ndarray
    is_normal: np.ndarray
    sha256: str
    source: str
    layout: str

    @property
    def n_rows(self) -> int:
        return int(self.beats.shape[0])


def load_beats(path: Path, *, min_rows: int = MIN_ROWS, source: str | None = None) -> Dataset:
    """Read and check a data file; `source` (default: the file name) is recorded with the data."""
    where = str(path)
    rows = _data_rows(path)
    if not rows:
        raise DataError(where, f"no data rows; at least {min_rows} are needed")
    layout = _detect_layout(rows[0][1])
    table = _parse_table(where, rows, layout)
    line_numbers = [number for number, _ in rows]
    _check_finite(where, table, line_numbers)
    is_normal = _labels(where, table[:, layout.label_column()], line_numbers, layout)
    if len(rows) < min_rows:
        raise DataError(where, f"only {len(rows)} data rows; at least {min_rows} are needed")
    if not is_normal.any():
        raise DataError(where, "no normal beats; the autoencoder is trained on normal beats only")
    samples = table[:, 1:] if layout.label_first else table[:, :-1]
    return Dataset(
        beats=samples.astype(np.float32),
        is_normal=is_normal,
        sha256=file_sha256(path),
        source=source or path.name,
        layout=layout.name,
    )


def _data_rows(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based line numbers."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(str(path), "not a text file (it is not UTF-8)") from None
    lines = text.replace("\r\n", "\n").split("\n")
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def _detect_layout(first_row: str) -> Layout:
    return CSV_LAYOUT if "," in first_row else UCR_LAYOUT


def _parse_table(where: str, rows: list[tuple[int, str]], layout: Layout) -> np.ndarray:
    table = np.empty((len(rows), N_COLUMNS), dtype=np.float64)
    for index, (number, line) in enumerate(rows):
        cells = layout.split(line)
        if len(cells) != N_COLUMNS:
            raise DataError(
                where,
                f"row {number} has {len(cells)} columns; the {layout.name} layout needs "
                f"{N_COLUMNS} ({INPUT_LENGTH} samples and a label)",
            )
        try:
            table[index] = [float(cell) for cell in cells]
        except ValueError:
            column, cell = _first_non_numeric(cells)
            raise DataError(
                where, f"row {number}, column {column}: {_shorten(cell)!r} is not a number"
            ) from None
    return table


def _first_non_numeric(cells: list[str]) -> tuple[int, str]:
    for column, cell in enumerate(cells, start=1):
        try:
            float(cell)
        except ValueError:
            return column, cell
    raise AssertionError("called on a row whose cells all parse")


def _shorten(text: str, limit: int = 40) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_finite(where: str, table: np.ndarray, line_numbers: list[int]) -> None:
    bad = np.argwhere(~np.isfinite(table))
    if bad.size:
        row, column = bad[0]
        raise DataError(
            where,
            f"row {line_numbers[row]}, column {column + 1}: "
            f"non-finite value {table[row, column]!r}",
        )


def _labels(where: str, labels: np.ndarray, line_numbers: list[int], layout: Layout) -> np.ndarray:
    allowed = layout.normal_labels | layout.abnormal_labels
    unknown = ~np.isin(labels, list(allowed))
    if unknown.any():
        row = int(np.argmax(unknown))
        raise DataError(
            where,
            f"row {line_numbers[row]}: label {labels[row]:g} is not valid; the {layout.name} "
            f"layout needs {layout.label_text}",
        )
    return np.isin(labels, list(layout.normal_labels))


def default_cache_dir() -> Path:
    override = os.environ.get(CACHE_DIR_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "ecg-anomaly"


def fetch_ecg5000(
    cache_dir: Path | None = None, url: str = DEFAULT_URL, *, timeout: float = 60.0
) -> Path:
    """The cached copy of the public ECG5000 file, downloaded and checked on first use."""
    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    target = cache_dir / CACHE_FILE
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(prefix=".ecg-", suffix=".part", dir=cache_dir)
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _download(url, out, timeout)
        _check_download(partial, url)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


# MIT-BIH Arrhythmia Database record 100, PhysioNet's public copy, and its files' checksums (as
# ../shared/data/mitdb/README.md gives them): the tests' recording when no shared copy is beside.
MITDB_URL = "https://physionet.org/files/mitdb/1.0.0/"
RECORD_100_SHA256 = {
    "100.hea": "95fbdda0454fffae1a2dab1a5ac53e924ae97691c028cdd3ee82f2446b73c066",
    "100.dat": "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639",
    "100.atr": "8d8a5349fb16638ebbf649f1779d12e96d91b736b2aafe59db43719ae583d471",
}


def fetch_record_100(
    cache_dir: Path | None = None, url: str = MITDB_URL, *, timeout: float = 60.0
) -> Path:
    """The cached copy of MIT-BIH record 100 (its directory), downloaded and checked on first
    use; a file whose checksum differs is refused and not kept."""
    directory = (cache_dir if cache_dir is not None else default_cache_dir()) / "mitdb"
    directory.mkdir(parents=True, exist_ok=True)
    for name, expected in RECORD_100_SHA256.items():
        target = directory / name
        if target.is_file() and file_sha256(target) == expected:
            continue
        handle, partial_name = tempfile.mkstemp(prefix=".ecg-", suffix=".part", dir=directory)
        partial = Path(partial_name)
        try:
            with os.fdopen(handle, "wb") as out:
                _download(url + name, out, timeout)
            if file_sha256(partial) != expected:
                raise DataError(url + name, "the downloaded file's sha256 is not record 100's")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return directory


def _download(url: str, out: BinaryIO, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
    except urllib.error.HTTPError as exc:
        raise DataError(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(url, f"download failed: {reason}") from None


def _check_download(path: Path, url: str) -> None:
    try:
        dataset = load_beats(path, min_rows=MIN_DOWNLOAD_ROWS)
    except DataError as exc:
        raise DataError(url, f"the downloaded file is not the ECG5000 data: {exc.detail}") from None
    if dataset.layout != CSV_LAYOUT.name:
        raise DataError(url, "the downloaded file is not in the comma-separated ecg.csv layout")


def resolve_data_arg(arg: str, cache_dir: Path | None = None) -> Path:
    """`ecg5000` means the cached public copy (downloaded if needed); anything else is a path."""
    if arg == DATA_SET_NAME:
        return fetch_ecg5000(cache_dir)
    path = Path(arg).expanduser()
    if not path.is_file():
        raise DataError(str(path), f"no such file (give a data file, or {DATA_SET_NAME!r})")
    return path


def load_data_arg(arg: str, cache_dir: Path | None = None) -> Dataset:
    """Resolve and load; the recorded source is the download URL or the file's name."""
    path = resolve_data_arg(arg, cache_dir)
    return load_beats(path, source=DEFAULT_URL if arg == DATA_SET_NAME else path.name)
