"""The container's start command, run on the host (no Docker engine here), and compose's wiring."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app.config import Settings
from app.inference.scoring import load_scorer

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30


def _dockerfile_cmd() -> list[str]:
    lines = (REPO_ROOT / "Dockerfile").read_text().splitlines()
    cmd_lines = [line for line in lines if line.startswith("CMD ")]
    return list(json.loads(cmd_lines[-1].removeprefix("CMD ")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, response.read()


def _wait_until_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"server not ready within {START_TIMEOUT_S}s")


@pytest.fixture(scope="module")
def served(shipped_model_dir: Path) -> Iterator[tuple[str, int]]:
    """The Dockerfile's CMD on a free loopback port, with the image's ECG_MODEL_DIR pointed here."""
    port = _free_port()
    command = _dockerfile_cmd()
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    env = {
        **os.environ,
        "ECG_MODEL_DIR": str(shipped_model_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_ready(f"http://127.0.0.1:{port}/ready", process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_container_command_serves_predictions(served: tuple[str, int]) -> None:
    base_url, _ = served
    schema = json.loads(_get(f"{base_url}/openapi.json")[1])
    content = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    request = urllib.request.Request(
        f"{base_url}/v1/predict",
        data=json.dumps(content["application/json"]["examples"]["both"]["value"]).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        verdicts = [r["verdict"] for r in json.loads(response.read())["results"]]
    assert verdicts == ["normal", "abnormal"]


def test_serving_process_maps_no_tensorflow_library(served: tuple[str, int]) -> None:
    _, pid = served
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "onnxruntime" in maps  # the check can see the runtime's own libraries
    assert "tensorflow" not in maps.lower()
    assert "keras" not in maps.lower()


def test_compose_mounts_a_loadable_model_read_only() -> None:
    service = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"]["api"]
    host_dir, container_dir, mode = service["volumes"][0].split(":")
    assert mode == "ro"
    model_in_container = Path(service["environment"]["ECG_MODEL_DIR"])
    model_on_host = REPO_ROOT / host_dir / model_in_container.relative_to(container_dir)
    assert load_scorer(model_on_host).input_length == 140
    assert "/ready" in " ".join(service["healthcheck"]["test"])


def test_compose_limits_resources_and_rotates_logs() -> None:
    service = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"]["api"]
    limits = service["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) >= 1
    assert limits["memory"].endswith("M") and int(limits["memory"][:-1]) >= 256
    options = service["logging"]["options"]
    assert service["logging"]["driver"] == "json-file"
    assert options["max-size"] and int(options["max-file"]) >= 2


def test_installed_package_carries_the_page_templates_and_static_files(tmp_path: Path) -> None:
    """The image installs the project as a wheel (not editable): the files the page serves must
    be in it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO_ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    page_files = [
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("app/web/templates", "app/web/static")
        for path in (REPO_ROOT / folder).iterdir()
    ]
    assert page_files
    assert set(page_files) <= shipped


def test_compose_gives_the_read_only_container_a_writable_tmp_for_uploads() -> None:
    """Multipart uploads over 1 MiB are spooled to /tmp: on a read-only root they need a tmpfs
    at least as large as the largest body the service accepts."""
    service = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"]["api"]
    assert service["read_only"] is True
    (tmp,) = [mount for mount in service["tmpfs"] if mount.startswith("/tmp:")]
    size = tmp.split("size=")[1]
    assert size.endswith("m") and int(size[:-1]) * 1024 * 1024 >= Settings().max_body_bytes
