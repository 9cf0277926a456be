"""Service configuration, read once from `ECG_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "ecg5000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECG_", frozen=True)

    model_dir: Path = Field(
        default=SHIPPED_MODEL_DIR,
        description="Model directory to serve (metadata.json + model.onnx).",
    )
    max_beats: int = Field(default=10_000, ge=1, description="Most beats accepted in one request.")
    inference_threads: int = Field(
        default=1, ge=1, description="ONNX Runtime intra-op threads per worker process."
    )
