"""Where the tests find the real data: ECG_DATA_DIR, else ../shared, else the downloaded copy,
else one line saying where to put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.data.sources import DataError

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


def test_record_100_comes_from_ecg_mitdb_dir_else_shared_else_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "100.hea").write_text("100 2 360 650000\n")
    assert conftest.locate_record_100({"ECG_MITDB_DIR": str(tmp_path)}, no_download) == tmp_path
    monkeypatch.setattr(conftest, "REPO_ROOT", tmp_path / "clone")  # no ../shared beside it
    assert conftest.locate_record_100({}, lambda: tmp_path / "cache") == tmp_path / "cache"
    with pytest.raises(LookupError) as caught:
        conftest.locate_record_100({}, no_download)
    assert str(caught.value).startswith(conftest.WHERE_TO_PUT_RECORD_100)


def test_record_100_is_downloaded_and_checked_against_its_checksums(
    mitdb_dir: Path, tmp_path: Path
) -> None:
    """PhysioNet's layout served from loopback: the real download path, with no internet."""
    import functools
    import http.server
    import shutil
    import threading

    from training.data.sources import fetch_record_100

    served = tmp_path / "served" / "mitdb" / "1.0.0"
    served.mkdir(parents=True)
    for name in ("100.hea", "100.dat", "100.atr"):
        shutil.copy(mitdb_dir / name, served / name)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/mitdb/1.0.0/"
    try:
        directory = fetch_record_100(tmp_path / "cache", url, timeout=10)
        assert sorted(p.name for p in directory.iterdir()) == ["100.atr", "100.dat", "100.hea"]
        (served / "100.atr").write_bytes(b"not the annotations")
        (directory / "100.atr").unlink()
        with pytest.raises(DataError, match="sha256 is not record 100's"):
            fetch_record_100(tmp_path / "cache", url, timeout=10)
        assert not (directory / "100.atr").exists()
    finally:
        server.shutdown()
