"""Where the tests find the real data: ECG_DATA_DIR, else ../shared, else the downloaded copy,
else one line saying where to put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.data import DataError

from . import conftest
from .conftest import ECG5000_CSV, SHARED_DATA_DIR, WHERE_TO_PUT_THE_DATA, locate_ecg5000


def no_download() -> Path:
    raise DataError("http://example.invalid/ecg.csv", "download failed: no network")


def test_ecg_data_dir_comes_first(tmp_path: Path) -> None:
    (tmp_path / ECG5000_CSV).write_text("rows\n")
    found = locate_ecg5000({"ECG_DATA_DIR": str(tmp_path)}, no_download)
    assert found == tmp_path / ECG5000_CSV


def test_a_named_directory_without_the_data_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=f"ECG_DATA_DIR={tmp_path} holds no {ECG5000_CSV}"):
        locate_ecg5000({"ECG_DATA_DIR": str(tmp_path)}, no_download)


def test_the_downloaded_copy_is_used_when_no_directory_holds_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "REPO_ROOT", tmp_path / "clone")  # no ../shared beside it
    cached = tmp_path / "cache" / "ecg.csv"
    assert locate_ecg5000({}, lambda: cached) == cached


def test_with_no_data_anywhere_the_message_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "REPO_ROOT", tmp_path / "clone")
    with pytest.raises(LookupError) as caught:
        locate_ecg5000({}, no_download)
    message = str(caught.value)
    assert message.startswith(WHERE_TO_PUT_THE_DATA)
    assert str(SHARED_DATA_DIR) in message and "ECG_DATA_DIR" in message
    assert "\n" not in message
