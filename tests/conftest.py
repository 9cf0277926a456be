"""Fixtures shared by every test: where the real data and the shipped model live."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.config import SHIPPED_MODEL_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real ECG5000 files: `ECG_DATA_DIR` (relative to the repository root), by default
    `../shared/data/ecg5000`. They are read in place, never copied into the repository."""
    path = REPO_ROOT / Path(os.environ.get("ECG_DATA_DIR", "../shared/data/ecg5000")).expanduser()
    if not (path / "ecg5000.csv").is_file():
        pytest.fail(f"ECG5000 data not found in {path}; set ECG_DATA_DIR to its directory")
    return path.resolve()


@pytest.fixture(scope="session")
def shipped_model_dir() -> Path:
    return SHIPPED_MODEL_DIR


@pytest.fixture(scope="session")
def reference_test_split(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 1,000 held-out beats of the reference protocol and whether each is abnormal."""
    from sklearn.model_selection import train_test_split

    table = np.loadtxt(data_dir / "ecg5000.csv", delimiter=",", dtype=np.float32)
    beats, labels = table[:, :-1], table[:, -1].astype(int)
    _, test_beats, _, test_labels = train_test_split(beats, labels, test_size=0.2, random_state=21)
    return test_beats, test_labels == 0


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    """MIT-BIH record 100 (100.hea, 100.dat, 100.atr): `ECG_MITDB_DIR` (relative to the
    repository root), by default `../shared/data/mitdb`. Read in place, never copied."""
    path = REPO_ROOT / Path(os.environ.get("ECG_MITDB_DIR", "../shared/data/mitdb")).expanduser()
    if not (path / "100.hea").is_file():
        pytest.fail(f"MIT-BIH record 100 not found in {path}; set ECG_MITDB_DIR to its directory")
    return path.resolve()
