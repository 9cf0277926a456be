"""Fixtures shared by every test: where the real data and the shipped model live.

The data: `ECG_DATA_DIR` when set, else `../shared/data/ecg5000`, else the public copy downloaded
and cached as `ecg-train --data ecg5000` does (`ECG_CACHE_DIR`), else the run stops with one line
saying where to put the files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

from app.config import SHIPPED_MODEL_DIR
from training.data.sources import DataError, fetch_ecg5000, fetch_record_100

REPO_ROOT = Path(__file__).resolve().parent.parent


DATA_DIR_ENV = "ECG_DATA_DIR"
SHARED_DATA_DIR = Path("../shared/data/ecg5000")  # a checkout beside this one
ECG5000_CSV = "ecg5000.csv"
UCR_TRAIN_TXT = "ECG5000_TRAIN.txt"
WHERE_TO_PUT_THE_DATA = (
    f"ECG5000 data not found: put {ECG5000_CSV} in {SHARED_DATA_DIR}/ beside this checkout, set "
    f"{DATA_DIR_ENV} to its directory, or let the tests download the public copy"
)


def data_directory(environ: Mapping[str, str]) -> Path | None:
    """The directory of the shared files: `ECG_DATA_DIR` (relative to the repository root) when
    set, else `../shared/data/ecg5000` if it holds the data; None when neither does."""
    named = environ.get(DATA_DIR_ENV)
    path = REPO_ROOT / Path(named or SHARED_DATA_DIR).expanduser()
    return path.resolve() if (path / ECG5000_CSV).is_file() else None


def locate_ecg5000(environ: Mapping[str, str], download: Callable[[], Path]) -> Path:
    """`ecg5000.csv` in `data_directory`, else the cached public copy (`ecg-train --data ecg5000`
    downloads the same one, into the same cache); `LookupError` with one line when none is
    reachable."""
    return locate(
        environ, DATA_DIR_ENV, SHARED_DATA_DIR, ECG5000_CSV, download, WHERE_TO_PUT_THE_DATA
    )


def locate(
    environ: Mapping[str, str],
    variable: str,
    shared: Path,
    file_name: str,
    download: Callable[[], Path],
    where: str,
) -> Path:
    """`file_name` in the directory `variable` names (relative to the repository root), else in
    `shared`, else what `download` fetches; a named directory without the file is an error, not a
    reason to download. `LookupError` with the one line `where` when none is reachable."""
    named = environ.get(variable)
    path = REPO_ROOT / Path(named or shared).expanduser() / file_name
    if path.is_file():
        return path.resolve()
    if named:
        raise LookupError(f"{variable}={named} holds no {file_name}")
    try:
        return download()
    except (DataError, OSError) as exc:
        raise LookupError(f"{where} (the download failed: {exc})") from None


@pytest.fixture(scope="session")
def ecg5000_csv() -> Path:
    """The real ECG5000 rows, read in place, never copied into the repository. The run stops with
    one line saying where to put them when they are nowhere to be found."""
    try:
        return locate_ecg5000(os.environ, fetch_ecg5000)
    except LookupError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def ucr_train_txt() -> Path:
    """UCR's own TRAIN file: only the shared directory has it (the public copy is ecg.csv)."""
    directory = data_directory(os.environ)
    if directory is None or not (directory / UCR_TRAIN_TXT).is_file():
        pytest.skip(f"{UCR_TRAIN_TXT} is only in the shared data directory ({DATA_DIR_ENV})")
    return directory / UCR_TRAIN_TXT


@pytest.fixture(scope="session")
def shipped_training_csv(ecg5000_csv: Path) -> Path:
    """The data the shipped model was trained on, for the tests that reproduce its figures: the
    public copy holds 4,998 of the 5,000 rows, so its reference split is not the model's."""
    from app.inference.artifact import file_sha256, read_metadata

    if file_sha256(ecg5000_csv) != read_metadata(SHIPPED_MODEL_DIR).training.data_sha256:
        pytest.skip(f"{ecg5000_csv} is not the data the shipped model was trained on")
    return ecg5000_csv


@pytest.fixture(scope="session")
def shipped_model_dir() -> Path:
    return SHIPPED_MODEL_DIR


@pytest.fixture(scope="session")
def reference_test_split(shipped_training_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 1,000 held-out beats of the reference protocol and whether each is abnormal."""
    from sklearn.model_selection import train_test_split

    table = np.loadtxt(shipped_training_csv, delimiter=",", dtype=np.float32)
    beats, labels = table[:, :-1], table[:, -1].astype(int)
    _, test_beats, _, test_labels = train_test_split(beats, labels, test_size=0.2, random_state=21)
    return test_beats, test_labels == 0


MITDB_DIR_ENV = "ECG_MITDB_DIR"
SHARED_MITDB_DIR = Path("../shared/data/mitdb")
WHERE_TO_PUT_RECORD_100 = (
    f"MIT-BIH record 100 not found: put 100.hea, 100.dat and 100.atr in {SHARED_MITDB_DIR}/ "
    f"beside this checkout, set {MITDB_DIR_ENV} to their directory, or let the tests download "
    "PhysioNet's public copy"
)


def locate_record_100(environ: Mapping[str, str], download: Callable[[], Path]) -> Path:
    """The directory of record 100: `ECG_MITDB_DIR` when set, else `../shared/data/mitdb`, else
    PhysioNet's copy downloaded into the cache (`download` gives its directory)."""
    header = locate(
        environ,
        MITDB_DIR_ENV,
        SHARED_MITDB_DIR,
        "100.hea",
        lambda: download() / "100.hea",
        WHERE_TO_PUT_RECORD_100,
    )
    return header.parent


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    """MIT-BIH record 100 (100.hea, 100.dat, 100.atr), read in place, never copied into the
    repository; the run stops with one line saying where to put it when it is nowhere."""
    try:
        return locate_record_100(os.environ, fetch_record_100)
    except LookupError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
