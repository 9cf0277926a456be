"""A model directory that cannot be served stops `uvicorn app.main:app` with one log line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.inference.artifact import ONNX_FILE, read_metadata, write_metadata

UVICORN = [sys.executable, "-m", "uvicorn", "app.main:app"]


def _missing_directory(model_dir: Path) -> tuple[Path, str]:
    missing = model_dir / "nowhere"
    return missing, f"{missing}: model directory not found"


def _corrupt_onnx(model_dir: Path) -> tuple[Path, str]:
    with (model_dir / ONNX_FILE).open("ab") as handle:
        handle.write(b"\0")
    return model_dir, f"{model_dir / ONNX_FILE}: sha256"


def _mismatched_input_length(model_dir: Path) -> tuple[Path, str]:
    metadata = read_metadata(model_dir)
    examples = metadata.examples.model_copy(update={"normal": [0.0] * 99, "abnormal": [0.0] * 99})
    write_metadata(
        model_dir, metadata.model_copy(update={"input_length": 99, "examples": examples})
    )
    expected = "model input has 140 samples per beat, metadata.json says input_length 99"
    return model_dir, f"{model_dir / ONNX_FILE}: {expected}"


@pytest.mark.parametrize("damage", [_missing_directory, _corrupt_onnx, _mismatched_input_length])
def test_uvicorn_exits_with_one_log_line_when_the_model_cannot_be_served(
    serve: Callable[..., Any], model_copy: Path, damage: Callable[[Path], tuple[Path, str]]
) -> None:
    model_dir, expected = damage(model_copy)
    server = serve(model_dir, command=UVICORN, wait=False)

    log = server.wait_for_exit()

    assert server.process.returncode == 3  # uvicorn's exit code for a failed start-up
    assert "Traceback" not in log
    naming = [line for line in log.splitlines() if expected in line]
    assert len(naming) == 1
    assert naming[0].startswith("ERROR:    cannot load the model: /")
