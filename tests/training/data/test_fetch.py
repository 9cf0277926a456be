"""Fetching the public ECG5000 copy, against a local HTTP server (no test touches the internet)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from training.data.sources import CACHE_FILE, DataError, fetch_ecg5000


class LocalServer:
    """Serves one directory on 127.0.0.1 (random port) and counts the requests it answers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    served = tmp_path / "served"
    served.mkdir()
    local = LocalServer(served)
    local.thread.start()
    yield local
    local.httpd.shutdown()
    local.httpd.server_close()
    local.thread.join(timeout=5)


def leftovers(cache_dir: Path) -> list[str]:
    return sorted(path.name for path in cache_dir.iterdir()) if cache_dir.exists() else []


def test_fetch_downloads_validates_and_reuses_the_cached_copy(
    server: LocalServer, ecg_csv: Path, tmp_path: Path
) -> None:
    shutil.copy(ecg_csv, server.directory / "ecg.csv")
    cache_dir = tmp_path / "cache"
    first = fetch_ecg5000(cache_dir, url=server.url("ecg.csv"))
    assert first == cache_dir / CACHE_FILE
    assert first.read_bytes() == ecg_csv.read_bytes()
    assert len(server.requests) == 1
    second = fetch_ecg5000(cache_dir, url=server.url("ecg.csv"))
    assert second == first
    assert len(server.requests) == 1, "the cached copy must be reused without a request"
    assert leftovers(cache_dir) == [CACHE_FILE]


def test_fetch_refuses_a_served_file_that_is_not_ecg_data(
    server: LocalServer, tmp_path: Path
) -> None:
    (server.directory / "ecg.csv").write_text("<html><body>Service moved</body></html>\n")
    cache_dir = tmp_path / "cache"
    url = server.url("ecg.csv")
    with pytest.raises(DataError, match="not the ECG5000 data") as caught:
        fetch_ecg5000(cache_dir, url=url)
    assert str(caught.value).startswith(url)
    assert leftovers(cache_dir) == [], "a refused download must leave nothing in the cache"


def test_fetch_refuses_a_well_formed_file_that_is_too_small(
    server: LocalServer, tmp_path: Path, beat_files
) -> None:
    shutil.copy(beat_files.csv(n_normal=60, n_abnormal=40), server.directory / "ecg.csv")
    with pytest.raises(DataError, match="only 100 data rows; at least 4000 are needed"):
        fetch_ecg5000(tmp_path / "cache", url=server.url("ecg.csv"))


def test_fetch_refuses_the_ucr_layout(server: LocalServer, tmp_path: Path, beat_files) -> None:
    ucr = beat_files.ucr([1, 2] * 2000)
    shutil.copy(ucr, server.directory / "ecg.csv")
    with pytest.raises(DataError, match=r"not in the comma-separated ecg\.csv layout"):
        fetch_ecg5000(tmp_path / "cache", url=server.url("ecg.csv"))


def test_fetch_reports_an_http_error_in_one_line(server: LocalServer, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match="download failed: HTTP 404"):
        fetch_ecg5000(cache_dir, url=server.url("missing.csv"))
    assert leftovers(cache_dir) == []


def test_fetch_reports_an_unreachable_server(tmp_path: Path) -> None:
    # Port 9 (discard) on the loopback interface: nothing listens there, the connection is refused.
    with pytest.raises(DataError, match="download failed"):
        fetch_ecg5000(tmp_path / "cache", url="http://127.0.0.1:9/ecg.csv", timeout=5)
