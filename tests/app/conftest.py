"""Fixtures for the service tests: an app on the shipped model, run through its lifespan, and
real server processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfdb
from fastapi.testclient import TestClient

from app.config import Settings
from app.inference.artifact import Alignment, ModelMetadata, write_metadata
from app.inference.scoring import prepare
from app.main import create_app

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
START_TIMEOUT_S = 30
BEAT_SYMBOLS = set("NLRejAaJSVEF/fQ")  # the annotation symbols that are beats


@pytest.fixture(scope="module")
def client(shipped_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=shipped_model_dir))) as test_client:
        yield test_client


@pytest.fixture
def model_copy(shipped_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the shipped model, for tests that damage it."""
    return Path(shutil.copytree(shipped_model_dir, tmp_path / "model"))


@pytest.fixture
def unsmoothed_client(model_copy: Path) -> Iterator[TestClient]:
    """The shipped network with its smoothing taken out of metadata.json: beats reach the network
    as sent. (Smoothing averages a beat's alternating samples: none overflows the smoothed
    model.)"""
    metadata = json.loads((model_copy / "metadata.json").read_text())
    metadata["smoothing"] = None
    (model_copy / "metadata.json").write_text(json.dumps(metadata))
    with TestClient(create_app(Settings(model_dir=model_copy))) as test_client:
        yield test_client


@pytest.fixture
def aligned_model_dir(model_copy: Path) -> Path:
    """The shipped network told to align every beat to its normal example, up to 3 samples
    either way in quarter-sample steps (metadata.json is not among the checksummed files)."""
    metadata_path = model_copy / "metadata.json"
    metadata = ModelMetadata.model_validate_json(metadata_path.read_text())
    assert metadata.examples.normal is not None
    template = prepare(np.array([metadata.examples.normal]), metadata)[0]
    alignment = Alignment(max_shift=3.0, step=0.25, template=template.tolist())
    write_metadata(model_copy, metadata.model_copy(update={"alignment": alignment}))
    return model_copy


class ServerStarter:
    """Starts real server processes (`ecg-serve` unless told otherwise) on free loopback ports;
    `close()` terminates every one it started."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs = tempfile.TemporaryDirectory(prefix="ecg-serve-logs-")

    def __call__(
        self,
        model_dir: Path,
        command: list[str] | None = None,
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> Server:
        port = _free_port()
        command = command or [str(BIN_DIR / "ecg-serve")]
        env = {
            **os.environ,
            "ECG_MODEL_DIR": str(model_dir),
            "PATH": f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}",
            **(env or {}),
        }
        # the log goes to a file, not a pipe: one line per request would fill an unread pipe
        log_path = Path(self.logs.name) / f"{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.processes.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        if wait:
            server.wait_until_ready()
        return server

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        self.logs.cleanup()


@pytest.fixture
def serve() -> Iterator[ServerStarter]:
    """Start real server processes for one test."""
    starter = ServerStarter()
    yield starter
    starter.close()


@pytest.fixture(scope="module")
def serve_for_module() -> Iterator[ServerStarter]:
    """Start real server processes shared by the tests of a module."""
    starter = ServerStarter()
    yield starter
    starter.close()


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
            return json.loads(response.read())

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}: {self.stop()}")
            try:
                self.get_json("/ready")
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"server not ready within {START_TIMEOUT_S}s")

    def log(self) -> str:
        """What the server has logged so far (its standard error)."""
        return self.log_path.read_text()

    def wait_for_exit(self) -> str:
        """Wait for the server to exit by itself and return what it logged."""
        self.process.wait(timeout=START_TIMEOUT_S)
        return self.log()

    def stop(self) -> str:
        """Terminate the server (if running) and return what it logged."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=START_TIMEOUT_S)
        return self.log()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def asgi_request() -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """Call an ASGI app directly with a hand-made `receive`, to control how a body arrives;
    returns the messages it sent. Run it on a test client's loop: `client.portal.call(...)`."""

    async def request(
        app: Any,
        method: str,
        path: str,
        receive: Callable[[], Awaitable[dict[str, Any]]],
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"test"), (b"content-type", b"application/json"), *headers],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        return messages

    return request


CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Chromium's own background traffic (updates, safe browsing, metrics) would be blocked anyway;
# these keep it from trying, so what the blocked list shows is what the page asked for.
QUIET_CHROMIUM_FLAGS = (
    "--no-sandbox",  # the tests run as root in CI
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
)


@dataclass
class OfflineBrowser:
    """A headless Chromium page that can reach only 127.0.0.1: anything else is aborted and its
    URL recorded in `blocked`, as on a hospital network with no internet."""

    page: Any  # playwright.sync_api.Page
    blocked: list[str]


def chromium_executable() -> str:
    """Debian's Chromium (`apt-get install chromium`; scripts/test.sh installs it), or the one
    `ECG_CHROMIUM` names."""
    named = os.environ.get("ECG_CHROMIUM")
    found = named or next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    if not found:
        pytest.fail("Chromium not found: apt-get install chromium, or set ECG_CHROMIUM")
    return found


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), args=list(QUIET_CHROMIUM_FLAGS)
        )
        yield browser
        browser.close()


@pytest.fixture
def offline_browser(chromium: Any) -> Iterator[OfflineBrowser]:
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        url: str = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield OfflineBrowser(page, blocked)
    context.close()


@dataclass(frozen=True)
class Record100:
    directory: Path
    signals: np.ndarray  # (n, 2), mV
    lead_names: list[str]
    sampling_rate: float
    beat_samples: np.ndarray  # annotated beats only
    beat_symbols: list[str]

    def uploads(self, *names: str) -> list[tuple[str, tuple[str, bytes]]]:
        return [("files", (name, (self.directory / name).read_bytes())) for name in names]


@pytest.fixture(scope="session")
def record_100(mitdb_dir: Path) -> Record100:
    record = wfdb.rdrecord(str(mitdb_dir / "100"))
    annotation = wfdb.rdann(str(mitdb_dir / "100"), "atr")
    keep = [i for i, symbol in enumerate(annotation.symbol) if symbol in BEAT_SYMBOLS]
    return Record100(
        mitdb_dir,
        np.asarray(record.p_signal, dtype=np.float64),
        list(record.sig_name),
        float(record.fs),
        np.asarray(annotation.sample)[keep],
        [annotation.symbol[i] for i in keep],
    )


@pytest.fixture(scope="session")
def record_100_baseline(mitdb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `baseline-100`: a quick baseline fitted on record 100's first 2.5 minutes
    with `ecg-train --recording` (4 epochs; the README gives the full run's figures)."""
    from training.cli.train import main as train_main

    models = tmp_path_factory.mktemp("models")
    args = ["--recording", str(mitdb_dir / "100.hea"), "--baseline", "0:02:30"]
    quick = ["--epochs", "4", "--ensemble-size", "1", "--patience", "2", "--quiet"]
    assert train_main([*args, "--output", str(models / "baseline-100"), *quick]) == 0
    return models
