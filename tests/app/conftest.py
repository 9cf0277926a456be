"""Fixtures for the service tests: an app on the shipped model, run through its lifespan."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.fixture(scope="module")
def client(shipped_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=shipped_model_dir))) as test_client:
        yield test_client


@pytest.fixture
def model_copy(shipped_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the shipped model, for tests that damage it."""
    return Path(shutil.copytree(shipped_model_dir, tmp_path / "model"))
